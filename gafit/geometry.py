"""Neighbour geometry of a reference set, computed once before a fit.

Atoms of all structures are numbered globally (structure after structure); per-pair arrays carry the
suffix ``_p``, per-atom ``_n``, per-structure ``_s`` and Cartesian components ``c``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from matscipy.neighbours import neighbour_list

from gafit.structures import GafitInputError, ReferenceSet

# Voigt order xx yy zz yz xz xy
VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


@dataclass
class AtomIndex:
    """Global atom numbering of a reference set."""

    offset_s: np.ndarray  # first global atom index of each structure
    struct_n: np.ndarray  # structure of each atom
    species_n: np.ndarray  # species index of each atom (into the potential's species list)
    n_atoms: int
    n_structures: int


def index_atoms(refset: ReferenceSet, species: list[str]) -> AtomIndex:
    """Global atom numbering; raises if the data holds a species the potential lacks."""
    lookup = {s: k for k, s in enumerate(species)}
    counts = np.array([s.n_atoms for s in refset], dtype=np.int64)
    offset = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    spec = []
    for st in refset:
        syms = st.atoms.get_chemical_symbols()
        missing = sorted(set(syms) - lookup.keys())
        if missing:
            raise GafitInputError(
                f"structure '{st.name}' contains {missing}, which the potential's species "
                f"{species} do not include"
            )
        spec.append(np.fromiter((lookup[x] for x in syms), np.int64, len(syms)))
    return AtomIndex(
        offset_s=offset,
        struct_n=np.repeat(np.arange(len(refset)), counts),
        species_n=np.concatenate(spec) if spec else np.zeros(0, np.int64),
        n_atoms=int(counts.sum()),
        n_structures=len(refset),
    )


@dataclass
class Pairs:
    """Neighbour pairs i -> j within a cutoff, over all structures.

    ``d_pc`` is the vector from atom i to the (image of) atom j, Å; ``r_p`` its length.
    """

    i_p: np.ndarray
    j_p: np.ndarray
    s_p: np.ndarray
    d_pc: np.ndarray
    r_p: np.ndarray

    def select(self, mask: np.ndarray) -> Pairs:
        return Pairs(self.i_p[mask], self.j_p[mask], self.s_p[mask], self.d_pc[mask], self.r_p[mask])


def _boxed(atoms: Atoms, cutoff: float) -> Atoms:
    """A copy whose non-periodic directions have cell vectors orthogonal to the periodic ones and
    long enough that no image is within the cutoff (matscipy needs a regular cell)."""
    if atoms.pbc.all():
        return atoms
    out = atoms.copy()
    pbc = atoms.pbc
    cell = atoms.cell.array.copy()
    per = cell[pbc]
    # orthonormal basis whose first vectors span the periodic directions
    q, _ = np.linalg.qr(np.vstack([per, np.eye(3)]).T) if len(per) else (np.eye(3), None)
    free_dirs = q[:, len(per):3].T
    pos = atoms.positions
    for d, ax in zip(free_dirs, np.flatnonzero(~pbc), strict=True):
        proj = pos @ d
        extent = proj.max() - proj.min() if len(pos) else 0.0
        cell[ax] = d * (extent + 2 * cutoff + 1.0)
        pos = pos - d * (proj.min() - cutoff - 0.5)
    out.set_cell(cell)
    out.positions = pos
    return out


def neighbour_pairs(refset: ReferenceSet, cutoff: float, half: bool) -> Pairs:
    """All pairs with r < cutoff (strictly, as LAMMPS). ``half`` keeps each unordered pair once."""
    i_all, j_all, s_all, d_all = [], [], [], []
    offset = 0
    for k, st in enumerate(refset):
        i, j, d_vec, shift = neighbour_list("ijDS", _boxed(st.atoms, cutoff), cutoff)
        if half:
            # keep i < j, and for an atom and its own image keep the lexicographically positive shift
            sgn = np.sign(shift).astype(np.int64) @ np.array([4, 2, 1])
            keep = (i < j) | ((i == j) & (sgn > 0))
            i, j, d_vec = i[keep], j[keep], d_vec[keep]
        i_all.append(i + offset)
        j_all.append(j + offset)
        s_all.append(np.full(len(i), k, np.int64))
        d_all.append(d_vec)
        offset += len(st.atoms)
    d = np.concatenate(d_all) if d_all else np.zeros((0, 3))
    r = np.sqrt(np.einsum("pc,pc->p", d, d))
    pairs = Pairs(
        np.concatenate(i_all).astype(np.int64),
        np.concatenate(j_all).astype(np.int64),
        np.concatenate(s_all),
        d,
        r,
    )
    return pairs.select(r < cutoff)


def volumes(refset: ReferenceSet) -> np.ndarray:
    """Cell volume of each structure in Å³ (NaN for structures that are not periodic in 3D)."""
    return np.array(
        [abs(st.atoms.cell.volume) if np.all(st.atoms.pbc) else np.nan for st in refset]
    )
