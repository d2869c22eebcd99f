"""Energies, forces and virials of a batch of Stillinger-Weber parameter sets
(:mod:`gafit.forms.stillinger_weber`).

The physical functions of the energy, the column of each of an entry's 11 parameters, and
:func:`evaluate`. Per-pair arrays end in ``_p``, per-triplet ``_t``; batched arrays are laid out
rows x individuals (``_pb``, ``_tb``) so that each entry's rows form one contiguous block.
"""

from __future__ import annotations

import numpy as np

from gafit.forms.base import Form, Prediction
from gafit.forms.rows import vector_by_vector
from gafit.forms.stillinger_weber import kernel, kernel_single
from gafit.forms.stillinger_weber.table import SWTable
from gafit.forms.triplet_file import TripletFileForm

# column of each parameter inside an entry's block, in LAMMPS file order
EPS, SIGMA, SMALL_A, LAM, GAMMA, COS0, BIG_A, BIG_B, P, Q, TOL = range(11)
#: LAMMPS lowers a tol above this to it
TOL_MAX = 0.01
#: rows x individuals per block of the triplet loop (temporaries stay in cache)
BLOCK_ELEMENTS = 32768


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
    step = max(1, BLOCK_ELEMENTS // max(nb, 1))
    for e, s0, s1 in tab.pair_slices:
        v = par[:, e]
        cut = reach(v[:, SIGMA], v[:, SMALL_A], v[:, GAMMA], v[:, TOL])
        for a in range(s0, s1, step):  # blocks of rows: the temporaries stay in cache
            b = min(a + step, s1)
            r = tab.r_p[a:b, None]
            inside = r < cut
            phi, dphi = two_body(r, v[:, EPS], v[:, SIGMA], v[:, SMALL_A], v[:, BIG_A],
                                 v[:, BIG_B], v[:, P], v[:, Q], inside)
            np.multiply(phi, 0.5, out=e_pb[a:b])
            np.multiply(dphi, 0.5, out=dedr_pb[a:b])
            h_pb[a:b], dh_pb[a:b] = leg(r, v[:, SIGMA], v[:, SMALL_A], v[:, GAMMA], inside)
    return e_pb, dedr_pb, h_pb, dh_pb


def _angular_factor(cos: np.ndarray, v: np.ndarray, v2: np.ndarray | None,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """W and dW/dcos (rows, B), eV: the angular factor of entry parameters ``v`` (B, 11), averaged
    with that of ``v2`` (entry (i, k, j) when j and k differ in species: gafit's triplet t stands
    for both orders)."""
    w, dw = angular(cos, v[:, LAM] * v[:, EPS], v[:, COS0])
    if v2 is not None:
        w2, dw2 = angular(cos, v2[:, LAM] * v2[:, EPS], v2[:, COS0])
        w += w2
        w *= 0.5
        dw += dw2
        dw *= 0.5
    return w, dw


def evaluate(form: TripletFileForm, theta: np.ndarray, tables: SWTable) -> Prediction:
    """Energies, forces, virials for a batch (B, n_params); max a sigma must be <= the cutoff.

    E = 1/2 sum over ordered pairs phi2 + sum over triplets (i; j, k), each unordered {j, k}
    once, h_ij h_ik W(cos theta_jik). The fused numba kernels when available (the batch kernel,
    :mod:`gafit.forms.stillinger_weber.kernel`, or :mod:`gafit.forms.stillinger_weber.kernel_single`
    a vector at a time, as :func:`gafit.forms.stillinger_weber.kernel.takes_batch_kernel` says),
    else :func:`evaluate_numpy`; they agree to rounding.
    """
    if not kernel.available():
        return evaluate_numpy(form, theta, tables)
    theta = np.asarray(theta, float)
    form.check_reach(theta, tables.cutoff)
    nb = theta.shape[0]
    par = theta.reshape(nb, len(form.entries()), len(form.params))
    cut = reach(par[..., SIGMA], par[..., SMALL_A], par[..., GAMMA], par[..., TOL])
    q = kernel.derived(par, cut)
    n_sp, n_st = len(form.species), tables.n_structures
    if kernel.takes_batch_kernel(nb, n_sp):
        energy, forces, virial = kernel.fused_sw(tables.kernel, q, n_sp, n_st)
    else:
        energy, forces, virial = vector_by_vector(
            lambda b: kernel_single.fused_single(tables.kernel, q[b : b + 1], n_sp, n_st), nb)
    return Prediction(energy=energy, forces=forces, virial=virial)


def evaluate_numpy(form: TripletFileForm, theta: np.ndarray, tables: SWTable) -> Prediction:
    """The numpy path of :func:`evaluate`: block loops over the pair and triplet tables and the
    sparse maps."""
    tab = tables
    theta = np.asarray(theta, float)
    nb = theta.shape[0]
    form.check_reach(theta, tab.cutoff)
    par = theta.reshape(nb, len(form.entries()), len(form.params))
    n_p, n_t = len(tab.r_p), len(tab.cos_t)
    e_pb, dedr_pb, h_pb, dh_pb = pair_terms(form, par, tab)
    grad_qb = np.empty((n_p + n_t, nb))  # [dE/dr per pair; dE/dcos per triplet]
    rad_qb = np.empty((2 * n_t, nb))  # [d/dr_ij; d/dr_ik] of the triplet energies
    e_tb = np.empty((n_t, nb))  # triplet energies h_ij h_ik W
    step = max(1, BLOCK_ELEMENTS // max(nb, 1))
    for e, e2, s0, s1 in tab.trip_slices:  # blocks of rows: the temporaries stay in cache
        v, v2 = par[:, e], (par[:, e2] if e2 != e else None)
        for a in range(s0, s1, step):
            b = min(a + step, s1)
            w, dw = _angular_factor(tab.cos_t[a:b, None], v, v2)
            pj, pk = tab.p_t[a:b], tab.q_t[a:b]
            hj, hk = h_pb[pj], h_pb[pk]
            hk_w = hk * w
            np.multiply(dh_pb[pj], hk_w, out=rad_qb[a:b])
            np.multiply(hj, hk_w, out=e_tb[a:b])
            w *= hj
            np.multiply(dh_pb[pk], w, out=rad_qb[n_t + a : n_t + b])
            hj *= hk
            np.multiply(hj, dw, out=grad_qb[n_p + a : n_p + b])
    energy = tab.energy_sp @ e_pb + tab.energy_st @ e_tb
    np.add(dedr_pb, tab.radial_pq @ rad_qb, out=grad_qb[:n_p])
    fw = tab.deriv_xq @ grad_qb
    n3 = 3 * tab.n_atoms
    return Prediction(
        energy=np.ascontiguousarray(energy.T),
        forces=np.ascontiguousarray(fw[:n3].T),
        virial=np.ascontiguousarray(fw[n3:].T).reshape(nb, tab.n_structures, 6),
    )
