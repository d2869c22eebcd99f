"""Geometry tables of a reference set for :mod:`gafit.forms.stillinger_weber`, built once before a fit.

A full neighbour list of ordered pairs p = i->j (an image of an atom is a different neighbour) and
the triplets t = (pair ij, pair ik) of each centre i with every unordered {j, k} once, oriented so
that the species of j comes first in the potential's species list (of two neighbours of one
species, the lower pair index first). Pairs are sorted by (entry (i, j, j), i, r), triplets by
entry (i, j, k) and then by pair, so that gathers from pairs to triplets stay local in memory. The
linear maps from per-pair and per-triplet quantities to energies, forces and virials are those of
:mod:`gafit.geometry`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from gafit.forms.base import Form
from gafit.forms.stillinger_weber.kernel import available as kernel_available
from gafit.forms.tersoff.kernel import KernelGeometry, centre_geometry
from gafit.geometry import (
    entry_slices,
    index_atoms,
    neighbour_pairs,
    pair_maps,
    triplet_cosines,
    triplet_maps,
    triplets,
)
from gafit.structures import ReferenceSet


@dataclass
class SWTable:
    """Full neighbour list and unordered triplets of a reference set, with linear maps to E, F and
    virial."""

    r_p: np.ndarray  # (P,) Å, pairs i->j sorted by (entry (i,j,j), i, r)
    ent_p: np.ndarray  # (P,) entry (i, j, j) of each pair
    cos_t: np.ndarray  # (T,) cos theta_jik
    p_t: np.ndarray  # (T,) pair ij of each triplet
    q_t: np.ndarray  # (T,) pair ik of each triplet
    ent_t: np.ndarray  # (T,) entry (i, j, k) of each triplet, species of j <= species of k
    pair_slices: list[tuple[int, int, int]]  # (entry, start, stop) of the pairs
    trip_slices: list[tuple[int, int, int, int]]  # (entry ijk, entry ikj, start, stop)
    energy_sp: sp.csr_matrix  # (S, P): per-pair energy -> structure energy
    energy_st: sp.csr_matrix  # (S, T): per-triplet energy -> structure energy
    radial_pq: sp.csr_matrix  # (P, 2T): [d/dr_ij; d/dr_ik] per triplet -> d/dr per pair
    deriv_xq: sp.csr_matrix  # (3N + 6S, P + T): [dE/dr per pair; dE/dcos per triplet] -> F, virial
    n_atoms: int
    n_structures: int
    cutoff: float
    kernel: KernelGeometry  # the pairs in centre-atom order, for the fused kernel

    @property
    def work_per_individual(self) -> int:
        """Float64 temporaries per individual (for chunking): the fused kernel's outputs, or the
        numpy path's pairs + triplets, counted as Tersoff's tables do (it holds about 5 arrays per
        pair and 9 per triplet at its peak)."""
        if kernel_available():
            return 3 * self.n_atoms + 7 * self.n_structures
        return len(self.r_p) + len(self.cos_t)


def build_table(form: Form, refset: ReferenceSet) -> SWTable:
    """Pairs sorted by (entry (i, j, j), i, r), unordered triplets by entry (i, j, k), and their maps,
    for ``form``'s species and neighbour cutoff."""
    idx = index_atoms(refset, form.species)
    pairs = neighbour_pairs(refset, form.cutoff, half=False,
                            what="sw cutoff (the largest a sigma)", triplets=True)
    n_sp = len(form.species)
    spec_i = idx.species_n[pairs.i_p]
    spec_j = idx.species_n[pairs.j_p]
    ent_p = (spec_i * n_sp + spec_j) * n_sp + spec_j
    order = np.lexsort((pairs.r_p, pairs.i_p, ent_p))  # an atom's pairs together: local gathers
    pairs = pairs.select(order)
    ent_p, spec_i, spec_j = ent_p[order], spec_i[order], spec_j[order]
    n_p, n_at, n_st = len(pairs.r_p), idx.n_atoms, idx.n_structures

    p_t, q_t = triplets(pairs.i_p, n_at)
    sj, sk = spec_j[p_t], spec_j[q_t]
    keep = (sj < sk) | ((sj == sk) & (p_t < q_t))  # each unordered {j, k} once
    p_t, q_t = p_t[keep], q_t[keep]
    ent_t = (spec_i[p_t] * n_sp + spec_j[p_t]) * n_sp + spec_j[q_t]
    order_t = np.argsort(ent_t, kind="stable")
    p_t, q_t, ent_t = p_t[order_t], q_t[order_t], ent_t[order_t]

    cos_t, cos_xt = triplet_cosines(pairs, p_t, q_t, n_at, n_st)
    energy_sp, pair_xp = pair_maps(pairs, n_at, n_st)
    sum_pt, radial_pq = triplet_maps(p_t, q_t, n_p)
    swapped = [(e, (e // (n_sp * n_sp) * n_sp + e % n_sp) * n_sp + e // n_sp % n_sp, a, b)
               for e, a, b in entry_slices(ent_t, len(form.entries()))]
    return SWTable(
        r_p=pairs.r_p,
        ent_p=ent_p,
        cos_t=cos_t,
        p_t=p_t,
        q_t=q_t,
        ent_t=ent_t,
        pair_slices=entry_slices(ent_p, len(form.entries())),
        trip_slices=swapped,
        energy_sp=energy_sp,
        energy_st=(energy_sp @ sum_pt).tocsr(),
        radial_pq=radial_pq,
        deriv_xq=sp.hstack([pair_xp, cos_xt], format="csr"),
        n_atoms=n_at,
        n_structures=n_st,
        cutoff=form.cutoff,
        kernel=centre_geometry(pairs, idx.species_n, idx.struct_n),
    )
