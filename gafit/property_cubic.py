"""The cubic crystals of the property targets (:mod:`gafit.property_target`): their cells tabulated
once, and from them the relaxed lattice constant, energy per atom, cohesive energy, bulk modulus and
cubic elastic constants, per individual of a population.

Fixed geometry, as the phonon targets at the relaxed lattice (:mod:`gafit.phonons.target`): for each
structure the cells are built and tabulated once: the start cell scaled by each of SCALES, and at each
of ELASTIC_SCALES the cell strained by ±STRAIN in Voigt components 1 and 4 and
the cell with each atom but the last displaced by ±DISPLACEMENT along x, y and z; of these only
the ones the crystal's symmetry does not map onto others are tabulated (:class:`Unfold`: for diamond
±ε1, +ε4 and one displacement). One batched evaluation of those cells gives every individual's
pressure, energy, stresses and forces at every scale; from them:

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

Here cubic crystals (the cell's axes the cubic axes): a lattice name of :data:`gafit.crystals.LATTICES`
whose ASE cell is cubic-aligned, or a structure file (its conventional cell). A value whose s* falls
outside SCALES is taken at the nearest end of the range and flagged ``in_range = false``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.units import GPa

from gafit.forms import Prediction
from gafit.forms.jit import njit
from gafit.potential import Potential, PotentialTables
from gafit.properties import _voigt_strain
from gafit.structures import ReferenceSet, Structure, scaled_cell

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
def symmetry_operations(atoms: Atoms, symprec: float = 1e-3) -> list[tuple[np.ndarray, np.ndarray]]:
    """The space group operations of ``atoms`` as (R, perm): the Cartesian rotation (3, 3) and the
    atom each atom goes to (N,); empty when spglib finds none."""
    import warnings

    import spglib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ds = spglib.get_symmetry_dataset((np.array(atoms.cell), atoms.get_scaled_positions(),
                                          atoms.numbers), symprec=symprec)
    if ds is None:
        return []
    lat = np.array(atoms.cell).T  # columns: cell vectors
    frac = atoms.get_scaled_positions()
    out = []
    for rot, trans in zip(ds.rotations, ds.translations, strict=True):
        moved = frac @ rot.T + trans  # where each atom goes
        diff = moved[:, None, :] - frac[None, :, :]
        out.append((lat @ rot @ np.linalg.inv(lat),
                    np.argmin(np.abs(diff - np.round(diff)).sum(axis=2), axis=1)))
    return out


def free_coordinates(atoms: Atoms, symprec: float = 1e-3) -> bool:
    """Whether some atom of ``atoms`` has a position its space group leaves free (a displacement
    pattern, other than a translation, that every symmetry operation keeps)."""
    ops = symmetry_operations(atoms, symprec)
    if not ops:
        return True
    d = np.random.default_rng(0).standard_normal((len(atoms), 3))
    sym = np.zeros_like(d)
    for rot, perm in ops:
        sym[perm] += d @ rot.T
    sym = sym / len(ops)
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


def _voigt_rotation(rot: np.ndarray) -> np.ndarray:
    """(6, 6) map of a stress in Voigt order (xx yy zz yz xz xy, tensor components) under the
    Cartesian rotation ``rot``: sigma' = rot sigma rotᵀ."""
    pairs = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
    out = np.zeros((6, 6))
    for k, (a, b) in enumerate(pairs):
        t = np.zeros((3, 3))
        t[a, b] = t[b, a] = 1.0
        t = rot @ t @ rot.T
        out[:, k] = [t[i, j] for i, j in pairs]
    return out


@dataclass
class Unfold:
    """Every elastic cell (in the order of PropertyCell._patterns) as a symmetry image of a
    tabulated one: its forces are R @ the tabulated cell's, atom j moved to perm[j], its stress
    R sigma Rᵀ. Exact (to rounding) for a crystal with that symmetry, so the central differences
    keep their O(h²) accuracy: a -ε4 shear is a +ε4 one rotated about x, a displacement along y
    one along x rotated about [111]. Both maps are linear: one matrix product each."""

    tabulated: list[int]  # indices of the patterns that are tabulated
    stress_map: np.ndarray  # (n_patterns * 6, n_tabulated * 6)
    force_map: np.ndarray  # (n_patterns * 3N, n_tabulated * 3N)

    def apply(self, stress: np.ndarray, forces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stresses (..., n_patterns, 6) and forces (..., n_patterns, N, 3) of every pattern from
        those of the tabulated cells (..., n_tabulated, 6) and (..., n_tabulated, N, 3)."""
        lead, nat = stress.shape[:-2], forces.shape[-2]
        s = stress.reshape(*lead, -1) @ self.stress_map.T
        f = forces.reshape(*lead, -1) @ self.force_map.T
        return s.reshape(*lead, -1, 6), f.reshape(*lead, -1, nat, 3)


def _image_of(patterns: list[tuple[np.ndarray, np.ndarray]], tabulated: list[int],
              ops: list[tuple[np.ndarray, np.ndarray]], strain: np.ndarray, u: np.ndarray,
              tol: float) -> tuple[int, np.ndarray, np.ndarray] | None:
    """(index into tabulated, R, perm) of an operation that maps a tabulated pattern onto
    (strain, u), or None."""
    for a, k in enumerate(tabulated):
        strain_a, u_a = patterns[k]
        for rot, perm in ops:
            moved = np.zeros_like(u_a)
            moved[perm] = u_a @ rot.T
            if (np.abs(rot @ strain_a @ rot.T - strain).max() < tol
                    and np.abs(moved - u).max() < tol):
                return a, rot, perm
    return None


def unfold_by_symmetry(patterns: list[tuple[np.ndarray, np.ndarray]],
                       ops: list[tuple[np.ndarray, np.ndarray]], tol: float = 1e-9) -> Unfold:
    """Which of ``patterns`` (strain (3, 3), displacements (N, 3)) to tabulate and how the others
    follow: a pattern is an image of a tabulated one under an operation (R, perm) of ``ops`` when
    R E Rᵀ is its strain and R u_j its displacement of atom perm[j]; the first pattern that is no
    image is tabulated. Without ``ops``, every pattern is tabulated."""
    nat = len(patterns[0][1])
    tabulated: list[int] = []
    images = []  # per pattern: (index into tabulated, R, perm)
    for strain, u in patterns:
        found = _image_of(patterns, tabulated, ops, strain, u, tol)
        if found is None:
            found = (len(tabulated), np.eye(3), np.arange(nat))
            tabulated.append(len(images))
        images.append(found)
    n_v, n_t = len(patterns), len(tabulated)
    stress_map = np.zeros((n_v, 6, n_t, 6))
    force_map = np.zeros((n_v, nat, 3, n_t, nat, 3))
    for v, (a, rot, perm) in enumerate(images):
        stress_map[v, :, a, :] = _voigt_rotation(rot)
        force_map[v, perm, :, a, np.arange(nat), :] = rot  # F_v[perm[j]] = R F_a[j]
    return Unfold(tabulated, stress_map.reshape(n_v * 6, n_t * 6),
                  force_map.reshape(n_v * nat * 3, n_t * nat * 3))


#: s d/ds at each of ELASTIC_SCALES from values at SCALES (n_s, n_scales): the hydrostatic strain
#: derivative of the scaled cells' forces
_HYDROSTATIC = ELASTIC_SCALES[:, None] * _lagrange(ELASTIC_SCALES, SCALES)[1]


def _split(pred: Prediction, n: int, n_f: int) -> tuple[Prediction, Prediction]:
    """A prediction of a set cut after its first n structures (their n_f force components)."""
    return (Prediction(pred.energy[:, :n], pred.forces[:, :n_f], pred.virial[:, :n]),
            Prediction(pred.energy[:, n:], pred.forces[:, n_f:], pred.virial[:, n:]))


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
    found, j0, t, _ = _zero_pressure_root(p, e)
    edge = np.where(np.nan_to_num(p[:, -1]) > 0, grid[-1], grid[0])
    s = np.where(found, grid[j0] + (grid[1] - grid[0]) * t, edge)
    return s, found


def zero_pressure_slope(p: np.ndarray, e: np.ndarray, dp: np.ndarray, grid: np.ndarray = SCALES
                        ) -> tuple[float, np.ndarray]:
    """:func:`zero_pressure_scale` of ONE vector, pressures p and energies e (n_grid,) at ``grid``,
    and its derivative (n_x,) from dp = dp/dx (n_x, n_grid): minus the cubic's slope in x over its
    slope in s at the root (implicit function); 0 where the scale is an end of ``grid``."""
    found, j0, t, c = _zero_pressure_root(p[None], e[None])
    if not found[0]:
        return float(grid[-1] if np.nan_to_num(p[-1]) > 0 else grid[0]), np.zeros(len(dp))
    h = grid[1] - grid[0]
    powers = t[0] ** np.arange(4.0)  # (1, t, t², t³)
    dp_dx = dp[:, j0[0] + np.arange(4)] @ _VINV.T @ powers  # the cubic's slope in x at the root
    dp_dt = c[0, 1] + t[0] * (2 * c[0, 2] + 3 * t[0] * c[0, 3])
    return float(grid[j0[0]] + h * t[0]), -h * dp_dx / dp_dt


def _zero_pressure_root(p: np.ndarray, e: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`zero_pressure_scale`'s root: whether a bracket was found, the first of the cubic's
    four nodes j0, the root t in units of the grid's step from node j0 (B,) each, and the cubic's
    coefficients c (B, 4) in powers of t."""
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
    return found, j0, _cubic_roots(c, lo), c


@njit
def _cubic_roots(c_b4: np.ndarray, lo_b: np.ndarray) -> np.ndarray:
    """Each cubic's root t (B,) in its bracket [lo, lo + 1] (p(lo) > 0 >= p(lo + 1)), for the
    coefficients c (B, 4) in powers of t: Newton, kept inside the bracket (bisection where it would
    leave), until a step changes t no more (at most 30). One individual at a time: a vector's
    root from its coefficients is the same alone as in any batch, and a single vector no longer
    pays 30 rounds of numpy calls (0.5 ms, most of a least-squares step of a property target)."""
    t_b = np.empty(len(lo_b))
    for b in range(len(lo_b)):
        c0, c1, c2, c3 = c_b4[b, 0], c_b4[b, 1], c_b4[b, 2], c_b4[b, 3]
        lo = lo_b[b]
        hi = lo + 1.0
        t = lo + 0.5
        for _ in range(30):
            pt = c0 + t * (c1 + t * (c2 + t * c3))
            if pt > 0:
                lo = t
            else:  # also where pt is NaN
                hi = t
            dp = c1 + t * (2 * c2 + 3 * t * c3)
            step = t - pt / dp if dp != 0 else np.nan
            t_next = step if lo <= step <= hi else 0.5 * (lo + hi)
            if t_next == t:
                break
            t = t_next
        t_b[b] = t
    return t_b


@dataclass
class PropertyCell:
    """One structure's tabulated cells (at every one of SCALES) and the values computed from them."""

    atoms: Atoms
    a0: float  # Å, start conventional lattice constant
    elastic: bool  # strained and displaced cells tabulated
    tables: object = None  # the cell at each of SCALES
    elastic_tables: object = None  # at each of ELASTIC_SCALES: the cell, strained, displaced
    n_cells: int = 0  # elastic cells tabulated per scale
    unfold: Unfold | None = None  # how every elastic cell follows from the tabulated ones
    all_tables: object = None  # tables, then elastic_tables, in one set
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0))  # atoms per species of the cell

    @classmethod
    def build(cls, potential: Potential, atoms: Atoms, a0: float, elastic: bool,
              where: str, reduce: bool = True) -> PropertyCell:
        """Tabulate ``atoms`` for ``potential``; with ``reduce`` (the default) only the strained
        and displaced cells the crystal's symmetry does not give from others (for diamond 4 of
        10 per scale, for an 8-atom conventional cell 4 of 46)."""
        cell = cls(atoms, a0, elastic,
                   counts=potential.species_counts(atoms.get_chemical_symbols(), where))
        cell.tables = potential.build_tables(ReferenceSet(
            [Structure(scaled_cell(atoms, s)) for s in SCALES], "property cells"))
        if elastic:
            cell.unfold = unfold_by_symmetry(cell._patterns(),
                                             symmetry_operations(atoms) if reduce else [])
            images = [img for s in ELASTIC_SCALES for img in cell._images(scaled_cell(atoms, s))]
            cell.n_cells = len(images) // len(ELASTIC_SCALES)
            cell.elastic_tables = potential.build_tables(ReferenceSet(
                [Structure(a) for a in images], "strained property cells"))
            # one evaluation of everything: at a population of 100, a form's per-call overhead is
            # a good part of these few cells' cost
            cell.all_tables = potential.build_tables(ReferenceSet(
                [Structure(scaled_cell(atoms, s)) for s in SCALES] + [Structure(a) for a in images],
                "property cells"))
        return cell

    def _patterns(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(strain (3, 3), displacements (N, 3) Å) of the cells _elastic takes: ±STRAIN in each of
        STRAINS, then atom i < N - 1 displaced by ±DISPLACEMENT along x, y, z."""
        nat = len(self.atoms)
        out = [(_voigt_strain(j, sign * STRAIN), np.zeros((nat, 3)))
               for j in STRAINS for sign in (1.0, -1.0)]
        for i in range(nat - 1):
            for c in range(3):
                for sign in (1.0, -1.0):
                    u = np.zeros((nat, 3))
                    u[i, c] = sign * DISPLACEMENT
                    out.append((np.zeros((3, 3)), u))
        return out

    def _images(self, base: Atoms) -> list[Atoms]:
        """The tabulated strained and displaced copies of ``base`` (``unfold.tabulated`` of
        :meth:`_patterns`)."""
        patterns = self._patterns()
        out = []
        for k in self.unfold.tabulated:
            strain, u = patterns[k]
            img = base.copy()
            img.set_cell(np.array(base.cell) @ (np.eye(3) + strain).T, scale_atoms=True)
            img.positions += u
            out.append(img)
        return out

    def values(self, potential: Potential, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Every quantity of QUANTITIES (those needing the elastic cells only when tabulated) and
        ``s`` (the relaxed scale) and ``in_range``, each (B,), for full vectors theta (B, n)."""
        theta = np.atleast_2d(theta)
        b, nat = len(theta), len(self.atoms)
        with np.errstate(all="ignore"):
            if self.elastic:
                pred, pe = _split(potential.evaluate(theta, self.all_tables), len(SCALES),
                                  3 * nat * len(SCALES))
            else:
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
                vol = self.elastic_tables.volume_s.reshape(n_s, n_c)
                stress, forces = self.unfold.apply(
                    pe.virial.reshape(b, n_s, n_c, 6) / vol[None, :, :, None],  # ASE sign
                    pe.forces.reshape(b, n_s, n_c, nat, 3))
                # hydrostatic force response at ELASTIC_SCALES: s dF/ds of the scaled cells
                f_s = pred.forces.reshape(b, len(SCALES), nat * 3)
                lam_h = _HYDROSTATIC @ f_s  # (B, n_s, 3N)
                c = self._elastic(forces, stress,
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
        x = _solve(k, np.swapaxes(rhs, -1, -2))  # K⁻¹ [Λ1 Λ4 Λh]: (B, n_s, m, 3)
        r = np.einsum("bsjm,bsmi->bsji", lam, x) / volume[None, :, None, None]  # (B, n_s, 2, 3)
        out["C11"] = out["C11"] - r[:, :, 0, 0]
        out["C12"] = out["C12"] - 0.5 * (r[:, :, 0, 2] - r[:, :, 0, 0])
        out["C44"] = out["C44"] - r[:, :, 1, 1]
        return out


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a x b over the last axis (3), with numpy's cross's products and differences (the same
    numbers) without its overhead, which is most of its cost on a single vector's few cells."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def _solve(k: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """K⁻¹ rhs for a stack of systems k (..., m, m), rhs (..., m, r), NaN where K is singular (a
    candidate whose atoms do not interact: no error for the whole population). For m = 3 (two
    atoms per cell) by the adjugate, faster than a batched LU."""
    if k.shape[-1] != 3:
        try:
            return np.linalg.solve(k, rhs)
        except np.linalg.LinAlgError:  # some system is singular: solve one by one
            flat_k, flat_r = k.reshape(-1, *k.shape[-2:]), rhs.reshape(-1, *rhs.shape[-2:])
            out = np.full(flat_r.shape, np.nan)
            for i, (ki, ri) in enumerate(zip(flat_k, flat_r, strict=True)):
                try:
                    out[i] = np.linalg.solve(ki, ri)
                except np.linalg.LinAlgError:
                    pass
            return out.reshape(rhs.shape)
    r0, r1, r2 = k[..., 0, :], k[..., 1, :], k[..., 2, :]
    adj = np.stack([_cross(r1, r2), _cross(r2, r0), _cross(r0, r1)], axis=-1)  # columns
    det = np.einsum("...i,...i->...", r0, adj[..., 0])
    return (adj @ rhs) / det[..., None, None]
