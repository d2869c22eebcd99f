"""Energies, forces and virials of EAM potentials from their tables, the way LAMMPS's ``pair_style
eam`` computes them (:mod:`gafit.forms.eam.spline` for the splines).

    E = sum_i F_i(rho_i) + sum_{i<j} phi_ij(r_ij),   rho_i = sum_{j != i} rho_{j->i}(r_ij)

``rho_{j->i}`` is the density at atom i due to neighbour j (it depends on the species of both in
``eam/fs`` files, on j's alone in ``eam/alloy``); tables hold r phi(r) (``z2r``) as LAMMPS's do.
Densities beyond the F table (rho > (nrho - 1) drho) extend F linearly with its slope at the end.

Geometry is built once (:func:`build_table`): a half neighbour list (each pair once, an image of
an atom a neighbour of its own), its places in the r tables, and sparse maps. Per-pair arrays end
in ``_p``, per-atom ``_n``, batched ones start with the individual: ``_bp``, ``_bn``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from gafit.forms.base import Prediction
from gafit.forms.eam.spline import r_lookup, rho_lookup, slope, spline_coefficients, value
from gafit.geometry import index_atoms, neighbour_pairs, pair_maps
from gafit.structures import ReferenceSet


@dataclass
class EAMGrid:
    """Tabulated functions of B potentials on one r grid (the numbers of a setfl/fs file).

    ``rhor_bsdr[b, s, d]`` is the density at an atom of species d due to a neighbour of species s;
    ``z2r_bstr`` is r phi(r) in eV Å, symmetric in its species; ``frho_ber`` F(rho) in eV.
    """

    nr: int
    dr: float  # Å
    nrho: int
    drho_b: np.ndarray  # (B,) density spacing of each individual's F table
    frho_ber: np.ndarray  # (B, E, nrho)
    rhor_bsdr: np.ndarray  # (B, E, E, nr)
    z2r_bstr: np.ndarray  # (B, E, E, nr)


@dataclass
class EAMTable:
    """Half neighbour list of a reference set in one r grid, with maps to E, F and virials."""

    r_p: np.ndarray  # (P,) Å
    i_p: np.ndarray  # (P,) first atom of each pair (global index)
    j_p: np.ndarray  # (P,) second atom
    species_n: np.ndarray  # (N,) species index of each atom
    frac_p: np.ndarray  # (P,) fraction of its r interval
    z2r_p: np.ndarray  # (P,) index into the flattened (E, E, nr) z2r table
    at_i_p: np.ndarray  # (P,) index into flattened rhor of the density at i due to j
    at_j_p: np.ndarray  # (P,) index of the density at j due to i
    onto_i_np: sp.csr_matrix  # (N, P) sums per-pair values onto atom i
    onto_j_np: sp.csr_matrix  # (N, P) onto atom j
    energy_sn: sp.csr_matrix  # (S, N) per-atom energy -> structure energy
    energy_sp: sp.csr_matrix  # (S, P) per-pair energy -> structure energy
    deriv_xp: sp.csr_matrix  # (3N + 6S, P) dE/dr per pair -> forces, virials
    n_species: int
    nr: int
    dr: float
    n_atoms: int
    n_structures: int

    @property
    def work_per_individual(self) -> int:
        """Float64 temporaries per individual: gathered spline coefficients of three functions per
        pair with their values and slopes, and a few per atom."""
        return 20 * len(self.r_p) + 12 * self.n_atoms


def build_table(species: list[str], cutoff: float, nr: int, dr: float,
                refset: ReferenceSet) -> EAMTable:
    """Pairs with r < ``cutoff`` (Å) and their places in r tables of ``nr`` points spaced ``dr``."""
    idx = index_atoms(refset, species)
    pairs = neighbour_pairs(refset, cutoff, half=True, what="EAM cutoff")
    n_at, n_st, n_e = idx.n_atoms, idx.n_structures, len(species)
    e_i = idx.species_n[pairs.i_p]
    e_j = idx.species_n[pairs.j_p]
    k_p, frac_p = r_lookup(pairs.r_p, dr, nr)
    n_p = len(pairs.r_p)
    ones, cols = np.ones(n_p), np.arange(n_p)
    energy_sp, deriv_xp = pair_maps(pairs, n_at, n_st)
    return EAMTable(
        r_p=pairs.r_p,
        i_p=pairs.i_p,
        j_p=pairs.j_p,
        species_n=idx.species_n,
        frac_p=frac_p,
        z2r_p=(e_i * n_e + e_j) * nr + k_p,
        at_i_p=(e_j * n_e + e_i) * nr + k_p,
        at_j_p=(e_i * n_e + e_j) * nr + k_p,
        onto_i_np=sp.csr_matrix((ones, (pairs.i_p, cols)), shape=(n_at, n_p)),
        onto_j_np=sp.csr_matrix((ones, (pairs.j_p, cols)), shape=(n_at, n_p)),
        energy_sn=sp.csr_matrix((np.ones(n_at), (idx.struct_n, np.arange(n_at))),
                                shape=(n_st, n_at)),
        energy_sp=energy_sp,
        deriv_xp=deriv_xp,
        n_species=n_e,
        nr=nr,
        dr=dr,
        n_atoms=n_at,
        n_structures=n_st,
    )


def embedding(grid: EAMGrid, rho_bn: np.ndarray, species_n: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """F(rho) (eV) and F'(rho) per individual and atom, F extended linearly beyond its table."""
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


def densities(grid: EAMGrid, tab: EAMTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The density at each atom per individual (B, N), and the spline coefficients (B, P, 4) of
    each pair's density at its first and at its second atom."""
    if tab.nr != grid.nr or tab.dr != grid.dr:
        raise ValueError(f"EAM tables on r grid ({grid.nr}, {grid.dr}) but geometry built for "
                         f"({tab.nr}, {tab.dr})")
    rho_coef = spline_coefficients(grid.rhor_bsdr).reshape(grid.frho_ber.shape[0], -1, 4)
    c_at_i = rho_coef[:, tab.at_i_p]
    c_at_j = rho_coef[:, tab.at_j_p]
    p = tab.frac_p
    rho_bn = (tab.onto_i_np @ value(c_at_i, p).T + tab.onto_j_np @ value(c_at_j, p).T).T
    return rho_bn, c_at_i, c_at_j


def evaluate_grid(grid: EAMGrid, tab: EAMTable) -> Prediction:
    """Energies, forces and virials of each individual's tables on the geometry ``tab``."""
    n_b = grid.frho_ber.shape[0]
    p = tab.frac_p
    rho_bn, c_at_i, c_at_j = densities(grid, tab)
    f_bn, fp_bn = embedding(grid, rho_bn, tab.species_n)
    c_z = spline_coefficients(grid.z2r_bstr).reshape(n_b, -1, 4)[:, tab.z2r_p]
    recip = 1.0 / tab.r_p
    phi_bp = value(c_z, p) * recip
    dphi_bp = slope(c_z, p, grid.dr) * recip - phi_bp * recip
    de_dr_bp = (fp_bn[:, tab.i_p] * slope(c_at_i, p, grid.dr)
                + fp_bn[:, tab.j_p] * slope(c_at_j, p, grid.dr) + dphi_bp)
    energy = (tab.energy_sn @ f_bn.T + tab.energy_sp @ phi_bp.T).T
    out_xb = tab.deriv_xp @ de_dr_bp.T
    n3 = 3 * tab.n_atoms
    return Prediction(
        energy=np.ascontiguousarray(energy),
        forces=np.ascontiguousarray(out_xb[:n3].T),
        virial=np.ascontiguousarray(out_xb[n3:].T).reshape(n_b, tab.n_structures, 6),
    )
