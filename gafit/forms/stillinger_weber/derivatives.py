"""Analytic derivatives of Stillinger-Weber energies, forces and virials with respect to its
parameters.

The energy is a sum of per-pair terms e_p = 1/2 phi2(r_p) and per-triplet terms
z_t = h_{p_t} h_{q_t} W_t(cos_t), and forces/virials come from the gradient vector
[dE/dr per pair; dE/dcos per triplet] through the fixed linear maps of the table, so
d(E, F, virial)/dθ is those maps applied to the parameter derivatives of

    e_p = 1/2 phi2,   dE/dr_p = 1/2 phi2' + sum_{p_t = p} h'_p h_q W + sum_{q_t = p} h_p h'_q W,
    dE/dcos_t = h_p h_q W'.

A parameter moves three kinds of terms: the two-body ones (epsilon, sigma, a, A, B, p, q of the
pair entry (i, j, j)), the legs h = exp(gamma sigma / (r - a sigma)) (sigma, a, gamma of (i, j, j))
and the angular factor W = lambda eps (cos - costheta0)² (epsilon, lambda, costheta0 of the
triplet entries (i, j, k) and (i, k, j), each with weight 1/2 when they differ). Each is a small
function below; the columns are gathered as (row, parameter, value) and the maps applied to
the used ones, dense, a block of them at a time. tol is a
setting (not fittable): its rows are zero, like those of the parameters LAMMPS never reads.

Names end in what they index: ``_p`` pairs, ``_t`` triplets, ``_k`` parameters.
"""

from __future__ import annotations

import numpy as np

from gafit.forms.base import Form, Prediction
from gafit.forms.stillinger_weber.evaluate import (
    BIG_A,
    BIG_B,
    COS0,
    EPS,
    GAMMA,
    LAM,
    SIGMA,
    SMALL_A,
    TOL,
    P,
    Q,
    reach,
)
from gafit.forms.stillinger_weber.table import SWTable
from gafit.structures import GafitInputError


def exponent_params(r: np.ndarray, sigma: np.ndarray, a: np.ndarray, c: np.ndarray | float,
                    ) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """x = c sigma / (r - a sigma) and dx/dr (1/Å); then {parameter: (dx/dθ, d²x/dr dθ)} for
    sigma (1/Å, 1/Å²), a (1, 1/Å) and, when c is gamma, gamma (1, 1/Å)."""
    u = r - a * sigma
    iu = 1.0 / u
    x = c * sigma * iu
    x_r = -x * iu
    out = {
        SIGMA: (c * r * iu * iu, -c * (r + a * sigma) * iu * iu * iu),
        SMALL_A: (c * sigma * sigma * iu * iu, -2.0 * c * sigma * sigma * iu * iu * iu),
        GAMMA: (sigma * iu, -sigma * iu * iu),
    }
    return np.stack([x, x_r]), out


def power_params(r: np.ndarray, sigma: np.ndarray, big_b: np.ndarray, p: np.ndarray,
                 q: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                         dict[int, tuple[np.ndarray, np.ndarray]]]:
    """w = B (sigma/r)^p - (sigma/r)^q and dw/dr (1/Å); then {parameter: (dw/dθ, d²w/dr dθ)} for
    B, p, q and sigma."""
    ls = np.log(sigma / r)
    sp_ = np.exp(p * ls)
    sq = np.exp(q * ls)
    bsp = big_b * sp_
    w = bsp - sq
    w_r = (q * sq - p * bsp) / r
    out = {
        BIG_B: (sp_, -p * sp_ / r),
        P: (bsp * ls, -bsp * (1.0 + p * ls) / r),
        Q: (-sq * ls, sq * (1.0 + q * ls) / r),
        SIGMA: ((p * bsp - q * sq) / sigma, (q * q * sq - p * p * bsp) / (r * sigma)),
    }
    return w, w_r, out


def two_body_params(r: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                           dict[int, tuple[np.ndarray, np.ndarray]]]:
    """phi2 (eV), dphi2/dr (eV/Å) of pairs at ``r`` with per-row parameters ``v`` (rows, 11), and
    {parameter: (dphi2/dθ, d²phi2/dr dθ)} for epsilon, sigma, a, A, B, p, q. Rows must lie inside
    the reach (r < a sigma)."""
    eps, sigma, a, big_a = v[:, EPS], v[:, SIGMA], v[:, SMALL_A], v[:, BIG_A]
    (x, x_r), xd = exponent_params(r, sigma, a, 1.0)
    w, w_r, wd = power_params(r, sigma, v[:, BIG_B], v[:, P], v[:, Q])
    big_x = np.exp(x)
    k = big_a * eps
    phi = k * w * big_x
    phi_r = k * big_x * (w_r + w * x_r)
    zero = np.zeros_like(r)
    out = {EPS: (big_a * w * big_x, big_a * big_x * (w_r + w * x_r)),
           BIG_A: (eps * w * big_x, eps * big_x * (w_r + w * x_r))}
    for m in (SIGMA, SMALL_A, BIG_B, P, Q):
        w_t, w_rt = wd.get(m, (zero, zero))
        x_t, x_rt = xd[m] if m in (SIGMA, SMALL_A) else (zero, zero)
        out[m] = (k * big_x * (w_t + w * x_t),
                  k * big_x * (w_rt + w_r * x_t + w_t * x_r + w * x_t * x_r + w * x_rt))
    return phi, phi_r, out


def leg_params(r: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                      dict[int, tuple[np.ndarray, np.ndarray]]]:
    """h = exp(gamma sigma / (r - a sigma)), dh/dr (1/Å) with per-row parameters ``v`` (rows, 11),
    and {parameter: (dh/dθ, d²h/dr dθ)} for sigma, a, gamma. Rows inside the reach."""
    (x, x_r), xd = exponent_params(r, v[:, SIGMA], v[:, SMALL_A], v[:, GAMMA])
    h = np.exp(x)
    return h, h * x_r, {m: (h * x_t, h * (x_t * x_r + x_rt)) for m, (x_t, x_rt) in xd.items()}


def angular_params(cos: np.ndarray, eps: np.ndarray, lam: np.ndarray, cos0: np.ndarray,
                   ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """{parameter: (dW/dθ, d²W/dcos dθ)} of W = lambda eps (cos - cos0)² for epsilon, lambda,
    costheta0 (eV per unit of θ)."""
    dc = cos - cos0
    return {EPS: (lam * dc * dc, 2.0 * lam * dc), LAM: (eps * dc * dc, 2.0 * eps * dc),
            COS0: (-2.0 * lam * eps * dc, -2.0 * lam * eps)}


#: most elements of one dense block of derivative columns (float64: 256 MiB)
BLOCK_ELEMENTS = 1 << 25


class _Columns:
    """(rows, parameters) matrices gathered as (row, column, value) pieces, duplicates summed,
    handed out dense a few columns at a time (:meth:`dense`): a few of the parameters' columns
    are used, and sparse maps applied to dense columns cost far less than sparse products.
    The rows of one piece are sorted and distinct (each piece is one term of one parameter)."""

    def __init__(self, n_rows: int, n_cols: int) -> None:
        self.shape = (n_rows, n_cols)
        self.used = np.zeros(n_cols, bool)  # columns some piece writes
        # (rows: a slice where contiguous, cols: an int where one column, values)
        self.pieces: list[tuple[np.ndarray | slice, np.ndarray | int, np.ndarray]] = []
        self.repeated: list[tuple[np.ndarray, np.ndarray | int, np.ndarray]] = []  # rows repeat

    def add(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray,
            repeated: bool = False) -> None:
        """Add ``vals`` at (rows, cols); rows sorted and distinct unless ``repeated``."""
        if len(rows) == 0:
            return
        cols = np.broadcast_to(cols, rows.shape)
        col: np.ndarray | int = int(cols[0]) if np.all(cols == cols[0]) else cols
        if isinstance(col, int):
            self.used[col] = True
        else:
            self.used[np.bincount(cols, minlength=self.shape[1]) > 0] = True
        if repeated:
            self.repeated.append((rows, col, vals))
            return
        at = (slice(int(rows[0]), int(rows[-1]) + 1)
              if int(rows[-1]) - int(rows[0]) == len(rows) - 1 else rows)
        self.pieces.append((at, col, vals))

    def dense(self, cols: np.ndarray) -> np.ndarray:
        """The columns ``cols`` (C,) as a dense (n_rows, C) array."""
        out_c = np.zeros((len(cols), self.shape[0]))  # a column a row: contiguous writes
        local = np.full(self.shape[1], -1)
        local[cols] = np.arange(len(cols))
        for at, col, vals in self.pieces:
            if isinstance(col, int):
                if local[col] >= 0:
                    out_c[local[col], at] += vals
                continue
            rows = np.arange(at.start, at.stop) if isinstance(at, slice) else at
            loc = local[col]
            keep = loc >= 0
            out_c[loc[keep], rows[keep]] += vals[keep]  # (column, row) pairs distinct
        n_rows = self.shape[0]
        for rows, col, vals in self.repeated:
            if isinstance(col, int):
                if local[col] >= 0:
                    out_c[local[col]] += np.bincount(rows, weights=vals, minlength=n_rows)
                continue
            loc = local[col]
            keep = loc >= 0
            out_c.reshape(-1)[:] += np.bincount(loc[keep] * n_rows + rows[keep],
                                                weights=vals[keep], minlength=out_c.size)
        return np.ascontiguousarray(out_c.T)


def sw_parameter_derivatives(form: Form, theta: np.ndarray, tab: SWTable) -> Prediction:
    """d(energy, forces, virial)/dθ at one vector ``theta`` (n_params,): a Prediction whose batch
    axis is the parameter index (zero rows for tol and the parameters LAMMPS never reads)."""
    theta = np.asarray(theta, float)
    if form.interaction_range(theta) > tab.cutoff:
        raise GafitInputError(f"sw: parameters need a neighbour cutoff of "
                              f"{form.interaction_range(theta):g} Å (max a sigma) but the tables "
                              f"were built with {tab.cutoff:g} Å")
    npar = len(form.params)
    n_k = len(theta)
    par = theta.reshape(-1, npar)
    n_p, n_t = len(tab.r_p), len(tab.cos_t)

    # --- pairs inside their entry's reach: two-body term and leg
    v_p = par[tab.ent_p]
    inside = np.flatnonzero(tab.r_p < reach(v_p[:, SIGMA], v_p[:, SMALL_A], v_p[:, GAMMA],
                                            v_p[:, TOL]))
    r_in, v_in = tab.r_p[inside], v_p[inside]
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        _, _, phi_d = two_body_params(r_in, v_in)
        h_in, hr_in, h_d = leg_params(r_in, v_in)
    h_p, hr_p = np.zeros(n_p), np.zeros(n_p)
    h_p[inside], hr_p[inside] = h_in, hr_in
    col_in = tab.ent_p[inside] * npar

    de = _Columns(n_p, n_k)  # d e_p
    dz = _Columns(n_t, n_k)  # d z_t
    dgrad = _Columns(n_p + n_t, n_k)  # d [dE/dr per pair; dE/dcos per triplet], radial part direct
    p_t, q_t = tab.p_t, tab.q_t  # the radial parts go to pair ij and pair ik of each triplet
    for m, (phi_t, phir_t) in phi_d.items():
        de.add(inside, col_in + m, 0.5 * np.nan_to_num(phi_t))
        dgrad.add(inside, col_in + m, 0.5 * np.nan_to_num(phir_t))

    # --- triplets: angular factor and its entries
    ent1 = tab.ent_t
    ent2 = np.empty_like(ent1)
    for _, e2, s0, s1 in tab.trip_slices:
        ent2[s0:s1] = e2
    wt = np.where(ent1 == ent2, 1.0, 0.5)
    cos = tab.cos_t
    w_t, dw_t = np.zeros(n_t), np.zeros(n_t)
    for ent in (ent1, ent2):
        dc = cos - par[ent, COS0]
        le = par[ent, LAM] * par[ent, EPS]
        w_t += wt * le * dc * dc
        dw_t += wt * 2.0 * le * dc
    w_t[ent1 == ent2] *= 0.5  # counted twice above
    dw_t[ent1 == ent2] *= 0.5
    hp, hq, hrp, hrq = h_p[tab.p_t], h_p[tab.q_t], hr_p[tab.p_t], hr_p[tab.q_t]
    # per triplet, the leg products times the entry's weight
    fpq, frpq, fprq = wt * hp * hq, wt * hrp * hq, wt * hp * hrq
    for ent, first in ((ent1, True), (ent2, False)):
        keep = np.arange(n_t) if first else np.flatnonzero(ent1 != ent2)
        at = slice(None) if first else keep  # no copies of every triplet's values
        e_t = ent[at]
        for m, (w_m, dw_m) in angular_params(cos[at], par[e_t, EPS], par[e_t, LAM],
                                             par[e_t, COS0]).items():
            cols = e_t * npar + m
            dz.add(keep, cols, fpq[at] * w_m)
            dgrad.add(n_p + keep, cols, fpq[at] * dw_m)
            dgrad.add(p_t[keep], cols, frpq[at] * w_m, repeated=True)
            dgrad.add(q_t[keep], cols, fprq[at] * w_m, repeated=True)

    # --- legs: sigma, a, gamma of the pair entry of either leg
    pos = np.full(n_p, -1)
    pos[inside] = np.arange(len(inside))
    for legs, other, other_r, is_p in ((tab.p_t, hq, hrq, True), (tab.q_t, hp, hrp, False)):
        at = pos[legs]
        on = np.flatnonzero((at >= 0) & (other != 0.0))
        at = at[on]
        base = tab.ent_p[legs[on]] * npar
        for m, (h_m, hr_m) in h_d.items():
            cols = base + m
            hm, hrm = np.nan_to_num(h_m[at]), np.nan_to_num(hr_m[at])
            dz.add(on, cols, hm * other[on] * w_t[on])
            dgrad.add(n_p + on, cols, hm * other[on] * dw_t[on])
            if is_p:
                dgrad.add(p_t[on], cols, hrm * other[on] * w_t[on], repeated=True)
                dgrad.add(q_t[on], cols, hm * other_r[on] * w_t[on], repeated=True)
            else:
                dgrad.add(p_t[on], cols, other_r[on] * hm * w_t[on], repeated=True)
                dgrad.add(q_t[on], cols, other[on] * hrm * w_t[on], repeated=True)

    # the maps applied to the used columns, a block of them at a time
    n3 = 3 * tab.n_atoms
    energy_ks = np.zeros((n_k, tab.n_structures))
    fx_kx = np.zeros((n_k, tab.deriv_xq.shape[0]))
    used = np.flatnonzero(de.used | dz.used | dgrad.used)
    step = max(1, BLOCK_ELEMENTS // max(n_t + n_p, 1))
    for b in range(0, len(used), step):
        cols = used[b : b + step]
        grad = dgrad.dense(cols)
        energy_ks[cols] = (tab.energy_sp @ de.dense(cols) + tab.energy_st @ dz.dense(cols)).T
        fx_kx[cols] = (tab.deriv_xq @ grad).T
    fittable = form.fittable()[:, None]
    return Prediction(
        energy=energy_ks * fittable,
        forces=np.ascontiguousarray(fx_kx[:, :n3] * fittable),
        virial=np.ascontiguousarray(fx_kx[:, n3:] * fittable).reshape(n_k, tab.n_structures, 6),
    )
