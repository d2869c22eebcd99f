"""Energies, forces and virials of EAM potentials from their tables, the way LAMMPS's ``pair_style
eam`` computes them (:mod:`gafit.forms.eam.spline` for the splines).

    E = sum_i F_i(rho_i) + sum_{i<j} phi_ij(r_ij),   rho_i = sum_{j != i} rho_{j->i}(r_ij)

``rho_{j->i}`` is the density at atom i due to neighbour j (it depends on the species of both in
``eam/fs`` files, on j's alone in ``eam/alloy``); tables hold r phi(r) (``z2r``) as LAMMPS's do.
Densities beyond the F table (rho > (nrho - 1) drho) extend F linearly with its slope at the end.

Geometry is built once (:func:`build_table`): a half neighbour list (each pair once, an image of
an atom a neighbour of its own) and sparse maps from the flattened r tables (index ``x``) to
densities, pair energies and dE/dr: LAMMPS's cubic at a fixed r is a fixed linear combination of
six table values. The F(rho) lookup depends on each individual's densities and is done per atom as
LAMMPS does. Per-pair arrays end in ``_p``, per-atom ``_n``; ``_b`` indexes the individuals.
With numba, :func:`evaluate_grid` runs the fused kernel of :mod:`gafit.forms.eam.kernel` instead
(LAMMPS's spline coefficients, two passes over the pairs, no sparse products, F tabulated on the
knots the densities need when the grid gives it as a function); the maps stay as the numpy path,
:func:`evaluate_grid_numpy`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from gafit.forms.base import Prediction
from gafit.forms.eam import kernel, kernel_single
from gafit.forms.eam.grid import EAMGrid
from gafit.forms.eam.spline import (
    hermite_maps,
    on_functions,
    r_lookup,
    rho_lookup,
    slope,
    spline_coefficients,
    value,
)
from gafit.forms.rows import as_population
from gafit.geometry import index_atoms, neighbour_pairs, pair_maps
from gafit.structures import ReferenceSet


@dataclass
class EAMTable:
    """Half neighbour list of a reference set in one r grid, with linear maps from the flattened
    tables (index x over (species, species, r knot)) to densities, energies and dE/dr.

    The spline of a table at a fixed r is a linear combination of a few of its values
    (:func:`gafit.forms.eam.spline.hermite_maps`), so these maps, built once, evaluate the r
    functions of every individual of a batch by sparse products."""

    r_p: np.ndarray  # (P,) Å
    i_p: np.ndarray  # (P,) first atom of each pair (global index)
    j_p: np.ndarray  # (P,) second atom
    species_n: np.ndarray  # (N,) species index of each atom
    onto_i_np: sp.csr_matrix  # (N, P) sums per-pair values onto atom i
    onto_j_np: sp.csr_matrix  # (N, P) onto atom j
    rho_nx: sp.csr_matrix  # (N, X) flattened rhor -> density at each atom
    drho_at_i_px: sp.csr_matrix  # (P, X) flattened rhor -> d(density at i due to j)/dr
    drho_at_j_px: sp.csr_matrix | None  # (P, X) -> d(density at j due to i)/dr; None: the same
    # map as at i (one species)
    phi_sx: sp.csr_matrix  # (S, X) flattened z2r -> pair energy of each structure
    dphi_px: sp.csr_matrix  # (P, X) flattened z2r -> dphi/dr per pair
    energy_sn: sp.csr_matrix  # (S, N) per-atom energy -> structure energy
    energy_sp: sp.csr_matrix  # (S, P) per-pair energy -> structure energy
    deriv_xp: sp.csr_matrix  # (3N + 6S, P) dE/dr per pair -> forces, virials
    n_species: int
    nr: int
    dr: float
    n_atoms: int
    n_structures: int
    kernel: kernel.KernelGeometry  # the pairs sorted by r-table interval, for the fused kernel
    # the single-vector kernel's order of the pairs, built on first use (single_geometry)
    single: kernel_single.SingleGeometry | None = field(default=None, repr=False)

    def single_geometry(self) -> kernel_single.SingleGeometry:
        """The pairs in :mod:`gafit.forms.eam.kernel_single`'s order (built once, on first use:
        a fit whose batches all take the batch kernel never holds them)."""
        if self.single is None:
            self.single = kernel_single.single_geometry(self.kernel)
        return self.single

    @property
    def work_per_individual(self) -> int:
        """Float64 temporaries per individual (for chunking a batch): the fused kernel's densities,
        outputs and r tables, or the numpy path's few values per pair and per atom, and tables."""
        if kernel.available():
            return 4 * self.n_atoms + 7 * self.n_structures + 2 * self.rho_nx.shape[1]
        return 6 * len(self.r_p) + 8 * self.n_atoms + 3 * self.rho_nx.shape[1]


def build_table(species: list[str], cutoff: float, nr: int, dr: float,
                refset: ReferenceSet) -> EAMTable:
    """Pairs with r < ``cutoff`` (Å) and their linear maps on r tables of ``nr`` points spaced
    ``dr`` (Å)."""
    idx = index_atoms(refset, species)
    pairs = neighbour_pairs(refset, cutoff, half=True, what="EAM cutoff")
    n_at, n_st, n_e = idx.n_atoms, idx.n_structures, len(species)
    e_i = idx.species_n[pairs.i_p]
    e_j = idx.species_n[pairs.j_p]
    k_p, frac_p = r_lookup(pairs.r_p, dr, nr)
    value_pr, slope_pr = hermite_maps(k_p, frac_p, nr, dr)
    n_fun = n_e * n_e
    at_i, at_j, pair = e_j * n_e + e_i, e_i * n_e + e_j, e_i * n_e + e_j
    n_p = len(pairs.r_p)
    ones, cols = np.ones(n_p), np.arange(n_p)
    onto_i = sp.csr_matrix((ones, (pairs.i_p, cols)), shape=(n_at, n_p))
    onto_j = sp.csr_matrix((ones, (pairs.j_p, cols)), shape=(n_at, n_p))
    energy_sp, deriv_xp = pair_maps(pairs, n_at, n_st)
    recip = sp.diags(1.0 / pairs.r_p) if n_p else sp.csr_matrix((0, 0))
    z2r_value = on_functions(value_pr, pair, nr, n_fun)
    return EAMTable(
        r_p=pairs.r_p,
        i_p=pairs.i_p,
        j_p=pairs.j_p,
        species_n=idx.species_n,
        onto_i_np=onto_i,
        onto_j_np=onto_j,
        rho_nx=(onto_i @ on_functions(value_pr, at_i, nr, n_fun)
                + onto_j @ on_functions(value_pr, at_j, nr, n_fun)).tocsr(),
        drho_at_i_px=on_functions(slope_pr, at_i, nr, n_fun),
        drho_at_j_px=on_functions(slope_pr, at_j, nr, n_fun) if n_e > 1 else None,
        phi_sx=(energy_sp @ recip @ z2r_value).tocsr(),
        dphi_px=(recip @ (on_functions(slope_pr, pair, nr, n_fun) - recip @ z2r_value)).tocsr(),
        energy_sn=sp.csr_matrix((np.ones(n_at), (idx.struct_n, np.arange(n_at))),
                                shape=(n_st, n_at)),
        energy_sp=energy_sp,
        deriv_xp=deriv_xp,
        n_species=n_e,
        nr=nr,
        dr=dr,
        n_atoms=n_at,
        n_structures=n_st,
        kernel=kernel.kernel_geometry(pairs.i_p, pairs.j_p, pairs.d_pc, pairs.r_p, k_p, frac_p,
                                      at_i, at_j, pair, idx.species_n, idx.struct_n),
    )


def embedding(grid: EAMGrid, rho_bn: np.ndarray, species_n: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """F(rho) (eV) and F'(rho) per individual and atom, F extended linearly beyond its table."""
    grid = grid.full()
    n_b, n_e = grid.frho_ber.shape[:2]
    coef = spline_coefficients(grid.frho_ber).reshape(n_b, n_e * grid.nrho, 4)
    drho = grid.drho_b[:, None]
    k_bn, p_bn = rho_lookup(rho_bn, drho, grid.nrho)
    c = coef[np.arange(n_b)[:, None], species_n[None] * grid.nrho + k_bn]
    f_bn = value(c, p_bn)
    fp_bn = slope(c, p_bn, drho)
    rhomax = (grid.nrho - 1) * drho
    f_bn = np.where(rho_bn > rhomax, f_bn + fp_bn * (rho_bn - rhomax), f_bn)
    return f_bn, fp_bn


def _flat(table_b: np.ndarray) -> np.ndarray:
    """(X, B): each individual's tables flattened, one column per individual."""
    return np.ascontiguousarray(table_b.reshape(table_b.shape[0], -1).T)


def _check_grid(grid: EAMGrid, tab: EAMTable) -> None:
    if tab.nr != grid.nr or tab.dr != grid.dr:
        raise ValueError(f"EAM tables on r grid ({grid.nr}, {grid.dr}) but geometry built for "
                         f"({tab.nr}, {tab.dr})")


def densities(grid: EAMGrid, tab: EAMTable) -> np.ndarray:
    """The density at each atom per individual (B, N)."""
    _check_grid(grid, tab)
    return np.ascontiguousarray((tab.rho_nx @ _flat(grid.rhor_bsdr)).T)


def evaluate_grid(grid: EAMGrid, tab: EAMTable) -> Prediction:
    """Energies, forces and virials of each individual's tables on the geometry ``tab``.

    The fused numba kernel (:mod:`gafit.forms.eam.kernel`) when available, for a single vector
    its single-vector kernel (:mod:`gafit.forms.eam.kernel_single`, unless ``kernel.SINGLE`` is
    False or the batch is a population's, :mod:`gafit.forms.rows`), else
    :func:`evaluate_grid_numpy`; they agree to rounding.
    """
    if not kernel.available():
        return evaluate_grid_numpy(grid, tab)
    _check_grid(grid, tab)
    if len(grid.drho_b) == 1 and kernel.SINGLE and not as_population():
        energy, forces, virial = kernel_single.fused_single_grid(
            tab.kernel, tab.single_geometry(), tab.dr, grid, tab.n_structures)
    else:
        energy, forces, virial = kernel.fused_eam(tab.kernel, tab.dr, grid, tab.n_structures)
    return Prediction(energy=energy, forces=forces, virial=virial)


def evaluate_grid_numpy(grid: EAMGrid, tab: EAMTable) -> Prediction:
    """The numpy path of :func:`evaluate_grid`: the sparse maps of ``tab`` on the flattened
    tables of the whole batch."""
    _check_grid(grid, tab)
    grid = grid.full()
    n_b = grid.frho_ber.shape[0]
    rhor_xb = _flat(grid.rhor_bsdr)
    z2r_xb = _flat(grid.z2r_bstr)
    rho_bn = np.ascontiguousarray((tab.rho_nx @ rhor_xb).T)
    f_bn, fp_bn = embedding(grid, rho_bn, tab.species_n)
    fp_nb = fp_bn.T
    if tab.drho_at_j_px is None:  # one species: the density of a pair is the same at both ends
        de_dr_pb = (fp_nb[tab.i_p] + fp_nb[tab.j_p]) * (tab.drho_at_i_px @ rhor_xb)
    else:
        de_dr_pb = (fp_nb[tab.i_p] * (tab.drho_at_i_px @ rhor_xb)
                    + fp_nb[tab.j_p] * (tab.drho_at_j_px @ rhor_xb))
    de_dr_pb += tab.dphi_px @ z2r_xb
    energy_sb = tab.energy_sn @ f_bn.T + tab.phi_sx @ z2r_xb
    out_xb = tab.deriv_xp @ de_dr_pb
    n3 = 3 * tab.n_atoms
    return Prediction(
        energy=np.ascontiguousarray(energy_sb.T),
        forces=np.ascontiguousarray(out_xb[:n3].T),
        virial=np.ascontiguousarray(out_xb[n3:].T).reshape(n_b, tab.n_structures, 6),
    )


# --- parameter derivatives -------------------------------------------------------------------


def table_parameter_derivatives(g: EAMGrid, dg: EAMGrid, ddrho_k: np.ndarray | None,
                                tab: EAMTable) -> Prediction:
    """Exact d(energies, forces, virials)/d(parameters) at one vector, through LAMMPS's splines
    of its tables: ``g`` the vector's tables (one individual), ``dg`` their derivatives with
    respect to each parameter (the batch axis; F tables on g's density knots, counting the
    knots' own move with drho), ``ddrho_k`` d(drho)/d(parameter) (None: drho is fixed).

    LAMMPS's spline is linear in its table, so a table's derivative splines to the spline's
    derivative; the density at each atom is linear in the rho tables, and F(rho) brings in F' and
    F'' of LAMMPS's cubic at each atom's density. The F spline at a fixed density also moves
    with drho, through the fraction rho / drho: -(rho / drho) F' per unit of drho (and
    -(rho / drho) F'' - F' / drho for F'), also beyond the table, where F goes on linearly."""
    n_k = dg.rhor_bsdr.shape[0]
    rhor_x = _flat(g.rhor_bsdr)[:, 0]
    rhor_xk, z2r_xk = _flat(dg.rhor_bsdr), _flat(dg.z2r_bstr)
    # most parameters move rho or phi or F alone: the products run over the columns that move
    rho_k = np.flatnonzero(rhor_xk.any(axis=0))
    phi_k = np.flatnonzero(z2r_xk.any(axis=0))
    rho_n = tab.rho_nx @ rhor_x
    drho_nk = np.zeros((len(rho_n), n_k))
    drho_nk[:, rho_k] = tab.rho_nx @ rhor_xk[:, rho_k]  # d(density at each atom)/d(parameter)
    drho = float(g.drho_b[0])
    f1, f2 = _embedding_slopes(g, rho_n, tab.species_n)
    # F(rho_n) and F'(rho_n) of each parameter's F table at the atoms' densities (explicit part)
    df_kn, dfp_kn = _embedding_values(dg, rho_n, tab.species_n, drho)
    if ddrho_k is not None and np.any(ddrho_k):
        q_n = rho_n / drho
        df_kn += np.outer(ddrho_k, -q_n * f1)
        dfp_kn += np.outer(ddrho_k, -q_n * f2 - f1 / drho)
    energy = tab.energy_sn @ (f1[:, None] * drho_nk + df_kn.T)
    energy[:, phi_k] += tab.phi_sx @ z2r_xk[:, phi_k]
    dfp_nk = f2[:, None] * drho_nk + dfp_kn.T  # d(F'(rho_n))/d(parameter)
    at_i = tab.drho_at_i_px
    one = tab.drho_at_j_px is None  # one species: the same density slope at both ends
    at_j = at_i if one else tab.drho_at_j_px
    slope_i_p = at_i @ rhor_x
    slope_j_p = slope_i_p if one else at_j @ rhor_x
    # the F' terms, dF'(rho_i)/dparameter drho_i/dr per pair, summed onto forces and virials
    # through one sparse map per atom: (3N + 6S, N) rather than a (P, parameters) array
    via_n = tab.deriv_xp @ (sp.diags(slope_i_p) @ tab.onto_i_np.T
                            + sp.diags(slope_j_p) @ tab.onto_j_np.T)
    out_xk = via_n @ dfp_nk
    dslope_i = at_i @ rhor_xk[:, rho_k]
    dslope_j = dslope_i if one else at_j @ rhor_xk[:, rho_k]
    out_xk[:, rho_k] += tab.deriv_xp @ (f1[tab.i_p, None] * dslope_i
                                        + f1[tab.j_p, None] * dslope_j)
    out_xk[:, phi_k] += tab.deriv_xp @ (tab.dphi_px @ z2r_xk[:, phi_k])
    out_kx = out_xk.T
    n3 = 3 * tab.n_atoms
    return Prediction(energy=np.ascontiguousarray(energy.T),
                      forces=np.ascontiguousarray(out_kx[:, :n3]),
                      virial=np.ascontiguousarray(out_kx[:, n3:]).reshape(n_k, -1, 6))


def _embedding_slopes(g: EAMGrid, rho_n: np.ndarray, species_n: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """F'(rho) and F''(rho) of LAMMPS's cubic of one F table at each atom's density (F'' = 0
    beyond the table, where LAMMPS extends F linearly)."""
    g = g.full()
    nrho, drho = g.nrho, float(g.drho_b[0])
    coef = spline_coefficients(g.frho_ber[0]).reshape(-1, 4)
    k_n, p_n = rho_lookup(rho_n, drho, nrho)
    c = coef[species_n * nrho + k_n]
    f1 = slope(c, p_n, drho)
    f2 = (6.0 * c[:, 0] * p_n + 2.0 * c[:, 1]) / (drho * drho)
    return f1, np.where(rho_n > (nrho - 1) * drho, 0.0, f2)


def _embedding_values(g: EAMGrid, rho_n: np.ndarray, species_n: np.ndarray, drho: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """F(rho_n) and F'(rho_n) (B, N) of each table of a batch at fixed densities, as LAMMPS
    (linear beyond the table)."""
    n_b = g.frho_ber.shape[0]
    coef = spline_coefficients(g.frho_ber).reshape(n_b, -1, 4)
    k_n, p_n = rho_lookup(rho_n, drho, g.nrho)
    c = coef[:, species_n * g.nrho + k_n]
    f = value(c, p_n)
    fp = slope(c, p_n, drho)
    top = (g.nrho - 1) * drho
    return np.where(rho_n > top, f + fp * (rho_n - top), f), fp
