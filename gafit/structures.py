"""Reference structures and their DFT targets.

Units: positions and cells in Å, energy in eV (total), forces in eV/Å, stress in eV/Å³ in the ASE
convention (positive = tensile, Voigt order xx yy zz yz xz xy). A target that is ``None`` is absent:
it contributes no residual, it is never taken as zero.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.units import GPa
from matscipy.neighbours import neighbour_list

from gafit.errors import GafitInputError, GafitResultError  # noqa: F401 (re-exported)

#: multiply a stress in GPa by this to get eV/Å³
GPA_TO_EV_A3 = GPa
EV_A3_TO_GPA = 1.0 / GPa


#: atoms closer than this (Å), also to a periodic image, are an error: the same atom twice, not physics
MIN_DISTANCE = 0.1


class StructureError(GafitInputError):
    """A structure no potential can be evaluated on; ``problem`` says why without saying where the
    structure came from, so that readers can name the file, frame or line."""

    def __init__(self, problem: str, name: str = "") -> None:
        super().__init__(f"structure {name!r}: {problem}" if name else problem)
        self.problem = problem


def periodic_widths(cell: np.ndarray, pbc: Sequence[bool]) -> np.ndarray:
    """Distance (Å) between neighbouring lattice planes along each periodic direction, within the
    lattice the periodic cell vectors span (0 for a zero or dependent vector). No lattice vector is
    shorter than the smallest width."""
    cell = np.asarray(cell, dtype=float)
    per = np.flatnonzero(pbc)
    out = []
    for k in per:
        others = cell[[m for m in per if m != k]].T
        v = cell[k]
        if others.size:
            v = v - others @ np.linalg.lstsq(others, v, rcond=None)[0]
        out.append(float(np.linalg.norm(v)))
    return np.array(out)


def cell_problem(cell: np.ndarray, pbc: Sequence[bool]) -> str | None:
    """Why ``cell`` (rows a, b, c in Å) cannot be periodic along ``pbc``, or None: a zero vector, or
    lattice planes closer than :data:`MIN_DISTANCE` (dependent vectors: a flat or singular cell)."""
    if not np.any(pbc):
        return None
    cell = np.asarray(cell, dtype=float)
    width = periodic_widths(cell, pbc)
    k = int(np.argmin(width))
    ax = int(np.flatnonzero(pbc)[k])
    axis = "abc"[ax]
    flags = " ".join("T" if p else "F" for p in pbc)
    if not np.any(cell[ax]):
        return (f"periodic along {axis} (pbc = {flags}) but cell vector {axis} is zero: give "
                "the cell (extxyz: Lattice=...) or make that direction non-periodic")
    if not width[k] >= MIN_DISTANCE:
        return (f"the cell is singular (flat) along its periodic direction {axis} (pbc = {flags}): lattice "
                f"planes {width[k]:.3g} Å apart, the cell vectors are (nearly) dependent")
    return None


def _free_directions(atoms: Atoms) -> list[tuple[np.ndarray, int]]:
    """Unit vectors orthogonal to the periodic cell vectors, one per non-periodic axis (its index)."""
    pbc = atoms.pbc
    per = atoms.cell.array[pbc]
    # orthonormal basis whose first vectors span the periodic directions
    q = np.linalg.qr(np.vstack([per, np.eye(3)]).T)[0] if len(per) else np.eye(3)
    return list(zip(q[:, len(per):3].T, np.flatnonzero(~pbc), strict=True))


def _close_gaps(proj: np.ndarray, gap: float) -> np.ndarray:
    """Coordinates ``proj`` (Å) along one direction with every empty interval wider than ``gap``
    narrowed to ``gap``; the order and the distances within each group of atoms are kept."""
    order = np.argsort(proj, kind="stable")
    excess = np.maximum(np.diff(proj[order]) - gap, 0.0)
    moved = np.empty_like(proj)
    moved[order] = proj[order] - np.concatenate([[0.0], np.cumsum(excess)])
    return moved


def _boxed(atoms: Atoms, cutoff: float) -> Atoms:
    """A copy whose non-periodic directions have cell vectors orthogonal to the periodic ones and
    long enough that no image is within the cutoff (matscipy needs a regular cell). Along a
    non-periodic direction every empty gap wider than cutoff + 1 Å is narrowed to that: pairs across
    it stay out of range and no others move, so atoms 1e9 Å apart need no 1e9 Å box."""
    if atoms.pbc.all():
        return atoms
    out = atoms.copy()
    cell = atoms.cell.array.copy()
    pos = atoms.positions
    for d, ax in _free_directions(atoms):
        proj = pos @ d
        moved = _close_gaps(proj, cutoff + 1.0)
        low = moved.min() if len(pos) else 0.0
        extent = moved.max() - low if len(pos) else 0.0
        cell[ax] = d * (extent + 2 * cutoff + 1.0)
        pos = pos + d * (moved - proj - (low - cutoff - 0.5))[:, None]
    out.set_cell(cell)
    out.positions = pos
    return out


#: matscipy bins space by the search radius; it searches with a radius large enough that the box
#: holds at most about this many bins (a cell with much vacuum would otherwise allocate gigabytes)
MAX_BINS = 1e6


def pair_list(atoms: Atoms, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every ordered pair i -> j (also of images) with r < cutoff: i, j, the vector d_pc (Å) from
    ``atoms.positions[i]`` to the image of j, and the image shift (cell vectors crossed)."""
    boxed = _boxed(atoms, cutoff)
    search = max(cutoff, (abs(boxed.cell.volume) / MAX_BINS) ** (1 / 3))
    i, j, shift = neighbour_list("ijS", boxed, search)
    # from the given positions, not the boxed ones: the same vectors, without their rounding
    d_pc = atoms.positions[j] - atoms.positions[i] + shift @ boxed.cell.array
    keep = np.einsum("pc,pc->p", d_pc, d_pc) < np.float64(cutoff) ** 2
    return i[keep], j[keep], d_pc[keep], shift[keep]


def geometry_problem(atoms: Atoms) -> str | None:
    """Why no potential can be evaluated on ``atoms`` (no atoms, a flat or missing cell along a
    periodic direction, two atoms closer than :data:`MIN_DISTANCE`), or None if nothing is wrong."""
    if len(atoms) == 0:
        return "no atoms (a structure needs at least one)"
    if not (np.all(np.isfinite(atoms.positions)) and np.all(np.isfinite(atoms.cell.array))):
        return "positions or cell have NaN or infinite values"
    problem = cell_problem(atoms.cell.array, atoms.pbc)
    if problem is not None:
        return problem
    i, j, d_pc, shift = pair_list(atoms, MIN_DISTANCE)
    if len(i):
        k = int(np.argmin(np.einsum("pc,pc->p", d_pc, d_pc)))
        a, b = sorted((int(i[k]), int(j[k])))
        sym = atoms.get_chemical_symbols()
        image = " (periodic images)" if a == b or np.any(shift[k]) else ""
        what = f"atom {a + 1} ({sym[a]}) and its own periodic image" if a == b else \
            f"atoms {a + 1} ({sym[a]}) and {b + 1} ({sym[b]}){image}"
        return (f"{what} are {np.linalg.norm(d_pc[k]):.3g} Å apart, closer than {MIN_DISTANCE:g} Å "
                "(the same atom twice?)")
    return None


@dataclass
class Structure:
    """One reference configuration with its (optional) DFT targets."""

    atoms: Atoms
    energy: float | None = None
    forces: np.ndarray | None = None  # (n_atoms, 3) eV/Å
    stress: np.ndarray | None = None  # (6,) eV/Å³, ASE sign and Voigt order
    weight: float = 1.0
    config_type: str = "default"
    name: str = ""
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        problem = geometry_problem(self.atoms)
        if problem is not None:
            raise StructureError(problem, self.name)
        n = len(self.atoms)
        if self.forces is not None:
            self.forces = np.asarray(self.forces, dtype=float).reshape(n, 3)
        if self.stress is not None:
            s = np.asarray(self.stress, dtype=float)
            if s.shape == (3, 3):
                s = s[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
            self.stress = s.reshape(6)
        if self.energy is not None:
            self.energy = float(self.energy)

    @property
    def n_atoms(self) -> int:
        return len(self.atoms)

    @property
    def periodic(self) -> bool:
        return bool(np.any(self.atoms.pbc))


@dataclass
class ReferenceSet:
    """An ordered collection of reference structures (the training or validation data)."""

    structures: list[Structure]
    source: str = ""

    def __len__(self) -> int:
        return len(self.structures)

    def __iter__(self) -> Iterator[Structure]:
        return iter(self.structures)

    def __getitem__(self, i: int) -> Structure:
        return self.structures[i]

    @property
    def species(self) -> list[str]:
        """Chemical symbols present, in order of first appearance."""
        seen: dict[str, None] = {}
        for s in self.structures:
            for sym in s.atoms.get_chemical_symbols():
                seen.setdefault(sym, None)
        return list(seen)

    @property
    def n_atoms(self) -> int:
        return sum(s.n_atoms for s in self.structures)

    def subset(self, indices: Sequence[int]) -> ReferenceSet:
        return ReferenceSet([self.structures[i] for i in indices], self.source)

    def __add__(self, other: ReferenceSet) -> ReferenceSet:
        return ReferenceSet(self.structures + other.structures, f"{self.source}+{other.source}")


def scaled_cell(atoms: Atoms, s: float) -> Atoms:
    """A copy of ``atoms`` with the cell scaled isotropically by ``s``, positions fractional."""
    out = atoms.copy()
    out.set_cell(np.array(atoms.cell) * s, scale_atoms=True)
    return out
