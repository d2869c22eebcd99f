"""Energies, forces and virials of a batch of Stillinger-Weber parameter sets
(:mod:`gafit.forms.stillinger_weber`).

The physical functions of the energy, the column of each of an entry's 11 parameters, and
:func:`evaluate`. Per-pair arrays end in ``_p``, per-triplet ``_t``; batched arrays are laid out
rows x individuals (``_pb``, ``_tb``) so that each entry's rows form one contiguous block.
"""

from __future__ import annotations

import numpy as np

from gafit.forms.base import Form, Prediction
from gafit.forms.stillinger_weber.table import SWTable
from gafit.structures import GafitInputError

# column of each parameter inside an entry's block, in LAMMPS file order
EPS, SIGMA, SMALL_A, LAM, GAMMA, COS0, BIG_A, BIG_B, P, Q, TOL = range(11)
#: LAMMPS lowers a tol above this to it
TOL_MAX = 0.01


# --------------------------------------------------------------------------- physical functions
# Distances/cosines come as column arrays (rows, 1), parameters as (B,) arrays (or rows of
# parameters of the same shape); results are (rows, B).


def reach(sigma: np.ndarray, a: np.ndarray, gamma: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """LAMMPS's neighbour cutoff of an entry (Å): a sigma, shortened by min(gamma, 1) sigma / ln tol
    when tol > 0 (tol above 0.01 taken as 0.01). A pair at or beyond it has no two-body term and
    is no leg of a three-body term."""
    tol = np.minimum(tol, TOL_MAX)
    with np.errstate(divide="ignore"):
        short = np.where(tol > 0.0, np.minimum(gamma, 1.0) * sigma / np.log(np.where(tol > 0, tol, 0.5)),
                         0.0)
    return a * sigma + short


def leg_exponent(r: np.ndarray, sigma: np.ndarray, a: np.ndarray, c: np.ndarray | float,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x = c sigma / (r - a sigma) (dimensionless) and dx/dr (1/Å), and u = r - a sigma (Å)."""
    u = r - a * sigma
    with np.errstate(divide="ignore", invalid="ignore"):
        x = c * sigma / u
        dx = -x / u
    return x, dx, u


def leg(r: np.ndarray, sigma: np.ndarray, a: np.ndarray, gamma: np.ndarray, inside: np.ndarray,
        ) -> tuple[np.ndarray, np.ndarray]:
    """h = exp(gamma sigma / (r - a sigma)), the radial factor of a three-body leg, and dh/dr (1/Å);
    0 where ``inside`` is False (beyond the entry's reach)."""
    x, dx, _ = leg_exponent(r, sigma, a, gamma)
    with np.errstate(over="ignore", invalid="ignore"):
        h = np.where(inside, np.exp(np.where(inside, x, 0.0)), 0.0)
        dh = np.where(inside & (h > 0.0), h * dx, 0.0)
    return h, dh


def _power(ls: np.ndarray, expo: np.ndarray) -> np.ndarray:
    """(sigma/r)^expo from ls = ln(sigma/r): one column when the batch shares the exponent (p and q
    are usually fixed in a fit)."""
    if expo.size and np.all(expo == expo.flat[0]):
        return np.ones_like(ls) if expo.flat[0] == 0 else np.exp(ls * expo.flat[0])
    return np.exp(ls * expo)


def two_body(r: np.ndarray, eps: np.ndarray, sigma: np.ndarray, a: np.ndarray, big_a: np.ndarray,
             big_b: np.ndarray, p: np.ndarray, q: np.ndarray, inside: np.ndarray,
             ) -> tuple[np.ndarray, np.ndarray]:
    """phi2 = A eps (B (sigma/r)^p - (sigma/r)^q) exp(sigma / (r - a sigma)) (eV) and dphi2/dr
    (eV/Å); 0 where ``inside`` is False."""
    x, dx, _ = leg_exponent(r, sigma, a, 1.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ex = np.exp(np.where(inside, x, -np.inf))
        ls = np.log(sigma / r)
        sp = big_b * _power(ls, p)
        sq = _power(ls, q)
        k = big_a * eps
        phi = k * (sp - sq) * ex
        dphi = np.where(ex > 0.0, k * ex * ((q * sq - p * sp) / r) + phi * dx, 0.0)
    return np.where(inside, phi, 0.0), dphi


def angular(cos: np.ndarray, le: np.ndarray, cos0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """w = lambda eps (cos - cos0)² (eV) and dw/dcos (eV), ``le`` = lambda eps."""
    dc = cos - cos0
    w = le * dc
    return w * dc, 2.0 * w


# --------------------------------------------------------------------------- the evaluation


def pair_terms(form: Form, par: np.ndarray, tab: SWTable) -> tuple[np.ndarray, ...]:
    """Per pair and individual (P, B): 1/2 phi2, 1/2 dphi2/dr, h and dh/dr, with the parameters
    of each pair's entry (i, j, j); ``par`` is (B, entries, 11)."""
    n_p, nb = len(tab.r_p), par.shape[0]
    e_pb, dedr_pb = np.zeros((n_p, nb)), np.zeros((n_p, nb))
    h_pb, dh_pb = np.zeros((n_p, nb)), np.zeros((n_p, nb))
    for e, s0, s1 in tab.pair_slices:
        v = par[:, e]
        r = tab.r_p[s0:s1, None]
        inside = r < reach(v[:, SIGMA], v[:, SMALL_A], v[:, GAMMA], v[:, TOL])
        phi, dphi = two_body(r, v[:, EPS], v[:, SIGMA], v[:, SMALL_A], v[:, BIG_A], v[:, BIG_B],
                             v[:, P], v[:, Q], inside)
        e_pb[s0:s1] = 0.5 * phi
        dedr_pb[s0:s1] = 0.5 * dphi
        h_pb[s0:s1], dh_pb[s0:s1] = leg(r, v[:, SIGMA], v[:, SMALL_A], v[:, GAMMA], inside)
    return e_pb, dedr_pb, h_pb, dh_pb


def triplet_angular(form: Form, par: np.ndarray, tab: SWTable) -> tuple[np.ndarray, np.ndarray]:
    """W and dW/dcos per triplet and individual (T, B), eV: the angular factor of entry (i, j, k),
    averaged with that of (i, k, j) when j and k differ in species (gafit's triplet t stands for
    both orders)."""
    n_t, nb = len(tab.cos_t), par.shape[0]
    w_tb, dw_tb = np.empty((n_t, nb)), np.empty((n_t, nb))
    for e, e2, s0, s1 in tab.trip_slices:
        cos = tab.cos_t[s0:s1, None]
        v = par[:, e]
        w, dw = angular(cos, v[:, LAM] * v[:, EPS], v[:, COS0])
        if e2 != e:
            v2 = par[:, e2]
            w2, dw2 = angular(cos, v2[:, LAM] * v2[:, EPS], v2[:, COS0])
            w = 0.5 * (w + w2)
            dw = 0.5 * (dw + dw2)
        w_tb[s0:s1], dw_tb[s0:s1] = w, dw
    return w_tb, dw_tb


def evaluate(form: Form, theta: np.ndarray, tables: SWTable) -> Prediction:
    """Energies, forces, virials for a batch (B, n_params); max a sigma must be <= the cutoff.

    E = 1/2 sum over ordered pairs phi2 + sum over triplets (i; j, k), each unordered {j, k}
    once, h_ij h_ik W(cos theta_jik).
    """
    tab = tables
    theta = np.asarray(theta, float)
    nb = theta.shape[0]
    need = form.interaction_range(theta) if theta.size else 0.0
    if need > tab.cutoff:
        raise GafitInputError(
            f"sw: parameters need a neighbour cutoff of {need:g} Å (max a sigma) but the tables "
            f"were built with {tab.cutoff:g} Å"
        )
    par = theta.reshape(nb, len(form.entries()), len(form.params))
    n_p, n_t = len(tab.r_p), len(tab.cos_t)
    e_pb, dedr_pb, h_pb, dh_pb = pair_terms(form, par, tab)
    w_tb, dw_tb = triplet_angular(form, par, tab)
    hj = np.take(h_pb, tab.p_t, axis=0)
    hk = np.take(h_pb, tab.q_t, axis=0)
    grad_qb = np.empty((n_p + n_t, nb))  # [dE/dr per pair; dE/dcos per triplet]
    rad_qb = np.empty((2 * n_t, nb))  # [d/dr_ij; d/dr_ik] of the triplet energies
    e_tb = hk * w_tb  # h_ik W
    np.take(dh_pb, tab.p_t, axis=0, out=rad_qb[:n_t])
    rad_qb[:n_t] *= e_tb
    e_tb *= hj  # h_ij h_ik W: the triplet energies
    w_tb *= hj  # h_ij W
    np.take(dh_pb, tab.q_t, axis=0, out=rad_qb[n_t:])
    rad_qb[n_t:] *= w_tb
    hj *= hk
    np.multiply(hj, dw_tb, out=grad_qb[n_p:])
    energy = tab.energy_sp @ e_pb + tab.energy_st @ e_tb
    np.add(dedr_pb, tab.radial_pq @ rad_qb, out=grad_qb[:n_p])
    fw = tab.deriv_xq @ grad_qb
    n3 = 3 * tab.n_atoms
    return Prediction(
        energy=np.ascontiguousarray(energy.T),
        forces=np.ascontiguousarray(fw[:n3].T),
        virial=np.ascontiguousarray(fw[n3:].T).reshape(nb, tab.n_structures, 6),
    )
