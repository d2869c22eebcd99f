"""Geometry tables of a reference set for :mod:`gafit.forms.tersoff`, built once before a fit.

A full neighbour list of ordered pairs p = i->j (an image of an atom is a different neighbour),
triplets t = (pair ij, pair ik) with ik != ij, and sparse maps from per-pair dE/dr and per-triplet
dE/dcos(theta) to energies, forces and virials (the shared many-body pieces are in
:mod:`gafit.geometry`). Pairs are sorted by (entry (i, j, j), r), triplets by (entry (i, j, k), r_ik).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from gafit.forms.base import Form
from gafit.forms.tersoff.kernel import KernelGeometry, centre_geometry
from gafit.forms.tersoff.kernel import available as kernel_available
from gafit.forms.tersoff.kernel_single import SingleGeometry, single_geometry
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
class TersoffTable:
    """Full neighbour list and triplets of a reference set, with linear maps to E, F and virial."""

    r_p: np.ndarray  # (P,) Å, pairs i->j sorted by (entry (i,j,j), r)
    cos_t: np.ndarray  # (T,) cos theta_ijk, triplets sorted by (entry (i,j,k), r_ik)
    rik_t: np.ndarray  # (T,) Å
    dr_t: np.ndarray  # (T,) r_ij - r_ik, Å
    p_t: np.ndarray  # (T,) pair ij of each triplet
    q_t: np.ndarray  # (T,) pair ik of each triplet
    pair_slices: list[tuple[int, int, int]]  # (entry, start, stop) of the pairs
    trip_slices: list[tuple[int, int, int]]  # (entry, start, stop) of the triplets
    energy_sp: sp.csr_matrix  # (S, P): per-pair energy -> structure energy
    zeta_pt: sp.csr_matrix  # (P, T): per-triplet zeta term -> zeta_ij
    radial_pq: sp.csr_matrix  # (P, 2T): [dE/dr_ij; dE/dr_ik] per triplet -> dE/dr per pair
    deriv_xq: sp.csr_matrix  # (3N + 6S, P + T): [dE/dr per pair; dE/dcos per triplet] -> F, virial
    n_atoms: int
    n_structures: int
    cutoff: float
    kernel: KernelGeometry  # the pairs in centre-atom order, for the fused kernel
    # evaluate keeps its large work arrays here, (4 T + 5 P) x B float64, and reuses them
    work: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    # the single-vector kernel's triplet geometry, built on first use (single_geometry)
    single: SingleGeometry | None = field(default=None, repr=False)

    def single_geometry(self, n_species: int) -> SingleGeometry:
        """The triplet geometry of the single-vector kernel (built once, on first use: a fit
        whose batches all take the batch kernel never holds it)."""
        if self.single is None:
            self.single = single_geometry(self.kernel, n_species)
        return self.single

    @property
    def work_per_individual(self) -> int:
        """Float64 temporaries per individual (for chunking): the fused kernel's outputs, or the
        numpy path's pairs + triplets."""
        if kernel_available():
            return 3 * self.n_atoms + 7 * self.n_structures
        return len(self.r_p) + len(self.cos_t)


def _scratch(tab: TersoffTable, name: str, rows: int, cols: int) -> np.ndarray:
    """A (rows, cols) work array kept on the table: fresh large arrays cost a page fault per 4 kB
    on every evaluation."""
    buf = tab.work.get(name)
    if buf is None or buf.size < rows * cols:
        buf = tab.work[name] = np.empty(rows * cols)
    return buf[: rows * cols].reshape(rows, cols)


def build_table(form: Form, refset: ReferenceSet) -> TersoffTable:
    """Pairs sorted by (entry (i, j, j), r), triplets by (entry (i, j, k), r_ik), and their maps,
    for ``form``'s species and neighbour cutoff."""
    idx = index_atoms(refset, form.species)
    pairs = neighbour_pairs(refset, form.cutoff, half=False,
                            what="tersoff cutoff (the largest R + D)", triplets=True)
    n_sp = len(form.species)
    spec_i = idx.species_n[pairs.i_p]
    spec_j = idx.species_n[pairs.j_p]
    ent_p = (spec_i * n_sp + spec_j) * n_sp + spec_j
    order = np.lexsort((pairs.r_p, ent_p))
    pairs = pairs.select(order)
    ent_p, spec_i, spec_j = ent_p[order], spec_i[order], spec_j[order]
    n_p, n_at, n_st = len(pairs.r_p), idx.n_atoms, idx.n_structures

    p_t, q_t = triplets(pairs.i_p, n_at)
    ent_t = (spec_i[p_t] * n_sp + spec_j[p_t]) * n_sp + spec_j[q_t]
    order_t = np.lexsort((pairs.r_p[q_t], ent_t))
    p_t, q_t, ent_t = p_t[order_t], q_t[order_t], ent_t[order_t]

    cos_t, cos_xt = triplet_cosines(pairs, p_t, q_t, n_at, n_st)
    energy_sp, pair_xp = pair_maps(pairs, n_at, n_st)
    zeta_pt, radial_pq = triplet_maps(p_t, q_t, n_p)
    rij, rik = pairs.r_p[p_t], pairs.r_p[q_t]
    return TersoffTable(
        r_p=pairs.r_p,
        cos_t=cos_t,
        rik_t=rik,
        dr_t=rij - rik,
        p_t=p_t,
        q_t=q_t,
        pair_slices=entry_slices(ent_p, len(form.entries())),
        trip_slices=entry_slices(ent_t, len(form.entries())),
        energy_sp=energy_sp,
        zeta_pt=zeta_pt,
        radial_pq=radial_pq,
        deriv_xq=sp.hstack([pair_xp, cos_xt], format="csr"),
        n_atoms=n_at,
        n_structures=n_st,
        cutoff=form.cutoff,
        kernel=centre_geometry(pairs, idx.species_n, idx.struct_n),
    )
