"""Vacancy formation and surface energies as ``[[properties]]`` targets, per individual of a population.

Fixed geometry, as the other property targets (:mod:`gafit.property_target`): the defect cell (a
supercell of the conventional cubic cell with its first atom removed, or a slab of the crystal cut
along a facet with vacuum above and below) is built and tabulated once at each of the SCALES of the
bulk cells. One batched evaluation gives every individual's defect-cell energy at each scale; at its
own relaxed scale s* (the zero of the bulk pressure, from the structure's
:class:`~gafit.property_cubic.PropertyCell`):

- ``E_vac_unrelaxed`` (eV) = E(N-1 atoms) - (N-1) E_bulk, E_bulk the energy per atom at s*
  (= E(N-1) - (N-1)/N E(perfect supercell): the perfect supercell's energy is N E_bulk);
- ``E_surf_unrelaxed`` (J/m²) = (E_slab - n E_bulk) / (2 A), A the slab cell's area at s*
  (both surfaces of the slab are the same facet: the slab must have a symmetry turning it over).

The E0 offsets cancel. Both are interpolated to s* (cubic Lagrange on SCALES, as E), so they equal the
energies of the same cells built at the relaxed lattice up to the interpolation error.

Relaxation cannot be tabulated. ``E_vac_harmonic`` and ``E_surf_harmonic`` add to those the harmonic
estimate of the relaxation energy, ΔE = -½ fᵀ K⁻¹ f, in the displacement patterns the defect cell's
symmetry keeps (its totally symmetric modes e_j, translations removed): f_j = e_j·F are the forces of
the unrelaxed cell along them and K_ij = -e_i·dF/de_j their force constants, from the cells displaced
by DISPLACEMENT along each mode (forward differences from the undisplaced cell: their error is below
1e-3 of the relaxation energy, the anharmonicity's 1e-2), tabulated at the ELASTIC_SCALES; f and K are
interpolated to s* (cubic Lagrange) and ΔE computed there. An atom-by-atom relaxation from the
symmetric cell (ASE BFGS, LAMMPS minimize) stays in that subspace (its forces are symmetric), so the
estimate differs from it only by the anharmonicity of the relaxation. A candidate whose K is not
positive definite there (the symmetric defect cell is not a minimum) gets NaN.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.units import J, m

from gafit.potential import Potential, PotentialTables
from gafit.property_cubic import ELASTIC_SCALES, SCALES, _lagrange
from gafit.structures import GafitInputError, ReferenceSet, Structure, scaled_cell

#: property -> (kind, relaxed): the defect targets of QUANTITIES
DEFECT_PROPERTIES: dict[str, tuple[str, bool]] = {
    "E_vac_unrelaxed": ("vacancy", False),
    "E_vac_harmonic": ("vacancy", True),
    "E_surf_unrelaxed": ("surface", False),
    "E_surf_harmonic": ("surface", True),
}
#: J/m² per eV/Å²
EV_PER_A2 = 1.0 / (J / m**2)
#: smallest default vacancy supercell, atoms (3x3x3 conventional fcc: 108, 2x2x2 diamond: 64)
MIN_SUPERCELL_ATOMS = 64
#: smallest default slab thickness (Å, the slab's periodic repeats along the normal) and vacuum gap
MIN_THICKNESS = 12.0
MIN_VACUUM = 15.0
#: displacement along a (unit-norm) symmetric mode, Å
DISPLACEMENT = 0.001
#: Lagrange nodes of the unrelaxed energies' interpolation on SCALES (cubic, 4 nodes, as E: 2e-6 eV
#: from the energy of the cells built at s for a Morse Cu vacancy; 6 nodes: 1e-8 eV)
INTERPOLATION_NODES = 6


def lagrange_weights(s: np.ndarray, grid: np.ndarray, nodes: int) -> np.ndarray:
    """Lagrange interpolation weights (B, n_grid) at s (B,) on the uniform ``grid``, through the
    ``nodes`` nodes around s (the first or last ones near the ends)."""
    h = grid[1] - grid[0]
    j0 = np.clip(np.floor((s - grid[0]) / h).astype(int) - (nodes // 2 - 1), 0, len(grid) - nodes)
    t = (s - grid[j0]) / h  # (B,)
    k = np.arange(nodes, dtype=float)
    w = np.ones((len(s), nodes))
    for i in range(nodes):
        for j in range(nodes):
            if j != i:
                w[:, i] *= (t - k[j]) / (k[i] - k[j])
    full = np.zeros((len(s), len(grid)))
    full[np.arange(len(s))[:, None], j0[:, None] + np.arange(nodes)] = w
    return full


def max_cutoff(potential: Potential) -> float:
    """The largest cutoff of the potential's forms (Å)."""
    return max((float(f.cutoff) for f in potential.forms), default=0.0)


def default_supercell(conv: Atoms, rc: float) -> list[int]:
    """n x n x n conventional cells: the smallest n with at least MIN_SUPERCELL_ATOMS atoms and a cell
    wider than twice the cutoff rc (Å) at the smallest tabulated scale."""
    a0 = float(np.linalg.norm(conv.cell[0]))
    n = max(math.ceil((MIN_SUPERCELL_ATOMS / len(conv)) ** (1 / 3) - 1e-9),
            math.floor(2 * rc / (SCALES[0] * a0)) + 1)
    return [n, n, n]


def vacancy_cell(conv: Atoms, supercell: list[int], where: str) -> Atoms:
    """The conventional cell ``conv`` repeated by ``supercell`` with its first atom removed; an
    elemental crystal whose atoms are all equivalent."""
    if len(set(conv.get_chemical_symbols())) != 1:
        raise GafitInputError(f"{where}: a vacancy formation energy needs an elemental crystal (its "
                              f"reference is the bulk energy per atom); "
                              f"{conv.get_chemical_formula(empirical=True)} has several species")
    ds = _dataset(conv)
    if ds is not None and len(set(ds.equivalent_atoms)) != 1:
        raise GafitInputError(f"{where}: the crystal has inequivalent sites; the vacancy target "
                              "removes one atom and needs all sites equivalent")
    cell = conv.repeat(supercell)
    del cell[0]
    return cell


def slab_cell(conv: Atoms, facet: list[int], layers: int, vacuum: float) -> Atoms:
    """The crystal ``conv`` cut along ``facet`` (Miller indices of the conventional cell): ``layers``
    repeats of the slab's periodic unit along the normal (z), with ``vacuum`` Å between the slab and
    its periodic image; periodic in three directions."""
    from ase.build import surface

    slab = surface(conv, tuple(facet), layers, vacuum=vacuum / 2)
    slab.pbc = True
    return slab


def scaled_slab(slab: Atoms, s: float, vacuum: float) -> Atoms:
    """``slab`` (cell vector c along z) with its atoms and in-plane cell scaled by ``s`` and ``vacuum``
    Å between it and its periodic image: the same cut at another lattice constant (building the slab
    anew there could cut another termination)."""
    out = slab.copy()
    pos = slab.positions * s
    pos[:, 2] += vacuum / 2 - pos[:, 2].min()
    cell = np.array(slab.cell) * s
    cell[2] = [0.0, 0.0, float(np.ptp(pos[:, 2])) + vacuum]
    out.set_cell(cell)
    out.positions = pos
    return out


def layer_height(conv: Atoms, facet: list[int]) -> float:
    """Height (Å) of one periodic repeat of the slab along the facet's normal."""
    from ase.build import surface

    one, two = (surface(conv, tuple(facet), n, vacuum=1.0) for n in (1, 2))
    return float(two.cell[2, 2] - one.cell[2, 2])


def check_slab(slab: Atoms, conv: Atoms, where: str) -> None:
    """The slab must hold whole formula units of the crystal and have a symmetry that turns it over
    (z -> -z), so that its two surfaces are the same."""
    symbols = conv.get_chemical_symbols()
    bulk = {x: symbols.count(x) for x in set(symbols)}
    got = slab.get_chemical_symbols()
    ratios = {x: got.count(x) / n for x, n in bulk.items()}
    if len(set(ratios.values())) != 1 or len(set(got)) != len(bulk):
        raise GafitInputError(f"{where}: the slab {slab.get_chemical_formula()} is not stoichiometric "
                              f"({conv.get_chemical_formula(empirical=True)}): its surface energy "
                              "would depend on the chemical potentials; choose another facet")
    ds = _dataset(slab)
    lat = np.array(slab.cell).T
    flips = ds is not None and any(
        (lat @ rot @ np.linalg.inv(lat))[2, 2] < -0.5 for rot in ds.rotations)
    if not flips:
        raise GafitInputError(f"{where}: the two surfaces of this slab differ (no symmetry turns it "
                              "over), so (E_slab - n E_bulk)/2A is not one surface's energy; choose "
                              "another facet or number of layers")


def _dataset(atoms: Atoms, symprec: float = 1e-3):
    import spglib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return spglib.get_symmetry_dataset((np.array(atoms.cell), atoms.get_scaled_positions(),
                                            atoms.numbers), symprec=symprec)


def symmetric_modes(atoms: Atoms, symprec: float = 1e-3) -> np.ndarray:
    """Orthonormal displacement patterns (m, 3N) that every symmetry operation of ``atoms`` keeps,
    without the uniform translations: where a relaxation from this cell can go."""
    n = len(atoms)
    ds = _dataset(atoms, symprec)
    if ds is None:
        return np.zeros((0, 3 * n))
    lat = np.array(atoms.cell).T
    frac = atoms.get_scaled_positions()
    proj = np.zeros((n, 3, n, 3))
    for rot, trans in zip(ds.rotations, ds.translations, strict=True):
        moved = frac @ rot.T + trans
        diff = moved[:, None, :] - frac[None, :, :]
        perm = np.argmin(np.abs(diff - np.round(diff)).sum(axis=2), axis=1)
        r_cart = lat @ rot @ np.linalg.inv(lat)
        proj[perm, :, np.arange(n), :] += r_cart  # u[i] moves to perm[i], turned by r_cart
    proj = proj.reshape(3 * n, 3 * n) / len(ds.rotations)
    trans_c = np.kron(np.ones((n, 1)), np.eye(3)) / math.sqrt(n)  # (3N, 3) unit translations
    proj = proj - trans_c @ (trans_c.T @ proj)
    proj = proj - (proj @ trans_c) @ trans_c.T
    w, v = np.linalg.eigh(0.5 * (proj + proj.T))
    return v[:, w > 0.5].T.copy()


@dataclass
class DefectCell:
    """One defect target's cells (the defect cell at each of SCALES; with ``relax``, its copies
    displaced along the symmetric modes at each of ELASTIC_SCALES) and its value from them."""

    kind: str  # "vacancy" or "surface"
    atoms: Atoms  # the defect cell at scale 1
    n_bulk: int  # bulk atoms subtracted: atoms of the defect cell
    area: float  # Å² at scale 1 (surface), else 0
    tables: PotentialTables
    relax: bool  # harmonic relaxation tabulated
    modes: np.ndarray  # (m, 3N) symmetric modes (relax only)
    relax_tables: PotentialTables | None = None
    supercell: list[int] | None = None  # vacancy: conventional cells repeated
    facet: list[int] | None = None  # surface: Miller indices, repeats along the normal, vacuum (Å)
    layers: int | None = None
    vacuum: float | None = None

    @classmethod
    def build(cls, potential: Potential, conv: Atoms, kind: str, relax: bool, where: str,
              supercell: list[int] | None = None, facet: list[int] | None = None,
              layers: int | None = None, vacuum: float | None = None) -> DefectCell:
        """``conv``: the conventional cubic cell at scale 1 (the start lattice constant)."""
        rc = max_cutoff(potential)
        if kind == "vacancy":
            supercell = supercell or default_supercell(conv, rc)
            make = lambda c: vacancy_cell(c, supercell, where)  # noqa: E731
        else:
            if facet is None:
                raise GafitInputError(f"{where}: a surface energy needs facet = [h, k, l] (Miller "
                                      "indices of the conventional cubic cell), e.g. [1, 0, 0]")
            vacuum = vacuum if vacuum is not None else max(MIN_VACUUM, 2 * rc)
            if not vacuum > rc:
                raise GafitInputError(f"{where}: vacuum = {vacuum:g} Å is not wider than the "
                                      f"potential's cutoff {rc:g} Å: the two surfaces would interact")
            if layers is None:
                layers = math.ceil(max(MIN_THICKNESS, 2 * rc) / layer_height(conv, facet) - 1e-9)
            make = lambda c: slab_cell(c, facet, layers, vacuum)  # noqa: E731
        atoms = make(conv)
        if kind == "surface":
            check_slab(atoms, conv, where)
            at_scale = lambda s: scaled_slab(atoms, s, vacuum)  # noqa: E731
        else:
            at_scale = lambda s: scaled_cell(atoms, s)  # noqa: E731
        images = [at_scale(s) for s in SCALES]
        area = float(np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1]))) if kind == "surface" else 0.0
        cell = cls(kind, atoms, len(atoms), area,
                   potential.build_tables(ReferenceSet([Structure(a) for a in images],
                                                       f"{kind} property cells")),
                   relax, np.zeros((0, 3 * len(atoms))), None, supercell, facet, layers, vacuum)
        if relax:
            cell.modes = symmetric_modes(atoms)
            displaced = []
            for s in ELASTIC_SCALES:
                base = at_scale(s)
                for e in cell.modes:  # forward differences from the tabulated cell at s
                    img = base.copy()
                    img.positions += DISPLACEMENT * e.reshape(-1, 3)
                    displaced.append(img)
            if displaced:
                cell.relax_tables = potential.build_tables(ReferenceSet(
                    [Structure(a) for a in displaced], f"displaced {kind} property cells"))
        return cell

    def values(self, potential: Potential, theta: np.ndarray, s: np.ndarray,
               bulk: PotentialTables) -> dict[str, np.ndarray]:
        """``unrelaxed`` and (tabulated with relax) ``relaxed`` (B,) in eV (vacancy) or J/m²
        (surface), at each individual's relaxed scale s (B,), for full vectors theta (B, n);
        ``bulk``: the bulk cell at each of SCALES (its energy per atom is the reference)."""
        theta = np.atleast_2d(theta)
        b, nat = len(theta), len(self.atoms)
        with np.errstate(all="ignore"):
            pred = potential.evaluate(theta, self.tables)
            e_bulk = potential.evaluate(theta, bulk).energy / bulk.n_atoms_s  # (B, n_scales) eV/atom
            # the difference is smooth and small: interpolated to s (degree 5: 1e-8 eV for Cu)
            delta = np.einsum("bk,bk->b", lagrange_weights(s, SCALES, INTERPOLATION_NODES),
                              pred.energy - self.n_bulk * e_bulk)
            scale = EV_PER_A2 / (2 * self.area * s**2) if self.kind == "surface" else 1.0
            out = {"unrelaxed": delta * scale}
            if self.relax:
                out["relaxed"] = (delta + self._relaxation(potential, theta, pred.forces, s, b, nat)) * scale
        return out

    def _relaxation(self, potential: Potential, theta: np.ndarray, forces: np.ndarray,
                    s: np.ndarray, b: int, nat: int) -> np.ndarray:
        """Harmonic relaxation energy -½ fᵀ K⁻¹ f (B,) eV in the symmetric modes, f and K
        interpolated from ELASTIC_SCALES to s; NaN where K is not positive definite."""
        m = len(self.modes)
        if m == 0:
            return np.zeros(b)
        n_s = len(ELASTIC_SCALES)
        at = np.argmin(np.abs(SCALES[None] - ELASTIC_SCALES[:, None]), axis=1)  # the same cells
        f_c = forces.reshape(b, len(SCALES), 3 * nat)[:, at]  # (B, n_s, 3N)
        f = f_c @ self.modes.T  # (B, n_s, m)
        pd = potential.evaluate(theta, self.relax_tables).forces.reshape(b, n_s, m, 3 * nat)
        k = -np.einsum("bsjm,im->bsij", pd - f_c[:, :, None], self.modes) / DISPLACEMENT
        k = 0.5 * (k + np.swapaxes(k, -1, -2))  # (B, n_s, m, m) eV/Å², [i, j] = e_i·K e_j
        # f and K are smooth in s (ΔE is not, where a mode softens): interpolated first
        w = _lagrange(s, ELASTIC_SCALES)[0]
        f, k = np.einsum("bs,bsm->bm", w, f), np.einsum("bs,bsij->bij", w, k)
        lam, vec = np.linalg.eigh(np.nan_to_num(k))
        proj = np.einsum("bmi,bm->bi", vec, f)
        de = -0.5 * np.sum(proj**2 / lam, axis=1)
        return np.where((lam > 0).all(axis=1) & np.isfinite(k).all(axis=(1, 2)), de, np.nan)


def build_defect_cells(potential: Potential, configs: list, bulk_atoms: list[Atoms],
                       cell_of: list[int]) -> dict[int, DefectCell]:
    """Per defect target (index into ``configs``, PropertyTargetConfig entries): its DefectCell, on
    the conventional cell of its structure's bulk cell ``bulk_atoms[cell_of[i]]`` (at the start
    lattice constant). Targets with the same structure and cell share one."""
    from gafit.properties import conventional_cell

    groups: dict[tuple, list[int]] = {}  # one cell: its targets
    for i, c in enumerate(configs):
        if c.property in DEFECT_PROPERTIES:
            key = (cell_of[i], DEFECT_PROPERTIES[c.property][0], tuple(c.supercell or ()),
                   tuple(c.facet or ()), c.layers, c.vacuum)
            groups.setdefault(key, []).append(i)
    out = {}
    for (k, kind, *_), members in groups.items():
        c = configs[members[0]]
        relax = any(DEFECT_PROPERTIES[configs[i].property][1] for i in members)
        cell = DefectCell.build(potential, conventional_cell(bulk_atoms[k]), kind, relax,
                                f"[[properties]] {c.property} on {c.structure}", c.supercell,
                                c.facet, c.layers, c.vacuum)
        out.update(dict.fromkeys(members, cell))
    return out


def defect_values(potential: Potential, theta: np.ndarray, configs: list,
                  defects: dict[int, DefectCell], bulk: list[tuple[np.ndarray, PotentialTables]],
                  cell_of: list[int]) -> dict[int, np.ndarray]:
    """Per defect target (index into ``configs``): its values (B,), from each structure's relaxed
    scales and bulk tables ``bulk[k] = (s (B,), tables at SCALES)``; each DefectCell evaluated once."""
    done: dict[int, dict[str, np.ndarray]] = {}
    out = {}
    for i, cell in defects.items():
        if id(cell) not in done:
            done[id(cell)] = cell.values(potential, theta, *bulk[cell_of[i]])
        relaxed = DEFECT_PROPERTIES[configs[i].property][1]
        out[i] = done[id(cell)]["relaxed" if relaxed else "unrelaxed"]
    return out
