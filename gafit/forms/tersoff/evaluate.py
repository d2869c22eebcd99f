"""Energies, forces and virials of a batch of Tersoff parameter sets (:mod:`gafit.forms.tersoff`).

The physical functions of the energy, the column of each of an entry's 14 parameters, and the tuned
block loops of :func:`evaluate`. Per-pair arrays end in ``_p``, per-triplet ``_t``; batched arrays
are laid out rows x individuals (``_pb``, ``_tb``) so that each entry's rows form one contiguous
block.
"""

from __future__ import annotations

import numpy as np

from gafit.forms.base import Prediction
from gafit.forms.tersoff import fused, kernel
from gafit.forms.tersoff.table import TersoffTable, _scratch
from gafit.forms.triplet_file import TripletFileForm

# column of each parameter inside an entry's block
M, GAMMA, LAM3, C, SMALL_D, H, N, BETA, LAM2, BIG_B, BIG_R, BIG_D, LAM1, BIG_A = range(14)
#: LAMMPS clamps exp(arg) of the radial three-body term: 1e30 above, 0 below -EXP_CLAMP
EXP_CLAMP = 69.0776
#: rows x individuals per block of the evaluation loops (temporaries stay in cache)
BLOCK_ELEMENTS = 32768


# --------------------------------------------------------------------------- physical functions
# All take distances/cosines as column arrays (rows, 1) and parameters as (B,) arrays, and return
# (value, derivative) of shape (rows, B).


def cutoff_fc(r: np.ndarray, big_r: np.ndarray, big_d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """f_C(r) and df_C/dr (1/Å): 1 below R-D, 0 above R+D, 1/2 - 1/2 sin(pi/2 (r-R)/D) between."""
    x = (r - big_r) / big_d
    np.clip(x, -1.0, 1.0, out=x)
    inside = np.abs(x) < 1.0
    x *= 0.5 * np.pi
    fc = 0.5 - 0.5 * np.sin(x)
    dfc = np.cos(x)
    dfc *= -0.25 * np.pi / big_d
    dfc *= inside
    return fc, dfc


def repulsion_fr(r: np.ndarray, a: np.ndarray, lam1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """f_R = A exp(-lambda1 r) (eV) and its r-derivative (eV/Å)."""
    fr = np.exp(r * -lam1)
    fr *= a
    return fr, fr * -lam1


def attraction_fa(r: np.ndarray, b: np.ndarray, lam2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """f_A = -B exp(-lambda2 r) (eV) and its r-derivative (eV/Å)."""
    fa = np.exp(r * -lam2)
    fa *= -b
    return fa, fa * -lam2


def angular_g(
    cos: np.ndarray, gamma: np.ndarray, c: np.ndarray, d: np.ndarray, h: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """g = gamma (1 + c²/d² - c²/(d² + (h - cos)²)) and dg/dcos (dimensionless)."""
    c2, d2 = c * c, d * d
    hc = h - cos
    inv = hc * hc
    inv += d2
    np.reciprocal(inv, out=inv)
    g = inv * -c2
    g += 1.0 + c2 / d2
    g *= gamma
    dg = inv * inv
    dg *= hc
    dg *= -2.0 * c2 * gamma
    return g, dg


def radial_exp(dr: np.ndarray, lam3: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """exp(arg), arg = (lambda3 dr)^3 (m = 3) or lambda3 dr (m = 1), dr = r_ij - r_ik (Å); and its
    derivative with respect to dr (1/Å). As LAMMPS: exp is 1e30 for arg > 69.0776, 0 below -69.0776.
    """
    t = dr * lam3
    if np.all(m == 3):
        arg = t * t * t
        darg = t * t
        darg *= 3.0 * lam3
    elif np.all(m == 1):
        arg = t
        darg = np.broadcast_to(lam3, t.shape)
    else:
        cube = m == 3
        arg = np.where(cube, t * t * t, t)
        darg = np.where(cube, 3.0 * lam3 * t * t, lam3)
    big = float(np.max(np.abs(dr), initial=0.0) * np.max(np.abs(lam3), initial=0.0))
    if big > EXP_CLAMP or big > EXP_CLAMP ** (1.0 / 3.0):  # no big**3: it overflows a float
        with np.errstate(over="ignore"):
            ex = np.exp(arg)
        ex = np.where(arg > EXP_CLAMP, 1e30, np.where(arg < -EXP_CLAMP, 0.0, ex))
    else:
        ex = np.exp(arg)
    return ex, darg * ex


def bond_order_thresholds(n: np.ndarray) -> tuple[np.ndarray, ...]:
    """LAMMPS's switch points c1 > c2 > c3 > c4 of the asymptotic branches of b(beta zeta)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        c1 = np.where(n > 0, (2.0 * n * 1e-16) ** (-1.0 / n), 0.0)
        c2 = np.where(n > 0, (2.0 * n * 1e-8) ** (-1.0 / n), 0.0)
        c3 = np.where(n > 0, 1.0 / c2, 0.0)
        c4 = np.where(n > 0, 1.0 / c1, 0.0)
    return c1, c2, c3, c4


def bond_order(zeta: np.ndarray, beta: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """b = (1 + (beta zeta)^n)^(-1/2n) and db/dzeta, with LAMMPS's asymptotic branches.

    With t = beta zeta, LAMMPS tests in this order: t > c1: b = t^-1/2; t > c2:
    b = (1 - t^-n/2n) t^-1/2; t < c4: b = 1; t < c3: b = 1 - t^n/2n; otherwise the full expression.
    """
    t = zeta * beta
    c1, c2, c3, c4 = bond_order_thresholds(n)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lt = np.log(t)
        tn = lt * n
        np.exp(tn, out=tn)  # t^n
        b = np.log1p(tn)
        b *= -0.5 / n
        np.exp(b, out=b)  # (1 + t^n)^(-1/2n)
        db = tn / (1.0 + tn)
        db *= b
        db /= zeta
        db *= -0.5
        # overwrite in reverse order of LAMMPS's tests, so that the first test that holds wins
        sel = t < c3
        if sel.any():
            np.copyto(b, 1.0 - tn / (2.0 * n), where=sel)
            np.copyto(db, -0.5 * beta * tn / t, where=sel)  # -beta/2 t^(n-1)
        sel = t < c4
        if sel.any():
            np.copyto(b, 1.0, where=sel)
            np.copyto(db, 0.0, where=sel)
        sel2, sel1 = t > c2, t > c1
        if sel2.any():
            rs = lt * -0.5
            np.exp(rs, out=rs)  # t^-1/2
            rs3 = rs / t  # t^-3/2
            tmn = 1.0 / tn  # t^-n
            np.copyto(b, (1.0 - tmn / (2.0 * n)) * rs, where=sel2)
            np.copyto(db, -0.5 * beta * rs3 * (1.0 - (1.0 + 0.5 / n) * tmn), where=sel2)
            if sel1.any():
                np.copyto(b, rs, where=sel1)
                np.copyto(db, -0.5 * beta * rs3, where=sel1)
    return b, db


# --------------------------------------------------------------------------- the evaluation loops


def _blocks(r_sorted: np.ndarray, start: int, stop: int, big_r: np.ndarray, big_d: np.ndarray,
            n_cols: int) -> tuple[list[tuple[int, int, bool]], int]:
    """Row blocks (a, b, inner) of rows start:stop (sorted by distance) where f_C is not 0 for every
    individual, ``inner`` when f_C = 1 on the whole block for every individual; and the first row
    i2 from which f_C = 0 for all."""
    part = r_sorted[start:stop]
    i1 = start + int(np.searchsorted(part, np.min(big_r - big_d)))  # r < R - D for all
    i2 = start + int(np.searchsorted(part, np.max(big_r + big_d)))  # r >= R + D for all
    step = max(1, BLOCK_ELEMENTS // max(n_cols, 1))
    return ([(a, min(a + step, i1), True) for a in range(start, i1, step)]
            + [(a, min(a + step, i2), False) for a in range(i1, i2, step)]), i2


def evaluate(form: TripletFileForm, theta: np.ndarray, tables: TersoffTable) -> Prediction:
    """Energies, forces, virials for a batch (B, n_params); max R + D must be <= the cutoff.

    The fused numba kernel (:mod:`gafit.forms.tersoff.kernel`) when available, else
    :func:`evaluate_numpy`; the two agree to rounding.
    """
    if not kernel.available():
        return evaluate_numpy(form, theta, tables)
    theta = np.asarray(theta, float)
    form.check_reach(theta, tables.cutoff)
    nb = theta.shape[0]
    par = theta.reshape(nb, len(form.entries()), len(form.params))
    energy, forces, virial = fused.fused_tersoff(tables, kernel_constants(form, par),
                                                 len(form.species))
    return Prediction(energy=energy, forces=forces, virial=virial)


def kernel_constants(form: TripletFileForm, par: np.ndarray) -> np.ndarray:
    """The kernels' constants (:func:`gafit.forms.tersoff.kernel.derived`) of ``par`` (B,
    entries, 14), kept for the next call with the same vectors: a fit evaluates one vector on its
    training set and then on each phonon supercell set and property cell, each its own table."""
    last = getattr(form, "_last_constants", None)
    if last is not None and last[0].shape == par.shape and np.array_equal(last[0], par):
        return last[1]
    q = kernel.derived(par, bond_order_thresholds(par[..., N]))
    form._last_constants = (par.copy(), q)
    return q


def evaluate_numpy(form: TripletFileForm, theta: np.ndarray, tables: TersoffTable) -> Prediction:
    """The numpy path of :func:`evaluate`: tuned block loops over the pair and triplet tables and
    the sparse maps. Work arrays are kept on ``tables`` between calls (one evaluation at a time
    per table).
    """
    tab = tables
    theta = np.asarray(theta, float)
    nb = theta.shape[0]
    form.check_reach(theta, tab.cutoff)
    par = theta.reshape(nb, len(form.entries()), len(form.params))
    n_p, n_t = len(tab.r_p), len(tab.cos_t)
    n_sp = len(form.species)

    # --- f_C(r_ij) of every pair, with the R, D of its entry (i, j, j)
    fc_pb = _scratch(tab, "fc", n_p, nb)
    dfc_pb = _scratch(tab, "dfc", n_p, nb)
    pair_blocks = []
    for e, s0, s1 in tab.pair_slices:
        q = par[:, e]
        blocks, i2 = _blocks(tab.r_p, s0, s1, q[:, BIG_R], q[:, BIG_D], nb)
        pair_blocks.append((q, blocks, i2, s1))
        fc_pb[i2:s1] = 0.0
        dfc_pb[i2:s1] = 0.0
        for a, b, inner in blocks:
            if inner:
                fc_pb[a:b] = 1.0
                dfc_pb[a:b] = 0.0
            else:
                fc_pb[a:b], dfc_pb[a:b] = cutoff_fc(tab.r_p[a:b, None], q[:, BIG_R],
                                                    q[:, BIG_D])

    # --- triplets: zeta terms and their derivatives (before the factor dE/dzeta_ij)
    z_tb = _scratch(tab, "z", n_t, nb)
    rad_qb = _scratch(tab, "rad", 2 * n_t, nb)  # [d/dr_ij ; d/dr_ik] of the zeta term
    grad_qb = _scratch(tab, "grad", n_p + n_t, nb)  # [dE/dr per pair ; dE/dcos per triplet]
    dedr_pb, dcos_tb = grad_qb[:n_p], grad_qb[n_p:]
    for e, s0, s1 in tab.trip_slices:
        q = par[:, e]
        big_r, big_d = q[:, BIG_R], q[:, BIG_D]
        # f_C(r_ik) is that of pair ik when entry (i, k, k) has the same R, D as (i, j, k)
        ikk = par[:, (e // (n_sp * n_sp) * n_sp + e % n_sp) * n_sp + e % n_sp]
        same_cut = (np.array_equal(big_r, ikk[:, BIG_R])
                    and np.array_equal(big_d, ikk[:, BIG_D]))
        flat = not np.any(q[:, LAM3])  # exp term = 1
        blocks, i2 = _blocks(tab.rik_t, s0, s1, big_r, big_d, nb)
        for arr in (z_tb, dcos_tb):  # f_C(r_ik) = 0 for every individual
            arr[i2:s1] = 0.0
        rad_qb[i2:s1] = 0.0
        rad_qb[n_t + i2 : n_t + s1] = 0.0
        if flat:
            rad_qb[s0:i2] = 0.0
        for a, b, inner in blocks:
            g, dg = angular_g(tab.cos_t[a:b, None], q[:, GAMMA], q[:, C], q[:, SMALL_D],
                              q[:, H])
            lo, hi = a + n_t, b + n_t  # rows of d/dr_ik
            if inner:  # f_C(r_ik) = 1 for every individual
                if flat:
                    z_tb[a:b] = g
                    rad_qb[lo:hi] = 0.0
                    dcos_tb[a:b] = dg
                else:
                    ex, dex = radial_exp(tab.dr_t[a:b, None], q[:, LAM3], q[:, M])
                    np.multiply(g, ex, out=z_tb[a:b])
                    np.multiply(g, dex, out=rad_qb[a:b])
                    np.negative(rad_qb[a:b], out=rad_qb[lo:hi])
                    np.multiply(dg, ex, out=dcos_tb[a:b])
                continue
            if same_cut:
                fc = np.take(fc_pb, tab.q_t[a:b], axis=0)
                dfc = np.take(dfc_pb, tab.q_t[a:b], axis=0)
            else:
                fc, dfc = cutoff_fc(tab.rik_t[a:b, None], big_r, big_d)
            if flat:
                np.multiply(fc, g, out=z_tb[a:b])
                np.multiply(dfc, g, out=rad_qb[lo:hi])
                np.multiply(fc, dg, out=dcos_tb[a:b])
            else:
                ex, dex = radial_exp(tab.dr_t[a:b, None], q[:, LAM3], q[:, M])
                fg = fc * g
                np.multiply(fg, ex, out=z_tb[a:b])
                np.multiply(fg, dex, out=rad_qb[a:b])
                dfc *= g
                dfc *= ex
                np.subtract(dfc, rad_qb[a:b], out=rad_qb[lo:hi])
                fc *= dg
                np.multiply(fc, ex, out=dcos_tb[a:b])
    zeta_pb = tab.zeta_pt @ z_tb

    # --- pairs: energies, dE/dr and dE/dzeta
    e_pb = _scratch(tab, "e", n_p, nb)
    w_pb = _scratch(tab, "w", n_p, nb)
    for q, blocks, i2, s1 in pair_blocks:
        for arr in (e_pb, dedr_pb, w_pb):  # f_C(r_ij) = 0 for every individual
            arr[i2:s1] = 0.0
        for a, b, inner in blocks:
            r = tab.r_p[a:b, None]
            fr, dfr = repulsion_fr(r, q[:, BIG_A], q[:, LAM1])
            fa, dfa = attraction_fa(r, q[:, BIG_B], q[:, LAM2])
            bo, dbo = bond_order(zeta_pb[a:b], q[:, BETA], q[:, N])
            np.multiply(fa, dbo, out=w_pb[a:b])  # f_A db/dzeta
            fa *= bo
            fr += fa  # f_R + b f_A
            dfa *= bo
            dfr += dfa  # d(f_R + b f_A)/dr at fixed zeta
            if inner:  # f_C = 1
                e_pb[a:b] = fr
                dedr_pb[a:b] = dfr
                continue
            fc, dfc = fc_pb[a:b], dfc_pb[a:b]
            w_pb[a:b] *= fc
            np.multiply(fc, fr, out=e_pb[a:b])
            dfr *= fc
            fr *= dfc
            np.add(dfr, fr, out=dedr_pb[a:b])
    # E = 1/2 sum over ordered pairs
    e_pb *= 0.5
    dedr_pb *= 0.5
    w_pb *= 0.5

    # --- chain rule through zeta, then scatter to energies, forces and virials
    w_tb = np.take(w_pb, tab.p_t, axis=0, out=z_tb, mode="clip")  # dE/dzeta_ij per triplet
    rad_qb[:n_t] *= w_tb
    rad_qb[n_t:] *= w_tb
    dcos_tb *= w_tb
    dedr_pb += tab.radial_pq @ rad_qb
    fw = tab.deriv_xq @ grad_qb
    n3 = 3 * tab.n_atoms
    return Prediction(
        energy=np.ascontiguousarray((tab.energy_sp @ e_pb).T),
        forces=np.ascontiguousarray(fw[:n3].T),
        virial=np.ascontiguousarray(fw[n3:].T).reshape(nb, tab.n_structures, 6),
    )
