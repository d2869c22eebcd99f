"""Crystal properties as fit targets (``[[properties]]``): relaxed lattice constant, energy per atom,
cohesive energy, bulk modulus and cubic elastic constants, per individual of a population.

Fixed geometry, as the phonon targets at the relaxed lattice (:mod:`gafit.phonon_target`): for each
structure the cells are built and tabulated once: the start cell scaled by each of SCALES, and at each
of ELASTIC_SCALES the cell strained by ±STRAIN in Voigt components 1 and 4 and
the cell with each atom but the last displaced by ±DISPLACEMENT along x, y and z. One batched
evaluation of those cells gives every individual's pressure, energy, stresses and forces at every
scale; from them:

- its own lattice scale s* is the zero of the pressure p(s) (cubic Lagrange interpolation through the
  four nearest scales, on the bracket of lowest energy), a = s* a_start;
- E (eV/atom, with the E0 offsets) is E(s) interpolated at s*; ``E_coh`` (eV/atom, positive when
  bound) is the isolated atoms' energy (the E0 offsets) minus E;
- B = -V dp/dV = -(s/3) dp/ds at s* (GPa);
- the clamped-ion elastic constants at each scale are central stress differences; the relaxed-ion
  ones subtract the internal relaxation Λᵀ K⁻¹ Λ / V, with Λ = dF/dε (forces of the strained cells)
  and K the Γ force constants (displaced cells; the last atom held, which removes the translations):
  exact for harmonic internal relaxation, as diamond's C44 needs. Both are interpolated to s*
  (cubic Lagrange on ELASTIC_SCALES).

Only cubic crystals (the cell's axes the cubic axes): a lattice name of :data:`gafit.crystals.LATTICES`
whose ASE cell is cubic-aligned, or a structure file (its conventional cell). A value whose s* falls
outside SCALES is taken at the nearest end of the range and flagged ``in_range = false``.

Residual of a target: sqrt(weight) x (value - reference) / tolerance; it passes when
|value - reference| <= tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.units import GPa

from gafit.crystals import LATTICES as LATTICE_NAMES
from gafit.crystals import read_crystal
from gafit.forms import Prediction
from gafit.potential import Potential, PotentialTables
from gafit.properties import _is_cubic, _voigt_strain, conventional_cell, symmetry
from gafit.structures import GafitInputError, ReferenceSet, Structure, scaled_cell

#: scale factors of the start cell tabulated (±5 %, steps of 1 %)
SCALES = np.linspace(0.95, 1.05, 11)
#: scale factors the strained and displaced cells are tabulated at (0.96, 0.99, 1.02, 1.05: the elastic
#: constants vary smoothly with the scale, and these cells are most of the cost)
ELASTIC_SCALES = SCALES[1::3]
#: strain of the elastic cells (central differences): smaller than gafit.properties' finite STRAIN
#: (0.005), whose O(strain²) error is 0.3 % of Tersoff Si's C44 and 1 % of its relaxed-ion C44
STRAIN = 0.001
#: displacement of the force-constant cells, Å (central differences)
DISPLACEMENT = 0.001
#: Voigt strains tabulated (0-based): ε1 gives C11 and C12, ε4 gives C44
STRAINS = (0, 3)
#: property -> unit, description
QUANTITIES: dict[str, tuple[str, str]] = {
    "a": ("Å", "relaxed cubic lattice constant"),
    "E": ("eV/atom", "energy per atom at a, with the E0 offsets"),
    "E_coh": ("eV/atom", "cohesive energy at a: isolated atoms (E0) minus E, positive when bound"),
    "B": ("GPa", "bulk modulus at a, -V dp/dV"),
    "C11": ("GPa", "relaxed-ion, at a"),
    "C12": ("GPa", "relaxed-ion, at a"),
    "C44": ("GPa", "relaxed-ion (internal coordinates relaxed), at a"),
    "C44_unrelaxed": ("GPa", "clamped-ion (atoms strained homogeneously), at a"),
}


@dataclass
class PropertyTargetConfig:
    """One ``[[properties]]`` entry: a property of a structure with its reference value."""

    property: str  # a key of QUANTITIES
    reference: float  # in the unit of QUANTITIES
    tolerance: float  # same unit; the target passes within it
    # a lattice name of gafit.crystals.LATTICES (with species, and a start lattice constant a) or a
    # structure file
    structure: str
    species: list[str] | None = None
    a: float | None = None  # Å, start lattice constant of a lattice name
    weight: float = 1.0
    citation: str = ""

    def structure_key(self) -> tuple:
        return (self.structure, tuple(self.species or ()), self.a)


def read_property_structure(config: PropertyTargetConfig) -> tuple[Atoms, float]:
    """The cell the properties are computed on (cubic axes along x, y, z) and its start conventional
    lattice constant (Å)."""
    where = f"[[properties]] {config.property}: structure"
    is_name = config.structure.partition(":")[0].lower() in LATTICE_NAMES and not Path(
        config.structure).is_file()
    atoms = read_crystal(config.structure, config.species, config.a, where)
    if not _is_cubic(atoms):
        sg, n = symmetry(atoms)
        raise GafitInputError(f"{where} {config.structure}: property targets need a cubic crystal; "
                              f"this one is {sg} ({n})")
    if free_coordinates(atoms):
        raise GafitInputError(f"{where} {config.structure}: its atoms have coordinates the symmetry "
                              "does not fix (a scaled cell would need relaxing); property targets "
                              "take crystals whose atoms sit on fixed sites (diamond, fcc, rocksalt, "
                              "...)")
    conv = conventional_cell(atoms)
    a0 = float(np.linalg.norm(conv.cell[0]))
    if not (is_name and np.allclose(conv.cell, a0 * np.eye(3), atol=1e-6 * a0)
            and np.allclose(_cubic_axes_cell(atoms, a0), np.array(atoms.cell), atol=1e-6 * a0)):
        atoms = conv  # a file, or a name whose ASE cell is not on the cubic axes
    return atoms, a0


def free_coordinates(atoms: Atoms, symprec: float = 1e-3) -> bool:
    """Whether some atom of ``atoms`` has a position its space group leaves free (a displacement
    pattern, other than a translation, that every symmetry operation keeps)."""
    import warnings

    import spglib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ds = spglib.get_symmetry_dataset((np.array(atoms.cell), atoms.get_scaled_positions(),
                                          atoms.numbers), symprec=symprec)
    if ds is None:
        return True
    lat = np.array(atoms.cell).T  # columns: cell vectors
    frac = atoms.get_scaled_positions()
    d = np.random.default_rng(0).standard_normal((len(atoms), 3))
    sym = np.zeros_like(d)
    for rot, trans in zip(ds.rotations, ds.translations, strict=True):
        moved = frac @ rot.T + trans  # where each atom goes
        diff = moved[:, None, :] - frac[None, :, :]
        perm = np.argmin(np.abs(diff - np.round(diff)).sum(axis=2), axis=1)
        sym[perm] += d @ (lat @ rot @ np.linalg.inv(lat)).T
    sym = sym / len(ds.rotations)
    sym -= sym.mean(axis=0)
    return bool(np.abs(sym).max() > 1e-8)


def _cubic_axes_cell(atoms: Atoms, a0: float) -> np.ndarray:
    """``atoms.cell`` with its vectors written in units of a0 rounded to quarters: equal to the cell
    when the cell vectors are simple combinations of the cubic axes (ASE's primitive cells)."""
    return np.round(np.array(atoms.cell) / a0 * 4) / 4 * a0


#: cubic through t = 0, 1, 2, 3: coefficients (in powers of t) = _VINV @ values
_VINV = np.linalg.inv(np.vander(np.arange(4.0), 4, increasing=True))


def _lagrange(s: np.ndarray, grid: np.ndarray = SCALES) -> tuple[np.ndarray, np.ndarray]:
    """Cubic Lagrange weights (B, n_grid) and their s-derivatives at s (B,) on the uniform ``grid``,
    through the four nodes around s (the first or last four near the ends)."""
    h = grid[1] - grid[0]
    j0 = np.clip(np.floor((s - grid[0]) / h).astype(int) - 1, 0, len(grid) - 4)
    t = (s - grid[j0]) / h
    one = np.ones_like(t)
    w = np.stack([one, t, t * t, t**3], axis=1) @ _VINV  # (B, 4)
    dw = np.stack([0 * t, one, 2 * t, 3 * t * t], axis=1) @ _VINV / h
    full, dfull = np.zeros((len(s), len(grid))), np.zeros((len(s), len(grid)))
    rows = np.arange(len(s))[:, None]
    cols = j0[:, None] + np.arange(4)
    full[rows, cols] = w
    dfull[rows, cols] = dw
    return full, dfull


def cell_pressure(pred: Prediction, tables: PotentialTables) -> np.ndarray:
    """Pressure (B, n_cells) eV/Å³ of each tabulated cell, from a prediction's virials."""
    return -(pred.virial[:, :, :3].mean(axis=2) / tables.volume_s)


def zero_pressure_scale(p: np.ndarray, e: np.ndarray, grid: np.ndarray = SCALES
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Each individual's zero-pressure scale (B,) and whether it lies inside ``grid`` (B,), from its
    pressures p and energies e (B, n_grid) at the uniform scale factors ``grid``: on the bracket
    p_k > 0 >= p_k+1 of lowest energy (safeguarded Newton on the cubic interpolant through four
    nodes); without one, the end of ``grid`` the pressure points to. Zero pressure, not the energy
    minimum: a pair term cut off without a shift puts steps into E(s) that no pressure sees."""
    b, n = p.shape
    bracket = (p[:, :-1] > 0) & (p[:, 1:] <= 0)  # (B, n - 1)
    score = np.where(bracket, np.minimum(e[:, :-1], e[:, 1:]), np.inf)
    k = np.argmin(np.nan_to_num(score, nan=np.inf), axis=1)
    found = bracket[np.arange(b), k]
    # no bracket: pressure positive everywhere -> largest scale, else smallest
    k = np.where(found, k, np.where(np.nan_to_num(p[:, -1]) > 0, n - 2, 0))
    j0 = np.clip(k - 1, 0, n - 4)
    rows = np.arange(b)[:, None]
    c = p[rows, j0[:, None] + np.arange(4)] @ _VINV.T  # (B, 4): p = c0 + c1 t + c2 t² + c3 t³
    lo = (k - j0).astype(float)  # the bracket in t: p(lo) > 0 >= p(lo + 1)
    hi = lo + 1.0
    t = lo + 0.5
    for _ in range(30):  # Newton, kept inside the bracket (bisection where it would leave)
        pt = c[:, 0] + t * (c[:, 1] + t * (c[:, 2] + t * c[:, 3]))
        lo, hi = np.where(pt > 0, t, lo), np.where(pt > 0, hi, t)
        dp = c[:, 1] + t * (2 * c[:, 2] + 3 * t * c[:, 3])
        step = t - pt / np.where(dp != 0, dp, np.nan)
        t = np.where((step > lo) & (step < hi), step, 0.5 * (lo + hi))
    edge = np.where(np.nan_to_num(p[:, -1]) > 0, grid[-1], grid[0])
    s = np.where(found, grid[j0] + (grid[1] - grid[0]) * t, edge)
    return s, found


@dataclass
class PropertyCell:
    """One structure's tabulated cells (at every one of SCALES) and the values computed from them."""

    atoms: Atoms
    a0: float  # Å, start conventional lattice constant
    elastic: bool  # strained and displaced cells tabulated
    tables: object = None  # the cell at each of SCALES
    elastic_tables: object = None  # at each of ELASTIC_SCALES: the cell, strained, displaced
    n_cells: int = 0  # elastic cells per scale
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0))  # atoms per species of the cell

    @classmethod
    def build(cls, potential: Potential, atoms: Atoms, a0: float, elastic: bool,
              where: str) -> PropertyCell:
        missing = sorted(set(atoms.get_chemical_symbols()) - set(potential.species))
        if missing:
            raise GafitInputError(f"{where}: species {missing} are not in the potential's species "
                                  f"{potential.species}")
        cell = cls(atoms, a0, elastic)
        cell.tables = potential.build_tables(ReferenceSet(
            [Structure(scaled_cell(atoms, s)) for s in SCALES], "property cells"))
        if elastic:
            images = [img for s in ELASTIC_SCALES for img in cell._images(scaled_cell(atoms, s))]
            cell.n_cells = len(images) // len(ELASTIC_SCALES)
            cell.elastic_tables = potential.build_tables(ReferenceSet(
                [Structure(a) for a in images], "strained property cells"))
        symbols = atoms.get_chemical_symbols()
        cell.counts = np.array([symbols.count(sp) for sp in potential.species], float)
        return cell

    def _images(self, base: Atoms) -> list[Atoms]:
        """The ±STRAIN strained copies of ``base`` in STRAINS, then its copies with atom i < N - 1
        displaced by ±DISPLACEMENT along x, y, z."""
        out = []
        for j in STRAINS:
            for sign in (1.0, -1.0):
                img = base.copy()
                img.set_cell(np.array(base.cell) @ (np.eye(3) + _voigt_strain(j, sign * STRAIN)).T,
                             scale_atoms=True)
                out.append(img)
        for i in range(len(base) - 1):
            for c in range(3):
                for sign in (1.0, -1.0):
                    img = base.copy()
                    img.positions[i, c] += sign * DISPLACEMENT
                    out.append(img)
        return out

    def values(self, potential: Potential, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Every quantity of QUANTITIES (those needing the elastic cells only when tabulated) and
        ``s`` (the relaxed scale) and ``in_range``, each (B,), for full vectors theta (B, n)."""
        theta = np.atleast_2d(theta)
        b, nat = len(theta), len(self.atoms)
        with np.errstate(all="ignore"):
            pred = potential.evaluate(theta, self.tables)
            e = pred.energy  # (B, n_scales) eV
            p = cell_pressure(pred, self.tables)  # (B, n_scales) eV/Å³
            s, in_range = self._relaxed_scale(p, e)
            w, dw = _lagrange(s)
            out = {"s": s, "in_range": in_range, "a": s * self.a0}
            out["E"] = np.einsum("bk,bk->b", w, e) / nat
            e0 = theta[:, potential.e0_slice] @ self.counts / nat
            out["E_coh"] = e0 - out["E"]
            out["B"] = -(s / 3) * np.einsum("bk,bk->b", dw, p) / GPa
            if self.elastic:
                n_s, n_c = len(ELASTIC_SCALES), self.n_cells
                pe = potential.evaluate(theta, self.elastic_tables)
                vol = self.elastic_tables.volume_s.reshape(n_s, n_c)
                stress = pe.virial.reshape(b, n_s, n_c, 6) / vol[None, :, :, None]  # ASE sign
                # hydrostatic force response at ELASTIC_SCALES: s dF/ds of the scaled cells
                f_s = pred.forces.reshape(b, len(SCALES), nat * 3)
                ds = _lagrange(ELASTIC_SCALES, SCALES)[1]  # (n_s, n_scales)
                lam_h = ELASTIC_SCALES[None, :, None] * np.einsum("ek,bkm->bem", ds, f_s)
                c = self._elastic(pe.forces.reshape(b, n_s, n_c, nat, 3), stress,
                                  lam_h.reshape(b, n_s, nat, 3)[:, :, :-1].reshape(b, n_s, -1),
                                  self.atoms.get_volume() * ELASTIC_SCALES**3)
                we = _lagrange(s, ELASTIC_SCALES)[0]
                for key, ck in c.items():
                    out[key] = np.einsum("bk,bk->b", we, ck) / GPa
        return out

    @staticmethod
    def _relaxed_scale(p: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:func:`zero_pressure_scale` on SCALES."""
        return zero_pressure_scale(p, e, SCALES)

    def _elastic(self, forces: np.ndarray, stress: np.ndarray, lam_h: np.ndarray,
                 volume: np.ndarray) -> dict[str, np.ndarray]:
        """C11, C12, C44 (relaxed-ion) and C44_unrelaxed (B, n_s) eV/Å³ per scale, from the elastic
        cells' forces (B, n_s, n_cells, N, 3) and stresses (B, n_s, n_cells, 6), the hydrostatic force
        response lam_h = dF/dε_hydrostatic (B, n_s, 3N - 3) and the unstrained volumes (n_s,) Å³.

        The relaxation of C12 needs Λ2: by cubic symmetry Λ1ᵀK⁻¹Λ2 = Λ1ᵀK⁻¹Λ3, and Λ1 + Λ2 + Λ3 =
        lam_h, so it is (Λ1ᵀK⁻¹lam_h - Λ1ᵀK⁻¹Λ1) / 2 without strained cells of its own."""
        n_e = len(STRAINS)
        sp, sm = stress[:, :, 0:2 * n_e:2], stress[:, :, 1:2 * n_e:2]  # (B, n_s, strain, comp)
        ds = (sp - sm) / (2 * STRAIN)  # [strain j, component i] = dσ_i/dε_j
        out = {"C11": ds[:, :, 0, 0], "C12": ds[:, :, 0, 1], "C44": ds[:, :, 1, 3],
               "C44_unrelaxed": ds[:, :, 1, 3]}
        m = 3 * (len(self.atoms) - 1)
        if m == 0:
            return out
        fp = forces[:, :, 0:2 * n_e:2, :-1].reshape(*forces.shape[:2], n_e, m)
        fm = forces[:, :, 1:2 * n_e:2, :-1].reshape(*forces.shape[:2], n_e, m)
        lam = (fp - fm) / (2 * STRAIN)  # (B, n_s, strain, m): dF/dε_j
        first = 2 * n_e
        dp = forces[:, :, first::2, :-1].reshape(*forces.shape[:2], m, m)  # [displacement, force]
        dm = forces[:, :, first + 1::2, :-1].reshape(*forces.shape[:2], m, m)
        k = -(dp - dm) / (2 * DISPLACEMENT)
        k = 0.5 * (k + np.swapaxes(k, -1, -2))  # (B, n_s, m, m) eV/Å²
        rhs = np.concatenate([lam, lam_h[:, :, None]], axis=2)  # ε1, ε4, hydrostatic
        x = np.linalg.solve(k, np.swapaxes(rhs, -1, -2))  # K⁻¹ [Λ1 Λ4 Λh]: (B, n_s, m, 3)
        r = np.einsum("bsjm,bsmi->bsji", lam, x) / volume[None, :, None, None]  # (B, n_s, 2, 3)
        out["C11"] = out["C11"] - r[:, :, 0, 0]
        out["C12"] = out["C12"] - 0.5 * (r[:, :, 0, 2] - r[:, :, 0, 0])
        out["C44"] = out["C44"] - r[:, :, 1, 1]
        return out


@dataclass
class PropertyTargets:
    """All ``[[properties]]`` targets of a fit; each structure is tabulated once."""

    configs: list[PropertyTargetConfig]
    potential: Potential
    cells: list[PropertyCell]
    cell_of: list[int]  # per target: index into cells

    @classmethod
    def build(cls, potential: Potential, configs: list[PropertyTargetConfig]) -> PropertyTargets:
        keys: dict[tuple, int] = {}
        groups: list[list[PropertyTargetConfig]] = []
        cell_of = []
        for c in configs:
            k = keys.setdefault(c.structure_key(), len(keys))
            if k == len(groups):
                groups.append([])
            groups[k].append(c)
            cell_of.append(k)
        cells = []
        for group in groups:
            atoms, a0 = read_property_structure(group[0])
            elastic = any(c.property.startswith("C") for c in group)
            cells.append(PropertyCell.build(potential, atoms, a0, elastic,
                                            f"[[properties]] structure {group[0].structure}"))
        return cls(configs, potential, cells, cell_of)

    def values(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values (B, n_targets) in the units of QUANTITIES and whether each relaxed scale lies in
        SCALES (B, n_targets), for full vectors theta (B, n)."""
        per_cell = [cell.values(self.potential, theta) for cell in self.cells]
        vals = np.stack([per_cell[k][c.property] for c, k in zip(self.configs, self.cell_of,
                                                                  strict=True)], axis=1)
        ok = np.stack([per_cell[k]["in_range"] for k in self.cell_of], axis=1)
        return vals, ok

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        """sqrt(weight) (value - reference) / tolerance, (B, n_targets)."""
        vals, _ = self.values(theta)
        ref = np.array([c.reference for c in self.configs])
        tol = np.array([c.tolerance for c in self.configs])
        w = np.array([c.weight for c in self.configs])
        return np.sqrt(w) * (vals - ref) / tol

    def table(self, theta: np.ndarray) -> list[dict]:
        """Per target: structure, property, unit, value, reference, tolerance, weight, citation,
        pass (|value - reference| <= tolerance) and in_range, for one full vector theta."""
        vals, ok = self.values(np.atleast_2d(theta))
        out = []
        for c, v, inside in zip(self.configs, vals[0], ok[0], strict=True):
            out.append({"structure": c.structure, "species": list(c.species or []),
                        "property": c.property, "unit": QUANTITIES[c.property][0],
                        "value": float(v), "reference": c.reference, "tolerance": c.tolerance,
                        "weight": c.weight, "citation": c.citation,
                        "pass": bool(abs(v - c.reference) <= c.tolerance), "in_range": bool(inside)})
        return out


def format_table(rows: list[dict]) -> str:
    """The property targets of a fit summary as text lines."""
    lines = ["property targets:"]
    for r in rows:
        flag = "pass" if r["pass"] else "FAIL"
        note = "" if r["in_range"] else " (relaxed lattice outside the tabulated ±5 %)"
        lines.append(f"  {r['structure']} {r['property']:<13} {r['value']:12.5g} {r['unit']:<8} "
                     f"reference {r['reference']:.5g} ± {r['tolerance']:.3g}  {flag}{note}")
    return "\n".join(lines)
