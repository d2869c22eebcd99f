"""Energies, forces and virials of a batch of ``tersoff/zbl`` parameter sets
(:mod:`gafit.forms.tersoff.zbl`): the columns of the four extra parameters, the ZBL constants of
the style, the Fermi switch and the evaluation loop over the Tersoff tables."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gafit.forms.base import Form, Prediction
from gafit.forms.tersoff.evaluate import (
    BETA,
    BIG_A,
    BIG_B,
    BIG_D,
    BIG_R,
    GAMMA,
    LAM1,
    LAM2,
    LAM3,
    SMALL_D,
    C,
    H,
    M,
    N,
    angular_g,
    attraction_fa,
    bond_order,
    cutoff_fc,
    radial_exp,
    repulsion_fr,
)
from gafit.forms.tersoff.table import TersoffTable
from gafit.forms.zbl import Screening, zbl_raw
from gafit.structures import GafitInputError

# the columns after Tersoff's 14
Z_I, Z_J, ZBL_CUT, ZBL_SCALE = range(14, 18)

#: the ZBL constants of LAMMPS's pair_tersoff_zbl.cpp (metal units)
_A0 = 0.529  # Bohr radius, Å
_EPS0 = 0.00552635  # e² / (eV Å)
TERSOFF_ZBL = Screening(c_k=np.array([0.1818, 0.5099, 0.2802, 0.02817]),
                        d_k=np.array([3.2, 0.9423, 0.4029, 0.2016]),
                        length=0.8854 * _A0, qqr2e=1.0 / (4.0 * np.pi * _EPS0))


def fermi_switch(r: np.ndarray, cut: np.ndarray, scale: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """F = 1 / (1 + exp(-scale (r - cut))) and dF/dr (1/Å), as LAMMPS writes them."""
    ex = np.exp(-scale * (r - cut))
    return 1.0 / (1.0 + ex), scale * ex / (1.0 + ex) ** 2


def pair_terms(r: np.ndarray, col: Callable[[int], np.ndarray], zeta: np.ndarray,
               fc_dfc: tuple[np.ndarray, np.ndarray] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of ordered pairs at r (Å) with the parameters ``col(k)`` of their entry (i, j, j) (arrays
    that broadcast with r) and bond-order argument ``zeta``: (1 - F) V_ZBL + F f_C (f_R + b f_A)
    (eV), its r-derivative at fixed zeta (eV/Å) and F f_C f_A db/dzeta (eV), all 0 from R + D on
    (LAMMPS skips those pairs). ``fc_dfc``: f_C and df_C/dr when already known."""
    fc, dfc = cutoff_fc(r.copy(), col(BIG_R), col(BIG_D)) if fc_dfc is None else fc_dfc
    inside = r < col(BIG_R) + col(BIG_D)
    sw, dsw = fermi_switch(r, col(ZBL_CUT), col(ZBL_SCALE))
    vz, dvz, _ = zbl_raw(r, col(Z_I), col(Z_J), TERSOFF_ZBL)
    fr, dfr = repulsion_fr(r, col(BIG_A), col(LAM1))
    fa, dfa = attraction_fa(r, col(BIG_B), col(LAM2))
    bo, dbo = bond_order(zeta, col(BETA), col(N))
    rep = (1.0 - sw) * vz + sw * fc * fr
    drep = -dsw * vz + (1.0 - sw) * dvz + dsw * fc * fr + sw * (dfc * fr + fc * dfr)
    att = sw * fc * fa  # LAMMPS's ters_fa of tersoff/zbl
    datt = dsw * fc * fa + sw * (dfc * fa + fc * dfa)
    return (np.where(inside, rep + att * bo, 0.0), np.where(inside, drep + datt * bo, 0.0),
            np.where(inside, att * dbo, 0.0))


def evaluate_zbl(form: Form, theta: np.ndarray, tab: TersoffTable) -> Prediction:
    """Energies (B, S), forces (B, 3N) and virials (B, S, 6) of a batch (B, n_params).

    Per ordered pair p = i->j (parameters of (i, j, j)), with f_C, F and r < R + D:
    e_p = 1/2 [(1 - F) V_ZBL + F f_C f_R + F f_C f_A b(zeta_p)]; per triplet t = (ij, ik) the zeta
    term z_t = f_C(r_ik) g(cos) exp(...) with the parameters of (i, j, k). Forces and virials from
    dE/dr per pair and dE/dcos per triplet through the table's maps, dE/dzeta_p = 1/2 F f_C f_A b'.
    """
    theta = np.asarray(theta, float)
    nb = theta.shape[0]
    need = form.interaction_range(theta) if theta.size else 0.0
    if need > tab.cutoff:
        raise GafitInputError(f"tersoff_zbl: parameters need a neighbour cutoff of {need:g} Å "
                              f"(max R + D) but the tables were built with {tab.cutoff:g} Å")
    par = theta.reshape(nb, len(form.entries()), len(form.params))
    n_p, n_t = len(tab.r_p), len(tab.cos_t)

    # f_C(r_ij) of every pair with the R, D of (i, j, j)
    fc_pb, dfc_pb = np.zeros((n_p, nb)), np.zeros((n_p, nb))
    for e, s0, s1 in tab.pair_slices:
        q = par[:, e]
        fc_pb[s0:s1], dfc_pb[s0:s1] = cutoff_fc(tab.r_p[s0:s1, None], q[:, BIG_R], q[:, BIG_D])

    # zeta terms per triplet and their derivatives by r_ij, r_ik, cos
    z_tb = np.zeros((n_t, nb))
    rad_qb = np.zeros((2 * n_t, nb))  # [dz/dr_ij ; dz/dr_ik]
    dcos_tb = np.zeros((n_t, nb))
    for e, s0, s1 in tab.trip_slices:
        q = par[:, e]
        fc, dfc = cutoff_fc(tab.rik_t[s0:s1, None], q[:, BIG_R], q[:, BIG_D])
        g, dg = angular_g(tab.cos_t[s0:s1, None], q[:, GAMMA], q[:, C], q[:, SMALL_D], q[:, H])
        ex, dex = radial_exp(tab.dr_t[s0:s1, None], q[:, LAM3], q[:, M])
        z_tb[s0:s1] = fc * g * ex
        rad_qb[s0:s1] = fc * g * dex
        rad_qb[n_t + s0 : n_t + s1] = dfc * g * ex - fc * g * dex
        dcos_tb[s0:s1] = fc * dg * ex
    zeta_pb = tab.zeta_pt @ z_tb

    # pairs: energies, dE/dr at fixed zeta, dE/dzeta
    e_pb, dedr_pb, w_pb = np.zeros((n_p, nb)), np.zeros((n_p, nb)), np.zeros((n_p, nb))
    for e, s0, s1 in tab.pair_slices:
        q = par[:, e]
        e_pb[s0:s1], dedr_pb[s0:s1], w_pb[s0:s1] = pair_terms(
            tab.r_p[s0:s1, None], lambda k, q=q: q[:, k], zeta_pb[s0:s1],
            (fc_pb[s0:s1], dfc_pb[s0:s1]))
    e_pb *= 0.5
    dedr_pb *= 0.5
    w_pb *= 0.5

    # chain rule through zeta, then scatter to energies, forces and virials
    w_tb = w_pb[tab.p_t]
    rad_qb[:n_t] *= w_tb
    rad_qb[n_t:] *= w_tb
    dcos_tb *= w_tb
    dedr_pb += tab.radial_pq @ rad_qb
    fw = tab.deriv_xq @ np.concatenate([dedr_pb, dcos_tb])
    n3 = 3 * tab.n_atoms
    return Prediction(energy=np.ascontiguousarray((tab.energy_sp @ e_pb).T),
                      forces=np.ascontiguousarray(fw[:n3].T),
                      virial=np.ascontiguousarray(fw[n3:].T).reshape(nb, tab.n_structures, 6))

