"""Property targets of hexagonal and tetragonal crystals (``[[properties]]`` a, c_over_a, E, E_coh) and
energy differences between phases (``dE``); the cubic targets are :mod:`gafit.property_cubic`.

Fixed geometry, as the cubic targets: the start cell (c axis along z) is scaled by s_a in x and y and by
s_c in z on the grid HEX_SCALES x HEX_SCALES (±5 % of the start a and c, steps of 1 %) and tabulated
once. One batched evaluation gives every individual's stress and energy at each grid point; its relaxed
cell is the zero of (σa, σc) = ((σxx + σyy) / 2, σzz), found by Newton's method on their bicubic
Lagrange interpolation (the 4 x 4 grid points around the current point), started at the grid point of
lowest energy. By the uniaxial symmetry σxx = σyy and the shear stresses vanish, and atoms on fixed
Wyckoff sites feel no force in any scaled cell, so that point is the fully relaxed crystal. E (eV/atom,
with the E0 offsets) is the energy of the nearest grid point plus the work of the interpolated stresses
from there. A zero outside the grid, or none, leaves the values where the Newton steps end on the
grid's edge, flagged ``in_range = false``. A layered crystal whose layers do not interact (σzz zero on
the whole grid, e.g. graphite with a short-ranged Tersoff) keeps its start c.

``dE`` (eV/atom) is E of the target's structure at its relaxed lattice minus E of ``relative_to`` (a
second structure, same composition) at its own: both are cells of this module or of the cubic one,
tabulated once and shared with the other targets on the same structure.

Crystals with a coordinate their space group leaves free (wurtzite's u) are refused, as pyrite is in
the cubic targets: the scaled cells are not relaxed internally.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from gafit.crystals import LATTICES as CRYSTAL_LATTICES
from gafit.crystals import read_crystal
from gafit.potential import Potential
from gafit.properties import conventional_cell, symmetry
from gafit.property_cubic import _lagrange
from gafit.structures import GafitInputError, ReferenceSet, Structure

#: lattice names built here (beyond gafit.crystals.LATTICES)
EXTRA_LATTICES = ("graphite", "beta-tin")
#: start c/a of a lattice name when c is not given (hcp: ASE's value for the element, else ideal)
START_C_OVER_A = {"graphite": 2.725, "beta-tin": 0.552}
#: properties of hexagonal and tetragonal crystals
UNIAXIAL_PROPERTIES = ("a", "c_over_a", "E", "E_coh", "dE")
#: properties of cubic crystals only (the rest of gafit.property_target.QUANTITIES)
UNIAXIAL_ONLY = ("c_over_a",)
#: scale factors of the start a and c tabulated, as the cubic SCALES (±5 % in steps of 1 %: 121 cells,
#: most of the cost). Against relaxations a and c/a agree to 8e-6 (beta-tin Si, Tersoff), E to 1e-7
#: eV/atom; steps of 1.67 % (7 x 7) gave 9e-5 and 5e-6, steps of 2 % 3e-4 and 2e-4
HEX_SCALES = np.linspace(0.95, 1.05, 11)
#: most Newton steps of the zero-stress search (quadratic convergence: a handful suffice)
NEWTON_STEPS = 40
#: an individual's Newton search stops when its step is below this (in units of the scale)
NEWTON_STOP = 1e-13
#: a zero-stress point is found when |σa|, |σc| <= this x the largest |σ| on the grid
STRESS_RTOL = 1e-8


@dataclass
class StructureSpec:
    """A structure of ``relative_to``: a lattice name (with species, start a and c) or a file."""

    structure: str
    species: list[str] | None = None
    a: float | None = None  # Å, start lattice constant of a lattice name
    c: float | None = None  # Å, start c of a hexagonal or tetragonal lattice name


def is_lattice_name(text: str) -> bool:
    """Whether ``text`` (without an ':A' suffix) names a lattice of either module."""
    return text.partition(":")[0].lower() in CRYSTAL_LATTICES + EXTRA_LATTICES


def build_lattice(name: str, species: list[str], a: float | None, c: float | None,
                  where: str) -> Atoms:
    """graphite (AB, P6_3/mmc, 4 atoms), beta-tin (I4_1/amd, 2-atom primitive cell) or hcp, c along z;
    a (Å) is required for graphite and beta-tin, c (Å) defaults to START_C_OVER_A (hcp: ASE's)."""
    if len(species) != 1:
        raise GafitInputError(f"{where} {name}: needs one species, got {species}")
    if name == "hcp":
        from ase.build import bulk

        try:
            return bulk(species[0], "hcp", a=a, c=c)
        except Exception as err:  # ASE: no tabulated lattice constant
            raise GafitInputError(f"{where} hcp: cannot build it for {species} ({err}); give a "
                                  "(and c), e.g. a = 3.21, c = 5.21") from None
    if a is None:
        raise GafitInputError(f"{where} {name}: needs a start lattice constant a (Å)")
    c = START_C_OVER_A[name] * a if c is None else c
    h = math.sqrt(3) / 2
    if name == "graphite":
        cell = [[a, 0, 0], [-a / 2, h * a, 0], [0, 0, c]]
        frac = [[0, 0, 0.25], [0, 0, 0.75], [1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]
        return Atoms(species[0] * 4, cell=cell, scaled_positions=frac, pbc=True)
    cell = [[-a / 2, a / 2, c / 2], [a / 2, -a / 2, c / 2], [a / 2, a / 2, -c / 2]]
    return Atoms(species[0] * 2, cell=cell, positions=[[0, 0, 0], [0, a / 2, c / 4]], pbc=True)


def read_structure_spec(structure: str, species: list[str] | None, a: float | None,
                        c: float | None, where: str) -> tuple[Atoms, bool]:
    """The crystal of a ``[[properties]]`` structure (a lattice name of either module or a file) and
    whether it is a lattice name."""
    name = structure.partition(":")[0].lower()
    if Path(structure).is_file() or not is_lattice_name(structure):
        if c is not None:
            raise GafitInputError(f"{where} {structure}: c goes with a lattice name, not with a "
                                  "structure file")
        return read_crystal(structure, species, a, where), False
    if name in EXTRA_LATTICES or name == "hcp":
        if not species:
            raise GafitInputError(f"{where} {structure}: a lattice name needs the species")
        a_text = structure.partition(":")[2]
        if a_text:
            try:
                a_suffix = float(a_text)
            except ValueError:
                raise GafitInputError(f"{where} {structure}: '{a_text}' is not a lattice constant "
                                      "(Å)") from None
            if a is not None and a != a_suffix:
                raise GafitInputError(f"{where} {structure}: two lattice constants ({a_suffix} and "
                                      f"{a} Å)")
            a = a_suffix
        for key, x in (("a", a), ("c", c)):
            if x is not None and not x > 0:
                raise GafitInputError(f"{where} {structure}: {key} must be a positive length (Å)")
        return build_lattice(name, list(species), a, c, where), True
    if c is not None:
        raise GafitInputError(f"{where} {structure}: c goes with a hexagonal or tetragonal lattice "
                              f"({', '.join(('hcp',) + EXTRA_LATTICES)}), not with {name}")
    return read_crystal(structure, species, a, where), True


def crystal_family(atoms: Atoms) -> str:
    """"cubic", "uniaxial" (tetragonal, trigonal or hexagonal: one c axis) or "other"."""
    n = symmetry(atoms)[1]
    return "cubic" if n >= 195 else "uniaxial" if n >= 75 else "other"


def uniaxial_cell(atoms: Atoms, is_name: bool) -> tuple[Atoms, float, float]:
    """The cell to scale (c axis along z, a along x) and its start a and c (Å): a lattice name's own
    cell, a file's standardised conventional cell."""
    conv = conventional_cell(atoms)
    a0, c0 = float(np.linalg.norm(conv.cell[0])), float(np.linalg.norm(conv.cell[2]))
    return (atoms.copy() if is_name else conv), a0, c0


def scaled_uniaxial(atoms: Atoms, s_a: float, s_c: float) -> Atoms:
    """A copy of ``atoms`` scaled by s_a along x and y and s_c along z, positions fractional."""
    out = atoms.copy()
    out.set_cell(np.array(atoms.cell) @ np.diag([s_a, s_a, s_c]), scale_atoms=True)
    return out


@dataclass
class HexCell:
    """One hexagonal or tetragonal structure's cells tabulated on HEX_SCALES x HEX_SCALES (s_a, s_c)."""

    atoms: Atoms
    a0: float  # Å, start a
    c0: float  # Å, start c
    tables: object = None  # the cell at each (s_a, s_c), s_c fastest
    counts: np.ndarray | None = None  # atoms per species of the cell

    @classmethod
    def build(cls, potential: Potential, atoms: Atoms, a0: float, c0: float, where: str) -> HexCell:
        cell = cls(atoms, a0, c0, counts=potential.species_counts(atoms.get_chemical_symbols(), where))
        cell.tables = potential.build_tables(ReferenceSet(
            [Structure(scaled_uniaxial(atoms, sa, sc)) for sa in HEX_SCALES for sc in HEX_SCALES],
            "hexagonal property cells"))
        return cell

    def values(self, potential: Potential, theta: np.ndarray) -> dict[str, np.ndarray]:
        """a (Å), c_over_a, E and E_coh (eV/atom), the relaxed scales s_a, s_c and ``in_range``, each
        (B,), for full vectors theta (B, n)."""
        theta = np.atleast_2d(theta)
        b, n, nat = len(theta), len(HEX_SCALES), len(self.atoms)
        with np.errstate(all="ignore"):
            pred = potential.evaluate(theta, self.tables)
            stress = pred.virial / self.tables.volume_s[None, :, None]  # (B, n*n, 6), ASE sign
            sig_a = 0.5 * (stress[:, :, 0] + stress[:, :, 1]).reshape(b, n, n)  # [s_a, s_c]
            sig_c = stress[:, :, 2].reshape(b, n, n)
            e = pred.energy.reshape(b, n, n)
            s_a, s_c, found = zero_stress(sig_a, sig_c, e, HEX_SCALES)
            out = {"s_a": s_a, "s_c": s_c, "in_range": found, "a": s_a * self.a0,
                   "c_over_a": (s_c * self.c0) / (s_a * self.a0)}
            out["E"] = integrated_energy(e, sig_a, sig_c, s_a, s_c, HEX_SCALES,
                                         self.atoms.get_volume()) / nat
            out["E_coh"] = theta[:, potential.e0_slice] @ self.counts / nat - out["E"]
        return out


def zero_stress(sig_a: np.ndarray, sig_c: np.ndarray, e: np.ndarray,
                grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each individual's zero of (σa, σc), both (B, n, n) on grid x grid, and whether it was found
    inside the grid: (s_a, s_c, found), each (B,).

    Newton's method on the bicubic interpolants from the grid point of lowest energy ``e`` (B, n, n),
    steps at most one grid spacing, kept inside the grid; where σc is zero on the whole grid (layers
    that do not interact) s_c stays 1 and only σa is solved."""
    b, n = len(e), len(grid)
    h = grid[1] - grid[0]
    k = np.argmin(np.nan_to_num(e.reshape(b, -1), nan=np.inf), axis=1)
    s_a, s_c = grid[k // n].astype(float), grid[k % n].astype(float)
    scale = np.abs(np.concatenate([sig_a, sig_c], axis=1)).reshape(b, -1).max(axis=1)  # NaN: not found
    free_c = np.abs(sig_c).reshape(b, -1).max(axis=1) <= 1e-12 * scale
    s_c = np.where(free_c, 1.0, s_c)
    active = np.ones(b, bool)  # each individual stops on its own: its result is the batch's
    for _ in range(NEWTON_STEPS):
        if not active.any():
            break
        (wa, dwa), (wc, dwc) = _lagrange(s_a, grid), _lagrange(s_c, grid)
        fa, fc = (np.einsum("bi,bij,bj->b", wa, f, wc) for f in (sig_a, sig_c))
        jaa, jca = (np.einsum("bi,bij,bj->b", dwa, f, wc) for f in (sig_a, sig_c))
        jac, jcc = (np.einsum("bi,bij,bj->b", wa, f, dwc) for f in (sig_a, sig_c))
        det = jaa * jcc - jac * jca
        da = np.where(free_c, -fa / jaa, -(jcc * fa - jac * fc) / det)
        dc = np.where(free_c, 0.0, -(jaa * fc - jca * fa) / det)
        big = np.maximum(np.maximum(np.abs(da), np.abs(dc)) / h, 1.0)
        new_a = np.clip(s_a + np.nan_to_num(da / big), grid[0], grid[-1])
        new_c = np.clip(s_c + np.nan_to_num(dc / big), grid[0], grid[-1])
        moved = np.maximum(np.abs(new_a - s_a), np.abs(new_c - s_c))
        s_a, s_c = np.where(active, new_a, s_a), np.where(active, new_c, s_c)
        active &= moved > NEWTON_STOP
    (wa, _), (wc, _) = _lagrange(s_a, grid), _lagrange(s_c, grid)
    fa, fc = (np.einsum("bi,bij,bj->b", wa, f, wc) for f in (sig_a, sig_c))
    found = np.nan_to_num(np.maximum(np.abs(fa), np.abs(fc)), nan=np.inf) <= STRESS_RTOL * scale
    return s_a, s_c, found


#: Gauss-Legendre nodes and weights on [0, 1] (5 points: exact for the degree-8 integrand of
#: :func:`integrated_energy` inside one grid cell)
_GL_T, _GL_W = (np.polynomial.legendre.leggauss(5)[0] + 1) / 2, np.polynomial.legendre.leggauss(5)[1] / 2


def integrated_energy(e: np.ndarray, sig_a: np.ndarray, sig_c: np.ndarray, s_a: np.ndarray,
                      s_c: np.ndarray, grid: np.ndarray, volume: float) -> np.ndarray:
    """Energy (B,) eV per cell at (s_a, s_c): the tabulated energy ``e`` (B, n, n) of the nearest grid
    point plus the work of the interpolated stresses (eV/Å³) along the straight path from it, with
    dE/ds_a = 2 V0 s_a s_c σa and dE/ds_c = V0 s_a² σc (V0 = ``volume``, Å³, the unscaled cell).

    More accurate than interpolating the energy itself: the stresses are interpolated to the same
    order, and the path is at most half a grid step long."""
    h = grid[1] - grid[0]
    i = np.clip(np.rint((s_a - grid[0]) / h).astype(int), 0, len(grid) - 1)
    j = np.clip(np.rint((s_c - grid[0]) / h).astype(int), 0, len(grid) - 1)
    out = e[np.arange(len(e)), i, j]
    da, dc = s_a - grid[i], s_c - grid[j]
    for t, w in zip(_GL_T, _GL_W, strict=True):
        pa, pc = grid[i] + t * da, grid[j] + t * dc
        wa, wc = _lagrange(pa, grid)[0], _lagrange(pc, grid)[0]
        fa, fc = (np.einsum("bi,bij,bj->b", wa, f, wc) for f in (sig_a, sig_c))
        out = out + w * volume * (2 * pa * pc * fa * da + pa * pa * fc * dc)
    return out
