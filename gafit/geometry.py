"""Neighbour geometry of a reference set, computed once before a fit.

Atoms of all structures are numbered globally (structure after structure); per-pair arrays carry the
suffix ``_p``, per-triplet ``_t``, per-atom ``_n``, per-structure ``_s`` and Cartesian components ``c``.
Besides the neighbour pairs: the triplets of many-body forms (pairs ij, ik sharing atom i), cos θ, and
the sparse maps from per-pair and per-triplet derivatives to energies, forces and virials.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from ase import Atoms

from gafit.structures import (
    GafitInputError,
    ReferenceSet,
    _close_gaps,
    _free_directions,
    pair_list,
    periodic_widths,
)

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


#: memory the neighbour tables take per ordered pair and per Tersoff triplet (bytes), with the
#: temporaries of building them
BYTES_PER_PAIR = 250
BYTES_PER_TRIPLET = 600


def neighbours_per_atom(atoms: Atoms, cutoff: float) -> float:
    """Estimated number of neighbours within ``cutoff`` (Å) of an atom of ``atoms``: the atom density
    (over the periodic cell and the extent of the atoms along non-periodic directions) times the
    cutoff sphere, at most every atom in every image the cutoff can reach."""
    n = len(atoms)
    if n == 0:
        return 0.0
    pbc = atoms.pbc
    width = periodic_widths(atoms.cell.array, pbc)
    cell = atoms.cell.array[pbc]
    measure = float(np.sqrt(max(np.linalg.det(cell @ cell.T), 0.0))) if len(cell) else 1.0
    for d, _ in _free_directions(atoms):  # gaps closed: a far-away atom does not dilute the density
        measure *= float(np.ptp(_close_gaps(atoms.positions @ d, cutoff + 1.0)))
    with np.errstate(over="ignore", divide="ignore"):
        sphere = 4 / 3 * np.pi * np.float64(cutoff) ** 3
        images = float(np.prod(2 * cutoff / width + 1.0))
        density = n / measure if measure > 0 else math.inf
        return float(min(n * images, density * sphere))


def neighbour_work(refset: ReferenceSet, cutoff: float) -> tuple[float, float]:
    """Estimated ordered pairs within ``cutoff`` and triplets (pairs sharing their first atom) over
    all structures of ``refset``."""
    pairs = triplets = 0.0
    for st in refset:
        per_atom = neighbours_per_atom(st.atoms, cutoff)
        pairs += st.n_atoms * per_atom
        triplets += st.n_atoms * per_atom**2
    return pairs, triplets


def memory_bytes() -> float:
    """Physical memory of this machine (bytes); inf where it cannot be told."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return math.inf


def _big(x: float) -> str:
    return f"{x:.2g}" if x < 1e300 else "more than 1e300"


def check_neighbour_work(refset: ReferenceSet, cutoff: float, what: str = "cutoff",
                         triplets: bool = False) -> None:
    """Refuse a cutoff whose neighbour tables cannot fit in this machine's memory, before building
    them; ``what`` names the setting the cutoff came from, ``triplets`` counts Tersoff's triplets."""
    n_pairs, n_trip = neighbour_work(refset, cutoff)
    need = n_pairs * BYTES_PER_PAIR + (n_trip * BYTES_PER_TRIPLET if triplets else 0.0)
    have = memory_bytes()
    if need <= have:
        return
    count = f"{_big(n_pairs)} neighbour pairs" + (f" and {_big(n_trip)} triplets" if triplets else "")
    raise GafitInputError(
        f"{what} = {cutoff:g} Å is far too long for this data: about {count} within it over "
        f"{len(refset)} structures, about {_big(need / 1e9)} GB of neighbour tables, more than this "
        f"machine's {have / 1e9:.3g} GB of memory (a typical cutoff is 4-10 Å)"
    )


def neighbour_pairs(refset: ReferenceSet, cutoff: float, half: bool, what: str = "cutoff",
                    triplets: bool = False) -> Pairs:
    """All pairs with r < cutoff (strictly, as LAMMPS). ``half`` keeps each unordered pair once.
    A cutoff whose tables cannot fit in memory is refused first (see :func:`check_neighbour_work`)."""
    check_neighbour_work(refset, cutoff, what, triplets)
    i_all, j_all, s_all, d_all = [], [], [], []
    offset = 0
    for k, st in enumerate(refset):
        i, j, d_vec, shift = pair_list(st.atoms, cutoff)
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


# --------------------------------------------------------------------------- linear maps


def pair_maps(
    pairs: Pairs, n_atoms: int, n_structures: int
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Sparse maps from per-pair energies and dE/dr to structure energies, forces and virials.

    F_i = dE/dr u_ij and F_j = -dE/dr u_ij; the virial dE/dε_ab gets dE/dr r u_a u_b.
    """
    n_p = len(pairs.r_p)
    cols = np.arange(n_p)
    energy = sp.csr_matrix((np.ones(n_p), (pairs.s_p, cols)), shape=(n_structures, n_p))
    u_pc = pairs.d_pc / pairs.r_p[:, None]
    rows, vals, cc = [], [], []
    for c in range(3):
        rows += [3 * pairs.i_p + c, 3 * pairs.j_p + c]
        vals += [u_pc[:, c], -u_pc[:, c]]
        cc += [cols, cols]
    for v, (a, b) in enumerate(VOIGT):
        rows.append(3 * n_atoms + 6 * pairs.s_p + v)
        vals.append(pairs.r_p * u_pc[:, a] * u_pc[:, b])
        cc.append(cols)
    deriv = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cc))),
        shape=(3 * n_atoms + 6 * n_structures, n_p),
    )
    return energy, deriv


def triplets(i_p: np.ndarray, n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """All (p, q) with the same centre atom and p != q, as index arrays into the pairs."""
    by_i = np.argsort(i_p, kind="stable")
    count_n = np.bincount(i_p, minlength=n_atoms)
    start_n = np.concatenate([[0], np.cumsum(count_n)[:-1]]).astype(np.int64)
    reps = count_n[i_p]
    p_rep = np.repeat(np.arange(len(i_p), dtype=np.int64), reps)
    first = np.repeat(np.cumsum(reps) - reps, reps)
    q_rep = by_i[start_n[i_p[p_rep]] + np.arange(len(p_rep)) - first]
    keep = q_rep != p_rep
    return p_rep[keep], q_rep[keep]


def triplet_cosines(
    pairs: Pairs, p_t: np.ndarray, q_t: np.ndarray, n_atoms: int, n_structures: int
) -> tuple[np.ndarray, sp.csr_matrix]:
    """cos theta_ijk of triplets t = (pair p_t = ij, pair q_t = ik), and the sparse map (3N + 6S, T)
    from dE/dcos per triplet to forces then virials (eV/Å, eV)."""
    n_t = len(p_t)
    u_pc = pairs.d_pc / pairs.r_p[:, None] if len(pairs.r_p) else np.zeros((0, 3))
    rij, rik = pairs.r_p[p_t], pairs.r_p[q_t]
    uj, uk = u_pc[p_t], u_pc[q_t]
    cos_t = np.einsum("tc,tc->t", uj, uk)
    gj = (uk - cos_t[:, None] * uj) / rij[:, None]  # dcos/dd_ij
    gk = (uj - cos_t[:, None] * uk) / rik[:, None]  # dcos/dd_ik

    cols = np.arange(n_t)
    at_i, at_j, at_k = pairs.i_p[p_t], pairs.j_p[p_t], pairs.j_p[q_t]
    rows, vals, cc = [], [], []
    for c in range(3):
        rows += [3 * at_j + c, 3 * at_k + c, 3 * at_i + c]
        vals += [-gj[:, c], -gk[:, c], gj[:, c] + gk[:, c]]
        cc += [cols, cols, cols]
    s_t = pairs.s_p[p_t]
    for v, (a, b) in enumerate(VOIGT):
        rows.append(3 * n_atoms + 6 * s_t + v)
        vals.append(uj[:, a] * uk[:, b] + uk[:, a] * uj[:, b]
                    - cos_t * (uj[:, a] * uj[:, b] + uk[:, a] * uk[:, b]))
        cc.append(cols)
    cos_xt = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cc))),
        shape=(3 * n_atoms + 6 * n_structures, n_t),
    )
    return cos_t, cos_xt


def triplet_maps(
    p_t: np.ndarray, q_t: np.ndarray, n_pairs: int
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Sparse maps of triplets t = (pair p_t = ij, pair q_t = ik) onto pairs: (P, T) summing a
    per-triplet value onto its pair ij (zeta_ij = sum_k z_ijk), and (P, 2T) taking
    [d/dr_ij; d/dr_ik] per triplet to d/dr per pair."""
    n_t = len(p_t)
    cols = np.arange(n_t)
    ones = np.ones(n_t)
    sum_pt = sp.csr_matrix((ones, (p_t, cols)), shape=(n_pairs, n_t))
    radial_pq = sp.csr_matrix(
        (np.concatenate([ones, ones]), (np.concatenate([p_t, q_t]),
                                        np.concatenate([cols, cols + n_t]))),
        shape=(n_pairs, 2 * n_t),
    )
    return sum_pt, radial_pq


def entry_slices(entry_sorted: np.ndarray, n_entries: int) -> list[tuple[int, int, int]]:
    """(entry, start, stop) of each entry present in ``entry_sorted`` (rows sorted by entry index,
    0..n_entries-1): the row blocks a many-body form evaluates entry by entry."""
    bounds = np.searchsorted(entry_sorted, np.arange(n_entries + 1))
    return [(e, int(bounds[e]), int(bounds[e + 1])) for e in range(n_entries)
            if bounds[e + 1] > bounds[e]]
