"""Analytic derivatives of Tersoff energies, forces and virials with respect to its parameters.

Forward (tangent) mode through the coefficients of :meth:`Tersoff.evaluate`. There, energies come
from per-pair energies e_p and forces/virials from the gradient vector [dE/dr per pair; dE/dcos per
triplet] through fixed linear maps on the table, so d(E, F, virial)/dθ_k is those maps applied to
de_p/dθ_k and d(grad)/dθ_k. The coefficients are (ordered pairs p = i->j, triplets t = (ij, ik) on
pair p_t = ij, with q_t = ik)

    e_p      = 1/2 f_C (f_R + b f_A)                              (eV)
    u_p      = 1/2 [f_C' (f_R + b f_A) + f_C (f_R' + b f_A')]    (eV/Å, dE/dr_ij at fixed zeta)
    w_p      = 1/2 f_C f_A db/dzeta                               (eV, dE/dzeta_ij)
    zeta_p   = sum_{p_t = p} z_t,   z_t = f_C(r_ik) g(cos) exp_t
    dE/dr_p  = u_p + sum_{p_t = p} w_p a_t + sum_{q_t = p} w_{p_t} c_t,   dE/dcos_t = w_{p_t} s_t

with a_t, c_t, s_t = dz_t/dr_ij, dz_t/dr_ik, dz_t/dcos. A parameter of the triplet entry (i, j, k)
(gamma, lambda3, c, d, h and the R, D of f_C(r_ik)) changes z_t of that entry's triplets, hence
zeta, e, u and w of the pairs of entry (i, j, j), hence every triplet on those pairs; a parameter of
the pair entry (i, j, j) (n, beta, lambda2, B, lambda1, A and the R, D of f_C(r_ij)) changes e, u, w
of its pairs. So the derivatives are computed per *group* (i, j): the pairs of entry (i, j, j), the
triplets of the entries (i, j, k) for every k, and the parameters that move them; each parameter
belongs to exactly one group. Discrete switches (m) and parameters LAMMPS never reads (n, beta,
lambda2, B, lambda1, A of entries with j != k) get zero rows.

The tangents, for a parameter θ: dzeta_p = sum_{p_t = p} dz_t (own entry's parameters only);
de_p, du_p, dw_p = their direct derivatives + (w_p, du_p/dzeta, dw_p/dzeta) dzeta_p; then
d(dE/dcos_t) = dw_{p_t} s_t + w_{p_t} ds_t and d(dE/dr_p) = du_p + sum_{p_t = p} (dw_p a_t +
w_p da_t) + sum_{q_t = p} (dw_{p_t} c_t + w_{p_t} dc_t). Each physical function's value and
parameter derivatives (including those of its r-, cos- or zeta-derivative) are a small function
below.

Work arrays are parameter-major, (parameters, rows), so that every elementwise step runs over
contiguous rows; they are transposed once into the (rows, parameters) layout of the sparse maps.
The table keeps each entry's pairs and triplets sorted by distance, so f_C = 1, its smooth part
and f_C = 0 are contiguous row ranges (the last skipped, the first without the cutoff terms).
Columns that are exactly zero are left out: R, D when no distance lies in R - D < r < R + D, and
lambda1, A (which do not enter dE/dzeta) skip the triplet maps. The pieces of the table's maps
each group needs are cut once per table and kept while the table lives.

Names end in what they index: ``_p`` pairs, ``_t`` triplets, ``_k`` parameters (columns), ``_x``
forces then virials (3N + 6S rows), ``_s`` structures.

With numba, :func:`tersoff_parameter_derivatives` runs the same chain rule as one fused pass over
the atoms instead (:mod:`gafit.forms.tersoff.jacobian_kernel`, 3-4 times cheaper); the group loops
here are the path without numba and the reference it is tested against.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from gafit.forms.base import Form, Prediction
from gafit.forms.tersoff import jacobian_kernel
from gafit.forms.tersoff.evaluate import (
    BETA,
    BIG_A,
    BIG_B,
    BIG_D,
    BIG_R,
    BLOCK_ELEMENTS,
    EXP_CLAMP,
    GAMMA,
    LAM1,
    LAM2,
    LAM3,
    SMALL_D,
    C,
    H,
    M,
    N,
    bond_order_thresholds,
)
from gafit.forms.tersoff.table import TersoffTable, _scratch
from gafit.structures import GafitInputError

#: parameters of a triplet entry (i, j, k) that enter zeta_ij (rows of the triplet derivatives)
TRIPLET_PARAMS = (GAMMA, C, SMALL_D, H, LAM3, BIG_R, BIG_D)
#: parameters of the pair entry (i, j, j) that enter only the pair term (its R, D are those of the
#: triplet entry (i, j, j): one parameter, two roles); lambda1 and A do not enter dE/dzeta
PAIR_PARAMS = (N, BETA, LAM2, BIG_B, LAM1, BIG_A)
#: triplet rows per block of the derivative loops (temporaries stay in cache)
BLOCK_ROWS = BLOCK_ELEMENTS // 4


# --------------------------------------------------------------------------- physical functions
# Values and their parameter derivatives, elementwise: distances/cosines and parameters broadcast
# together (per-row parameter arrays or scalars).


def cutoff_fc_params(r: np.ndarray, big_r: np.ndarray | float, big_d: np.ndarray | float,
                     ) -> tuple[np.ndarray, ...]:
    """f_C(r) (1), df_C/dr (1/Å), then df_C/dR, df_C/dD (1/Å) and d²f_C/dr dR, d²f_C/dr dD (1/Å²).

    f_C = 1/2 - 1/2 sin(pi/2 x), x = (r - R)/D, between R - D and R + D; every derivative is 0
    outside (and on the borders), as in :func:`gafit.forms.tersoff.evaluate.cutoff_fc`.
    """
    x = (r - big_r) / big_d
    np.clip(x, -1.0, 1.0, out=x)
    inside = np.abs(x) < 1.0
    phase = 0.5 * np.pi * x
    sin, cos = np.sin(phase), np.cos(phase)
    fc = 0.5 - 0.5 * sin
    k1 = 0.25 * np.pi / big_d  # 1/Å
    k2 = k1 * 0.5 * np.pi / big_d  # 1/Å²
    dfc = -k1 * cos * inside
    d2fc = k2 * sin * inside  # d²f_C/dr²
    # f_C depends on (r - R)/D: d/dR = -d/dr, d/dD = -x d/dr (and d/dr of that for the mixed ones)
    return fc, dfc, -dfc, -x * dfc, -d2fc, -x * d2fc - dfc / big_d


def repulsion_params(r: np.ndarray, a: float, lam1: float) -> tuple[np.ndarray, ...]:
    """f_R = A exp(-lambda1 r) (eV), df_R/dr (eV/Å); by A: df_R/dA (1), d²f_R/dr dA (1/Å); by
    lambda1: df_R/dlambda1 (eV Å), d²f_R/dr dlambda1 (eV)."""
    ex = np.exp(-lam1 * r)
    fr = a * ex
    return fr, -lam1 * fr, ex, -lam1 * ex, -r * fr, fr * (lam1 * r - 1.0)


def attraction_params(r: np.ndarray, b: float, lam2: float) -> tuple[np.ndarray, ...]:
    """f_A = -B exp(-lambda2 r) (eV), df_A/dr (eV/Å); by B: df_A/dB (1), d²f_A/dr dB (1/Å); by
    lambda2: df_A/dlambda2 (eV Å), d²f_A/dr dlambda2 (eV)."""
    ex = np.exp(-lam2 * r)
    fa = -b * ex
    return fa, -lam2 * fa, -ex, lam2 * ex, -r * fa, fa * (lam2 * r - 1.0)


def angular_params(cos: np.ndarray, gamma: np.ndarray | float, c: np.ndarray | float,
                   d: np.ndarray | float, h: np.ndarray | float) -> tuple[np.ndarray, ...]:
    """g = gamma (1 + c²/d² - c²/(d² + (h - cos)²)) and dg/dcos (dimensionless, all of them); then
    (4, rows) arrays of the derivatives of g and of dg/dcos by gamma, c, d, h."""
    u = h - cos
    inv = 1.0 / (d * d + u * u)
    inv2 = inv * inv
    c2 = c * c
    g0 = 1.0 + c2 / (d * d) - c2 * inv  # g / gamma
    dg0 = -2.0 * c2 * u * inv2  # (dg/dcos) / gamma
    g_kt = np.empty((4,) + np.shape(cos))
    dg_kt = np.empty_like(g_kt)
    g_kt[0] = g0
    g_kt[1] = gamma * 2.0 * c * (1.0 / (d * d) - inv)
    g_kt[2] = gamma * 2.0 * c2 * (d * inv2 - 1.0 / (d * d * d))
    np.multiply(dg0, -gamma, out=g_kt[3])
    dg_kt[0] = dg0
    dg_kt[1] = gamma * -4.0 * c * u * inv2
    dg_kt[2] = gamma * 8.0 * c2 * u * d * inv2 * inv
    dg_kt[3] = gamma * -2.0 * c2 * inv2 * (1.0 - 4.0 * u * u * inv)
    return gamma * g0, gamma * dg0, g_kt, dg_kt


def radial_params(dr: np.ndarray, lam3: np.ndarray | float, m: np.ndarray | float,
                  ) -> tuple[np.ndarray, ...]:
    """exp(arg), arg = (lambda3 dr)^m (m = 3 or 1), dr = r_ij - r_ik (Å): its value and
    d/d(dr) (1/Å) as :func:`gafit.forms.tersoff.evaluate.radial_exp` (with LAMMPS's clamp: 1e30 above
    arg = 69.0776, 0 below -69.0776), then their lambda3-derivatives (Å, 1). Where the value is
    clamped it does not move with lambda3, but d/d(dr) = darg/d(dr) * 1e30 still does."""
    t = lam3 * dr
    if np.ndim(m) == 0:  # one entry: no per-row choice
        if m == 3:
            t2 = t * t
            arg, arg_l = t2 * t, 3.0 * t2 * dr  # and darg/dlambda3
            darg, darg_l = 3.0 * lam3 * t2, 9.0 * t2  # darg/d(dr) and its lambda3-derivative
        else:
            arg, arg_l, darg, darg_l = t, dr, lam3, 1.0
    else:
        cube = np.asarray(m) == 3
        with np.errstate(over="ignore", invalid="ignore"):
            arg = np.where(cube, t * t * t, t)
            arg_l = np.where(cube, 3.0 * t * t * dr, dr)
            darg = np.where(cube, 3.0 * lam3 * t * t, lam3)
            darg_l = np.where(cube, 9.0 * t * t, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        ex = np.exp(arg)
        if np.max(np.abs(arg), initial=0.0) > EXP_CLAMP:
            ex = np.where(arg > EXP_CLAMP, 1e30, np.where(arg < -EXP_CLAMP, 0.0, ex))
            ex_l = np.where(np.abs(arg) <= EXP_CLAMP, arg_l * ex, 0.0)
        else:
            ex_l = arg_l * ex
        return ex, darg * ex, ex_l, darg_l * ex + darg * ex_l


def bond_order_params(zeta: np.ndarray, beta: float, n: float) -> tuple[np.ndarray, ...]:
    """b(zeta) of :func:`gafit.forms.tersoff.evaluate.bond_order` (dimensionless, LAMMPS's branches) and
    db/dzeta, d²b/dzeta², db/dbeta, d²b/dzeta dbeta, db/dn, d²b/dzeta dn, each branch's exact
    derivatives.

    With t = beta zeta and f = db/dt: db/dzeta = beta f, d²b/dzeta² = beta² f', db/dbeta = zeta f,
    d²b/dzeta dbeta = f + t f', d²b/dzeta dn = beta df/dn. Branches as LAMMPS: t > c1: b = t^-1/2;
    t > c2: b = (1 - t^-n/2n) t^-1/2; t < c4: b = 1; t < c3: b = 1 - t^n/2n; else
    b = (1 + t^n)^(-1/2n).
    """
    t = zeta * beta
    c1, c2, c3, c4 = bond_order_thresholds(np.asarray(n, float))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lt = np.log(t)
        tn = np.exp(n * lt)  # t^n
        l1p = np.log1p(tn)
        b = np.exp(l1p * (-0.5 / n))
        q = tn / (1.0 + tn)
        f = -0.5 * b * q / t
        f1 = f / t * (n * (1.0 - q) - 1.0 - 0.5 * q)  # df/dt
        b_n = b * (0.5 * l1p / (n * n) - 0.5 * q * lt / n)
        f_n = -0.5 / t * (b_n * q + b * q * (1.0 - q) * lt)
        # overwrite in reverse order of LAMMPS's tests, so that the first test that holds wins
        sel = t < c3
        if sel.any():
            np.copyto(b, 1.0 - tn / (2.0 * n), where=sel)
            np.copyto(f, -0.5 * tn / t, where=sel)
            np.copyto(f1, -0.5 * (n - 1.0) * tn / (t * t), where=sel)
            np.copyto(b_n, tn * (0.5 / (n * n) - 0.5 * lt / n), where=sel)
            np.copyto(f_n, -0.5 * tn * lt / t, where=sel)
        sel = t < c4
        if sel.any():
            for arr, value in ((b, 1.0), (f, 0.0), (f1, 0.0), (b_n, 0.0), (f_n, 0.0)):
                np.copyto(arr, value, where=sel)
        sel2, sel1 = t > c2, t > c1
        if sel2.any():
            rs = np.exp(-0.5 * lt)  # t^-1/2
            tmn = 1.0 / tn  # t^-n
            k = 1.0 + 0.5 / n
            np.copyto(b, (1.0 - tmn / (2.0 * n)) * rs, where=sel2)
            np.copyto(f, -0.5 * rs / t * (1.0 - k * tmn), where=sel2)
            np.copyto(f1, rs / (t * t) * (0.75 - 0.5 * k * (n + 1.5) * tmn), where=sel2)
            np.copyto(b_n, rs * tmn * (0.5 * lt / n + 0.5 / (n * n)), where=sel2)
            np.copyto(f_n, 0.5 * rs / t * tmn * (-0.5 / (n * n) - k * lt), where=sel2)
            if sel1.any():
                np.copyto(b, rs, where=sel1)
                np.copyto(f, -0.5 * rs / t, where=sel1)
                np.copyto(f1, 0.75 * rs / (t * t), where=sel1)
                np.copyto(b_n, 0.0, where=sel1)
                np.copyto(f_n, 0.0, where=sel1)
    return b, beta * f, beta * beta * f1, zeta * f, f + t * f1, b_n, beta * f_n


# --------------------------------------------------------------------------- per-table geometry


@dataclass
class _Group:
    """Rows of one group (i, j): pairs p0:p1 of entry (i, j, j), triplets t0:t1 of the entries
    (i, j, k), and the pieces of the table's maps they need (geometry only, built once)."""

    a: int  # species index of i
    b: int  # species index of j
    p0: int
    p1: int
    t0: int
    t1: int
    subs: list[tuple[int, int, int]]  # (k, s0, s1): triplets of entry (i, j, k), local to t0
    p_loc_t: np.ndarray  # pair ij of each triplet, local to p0
    ik_t: np.ndarray  # pair ik of each triplet (global)
    ik_order: np.ndarray  # the triplets ordered by pair ik: CSR layout of the (ik <- ij) map
    ik_cols: np.ndarray  # its column indices: pair ij (local) of those triplets
    ik_ptr: np.ndarray  # its row pointer over all P pairs
    energy_sp: sp.csr_matrix  # (S, p1 - p0): pair energy -> structure energy
    pair_xp: sp.csr_matrix  # (3N + 6S, p1 - p0): dE/dr of the group's pairs -> F, virial
    deriv_xq: sp.csr_matrix  # (3N + 6S, P + T_g): [dE/dr of all pairs; dE/dcos of the group]


_GROUPS: dict[tuple[int, int], list[_Group]] = {}


def _groups(tab: TersoffTable, n_sp: int) -> list[_Group]:
    """The groups of ``tab``, built once per table and kept while the table lives."""
    key = (id(tab), n_sp)
    found = _GROUPS.get(key)
    if found is not None:
        return found
    n_p, n_t = len(tab.r_p), len(tab.cos_t)
    pairs = {e: (s0, s1) for e, s0, s1 in tab.pair_slices}
    trips = {e: (s0, s1) for e, s0, s1 in tab.trip_slices}
    out = []
    for a in range(n_sp):
        for b in range(n_sp):
            grp = a * n_sp + b
            if grp * n_sp + b not in pairs:
                continue
            p0, p1 = pairs[grp * n_sp + b]
            spans = [(k, *trips[grp * n_sp + k]) for k in range(n_sp) if grp * n_sp + k in trips]
            t0, t1 = (spans[0][1], spans[-1][2]) if spans else (0, 0)
            ik_t = tab.q_t[t0:t1]
            ik_order = np.argsort(ik_t, kind="stable")
            if t0 == 0 and t1 == n_t:
                deriv = tab.deriv_xq
            else:
                cols = np.concatenate([np.arange(n_p), n_p + np.arange(t0, t1)])
                deriv = tab.deriv_xq[:, cols].tocsr()
            out.append(_Group(
                a=a, b=b, p0=p0, p1=p1, t0=t0, t1=t1,
                subs=[(k, s0 - t0, s1 - t0) for k, s0, s1 in spans],
                p_loc_t=tab.p_t[t0:t1] - p0, ik_t=ik_t,
                ik_order=ik_order, ik_cols=tab.p_t[t0:t1][ik_order] - p0,
                ik_ptr=np.concatenate([[0], np.cumsum(np.bincount(ik_t, minlength=n_p))]),
                energy_sp=tab.energy_sp[:, p0:p1].tocsr(),
                pair_xp=tab.deriv_xq[:, p0:p1].tocsr(),
                deriv_xq=deriv,
            ))
    _GROUPS[key] = out
    weakref.finalize(tab, _GROUPS.pop, key, None)
    return out


# --------------------------------------------------------------------------- the derivatives


def tersoff_parameter_derivatives(form: Form, theta: np.ndarray, tab: TersoffTable) -> Prediction:
    """d(energy, forces, virial)/dθ_k at one parameter vector ``theta`` (n_params,) of ``form``:
    energy (n_params, S) eV per unit of θ_k, forces (n_params, 3N) eV/Å per unit, virial
    (n_params, S, 6) eV per unit. Rows of m and of parameters that never enter are zero.
    """
    theta = np.asarray(theta, float).reshape(-1)
    n_sp = len(form.species)
    n_par = len(form.params)
    if theta.size != form.n_params:
        raise ValueError(f"tersoff: expected {form.n_params} parameters, got {theta.size}")
    need = form.interaction_range(theta)
    if need > tab.cutoff:
        raise GafitInputError(
            f"tersoff: parameters need a neighbour cutoff of {need:g} Å (max R + D) but the "
            f"tables were built with {tab.cutoff:g} Å"
        )
    par = theta.reshape(-1, n_par)
    if jacobian_kernel.available():
        energy, forces, virial = jacobian_kernel.fused_parameter_derivatives(
            tab.kernel, par, np.stack(bond_order_thresholds(par[:, N]), axis=-1), n_sp,
            tab.n_structures)
        return Prediction(energy=energy, forces=forces, virial=virial)
    return _numpy_derivatives(par, tab, n_sp)


def _numpy_derivatives(par: np.ndarray, tab: TersoffTable, n_sp: int) -> Prediction:
    """:func:`tersoff_parameter_derivatives` through the numpy group loops and the table's sparse
    maps (the path without numba, and the reference the fused kernel is tested against)."""
    theta = par.reshape(-1)
    n_s, n3 = tab.n_structures, 3 * tab.n_atoms
    energy_ks = np.zeros((theta.size, n_s))
    fw_kx = np.zeros((theta.size, n3 + 6 * n_s))
    for grp in _groups(tab, n_sp):
        _group_derivatives(grp, par, tab, n_sp, energy_ks, fw_kx)
    return Prediction(energy=energy_ks, forces=np.ascontiguousarray(fw_kx[:, :n3]),
                      virial=fw_kx[:, n3:].reshape(theta.size, n_s, 6))


def _triplet_terms(tab: TersoffTable, rows: slice, q: np.ndarray, inner: bool,
                   zacs_xt: np.ndarray, d_xkt: np.ndarray) -> None:
    """For the triplets ``rows`` (global) of one entry with parameters ``q`` (14,): write z and its
    derivatives a = dz/dr_ij, c = dz/dr_ik (1/Å), s = dz/dcos into ``zacs_xt`` (4, rows), and the
    derivatives of z, a, c, s by the entry's TRIPLET_PARAMS into ``d_xkt`` (4, 7, rows). Each
    parameter changes one factor of z = f_C(r_ik) g(cos) exp(...). ``inner``: every r_ik is below
    R - D, so f_C = 1, c = -a; then the derivatives of c and those by R, D are not written."""
    g, dg, g_kt, dg_kt = angular_params(tab.cos_t[rows], q[GAMMA], q[C], q[SMALL_D], q[H])
    ex, dex, ex_l, dex_l = radial_params(tab.dr_t[rows], q[LAM3], q[M])
    dz_kt, da_kt, dc_kt, ds_kt = d_xkt
    if inner:
        np.multiply(g, ex, out=zacs_xt[0])
        np.multiply(g, dex, out=zacs_xt[1])
        np.negative(zacs_xt[1], out=zacs_xt[2])
        np.multiply(dg, ex, out=zacs_xt[3])
        np.multiply(g_kt, ex, out=dz_kt[:4])
        np.multiply(g_kt, dex, out=da_kt[:4])
        np.multiply(dg_kt, ex, out=ds_kt[:4])
        np.multiply(g, ex_l, out=dz_kt[4])
        np.multiply(g, dex_l, out=da_kt[4])
        np.multiply(dg, ex_l, out=ds_kt[4])
        return
    fc, dfc, fc_r, fc_d, dfc_r, dfc_d = cutoff_fc_params(tab.rik_t[rows], q[BIG_R], q[BIG_D])
    gex, gdex, dgex = g * ex, g * dex, dg * ex
    zacs_xt[0] = fc * gex
    zacs_xt[1] = fc * gdex
    zacs_xt[2] = dfc * gex - zacs_xt[1]
    zacs_xt[3] = fc * dgex
    fex, fdex = fc * ex, fc * dex
    np.multiply(g_kt, fex, out=dz_kt[:4])
    np.multiply(g_kt, fdex, out=da_kt[:4])
    np.multiply(g_kt, dfc * ex - fdex, out=dc_kt[:4])
    np.multiply(dg_kt, fex, out=ds_kt[:4])
    fg = fc * g
    dz_kt[4] = fg * ex_l
    da_kt[4] = fg * dex_l
    dc_kt[4] = dfc * g * ex_l - da_kt[4]
    ds_kt[4] = fc * dg * ex_l
    for row, f_x, df_x in ((5, fc_r, dfc_r), (6, fc_d, dfc_d)):
        dz_kt[row] = f_x * gex
        da_kt[row] = f_x * gdex
        dc_kt[row] = df_x * gex - da_kt[row]
        ds_kt[row] = f_x * dgex


def _pair_terms(r: np.ndarray, zeta: np.ndarray, q: np.ndarray, smooth: slice,
                ) -> tuple[np.ndarray, ...]:
    """For pairs at r (Å, sorted, all below R + D) with zeta and the parameters q (14,) of entry
    (i, j, j), f_C smooth in rows ``smooth`` and 1 before: w = dE/dzeta (eV), du/dzeta (eV/Å),
    dw/dzeta (eV), and the derivatives (3, 8, pairs) of e (eV), u (eV/Å), w (eV) by R, D (pair
    role), then PAIR_PARAMS."""
    fc = np.ones_like(r)
    dfc, fc_r, fc_d, dfc_r, dfc_d = (np.zeros_like(r) for _ in range(5))
    if smooth.stop > smooth.start:
        for arr, value in zip((fc, dfc, fc_r, fc_d, dfc_r, dfc_d),
                              cutoff_fc_params(r[smooth], q[BIG_R], q[BIG_D]), strict=True):
            arr[smooth] = value
    fr, dfr, fr_a, dfr_a, fr_l, dfr_l = repulsion_params(r, q[BIG_A], q[LAM1])
    fa, dfa, fa_b, dfa_b, fa_l, dfa_l = attraction_params(r, q[BIG_B], q[LAM2])
    bo, b_z, b_zz, b_b, b_zb, b_n, b_zn = bond_order_params(zeta, q[BETA], q[N])
    v = fr + bo * fa  # f_R + b f_A
    dv = dfr + bo * dfa
    hfc, hdfc = 0.5 * fc, 0.5 * dfc
    hfa = hfc * fa
    dfa_fc = hdfc * fa + hfc * dfa  # d(1/2 f_C f_A)/dr
    d_xkp = np.empty((3, 8, len(r)))
    de, du, dw = d_xkp
    de[0], de[1] = 0.5 * fc_r * v, 0.5 * fc_d * v
    du[0], du[1] = 0.5 * (dfc_r * v + fc_r * dv), 0.5 * (dfc_d * v + fc_d * dv)
    dw[0], dw[1] = 0.5 * fc_r * fa * b_z, 0.5 * fc_d * fa * b_z
    de[2], du[2], dw[2] = hfa * b_n, b_n * dfa_fc, hfa * b_zn  # n
    de[3], du[3], dw[3] = hfa * b_b, b_b * dfa_fc, hfa * b_zb  # beta
    de[4], du[4], dw[4] = hfc * bo * fa_l, bo * (hdfc * fa_l + hfc * dfa_l), hfc * fa_l * b_z
    de[5], du[5], dw[5] = hfc * bo * fa_b, bo * (hdfc * fa_b + hfc * dfa_b), hfc * fa_b * b_z
    de[6], du[6] = hfc * fr_l, hdfc * fr_l + hfc * dfr_l  # lambda1
    de[7], du[7] = hfc * fr_a, hdfc * fr_a + hfc * dfr_a  # A
    dw[6:] = 0.0  # f_R does not enter dE/dzeta
    return hfa * b_z, dfa_fc * b_z, hfa * b_zz, d_xkp


def _group_derivatives(grp: _Group, par: np.ndarray, tab: TersoffTable, n_sp: int,
                       energy_ks: np.ndarray, fw_kx: np.ndarray) -> None:
    """Write the rows of the group's parameters into ``energy_ks`` (n_params, S) and ``fw_kx``
    (n_params, 3N + 6S)."""
    n_par = par.shape[1]
    e_ij = (grp.a * n_sp + grp.b) * n_sp
    e_pair = e_ij + grp.b
    q2 = par[e_pair]
    n_p = len(tab.r_p)
    n_pg, n_tg = grp.p1 - grp.p0, grp.t1 - grp.t0
    p_loc = grp.p_loc_t
    r = tab.r_p[grp.p0 : grp.p1]  # sorted
    j1, j2 = (int(x) for x in np.searchsorted(r, [q2[BIG_R] - q2[BIG_D], q2[BIG_R] + q2[BIG_D]]))
    regions = []  # (k, s0, i1, i2, s1): f_C(r_ik) = 1 on rows s0:i1, smooth on i1:i2, 0 after
    for k, s0, s1 in grp.subs:
        q = par[e_ij + k]
        rik = tab.rik_t[grp.t0 + s0 : grp.t0 + s1]  # sorted
        i1, i2 = (s0 + int(x) for x in np.searchsorted(rik, [q[BIG_R] - q[BIG_D],
                                                                  q[BIG_R] + q[BIG_D]]))
        regions.append((k, s0, i1, i2, s1))

    # --- columns (rows of the work arrays): gamma c d h lambda3 of each entry (i, j, k) with
    # triplets; n beta lambda2 B; R, D of the entries whose f_C is smooth somewhere (elsewhere
    # they change nothing); then lambda1, A, which do not enter dE/dzeta: no triplet maps
    n_sub = len(regions)
    smooth_k = {k for k, _, i1, i2, _ in regions if i2 > i1} | ({grp.b} if j2 > j1 else set())
    rd_of = {k: 5 * n_sub + 4 + 2 * n for n, k in enumerate(sorted(smooth_k))}
    n_kt = 5 * n_sub + 4 + 2 * len(rd_of)  # columns through the triplet maps
    n_k = n_kt + 2
    cols_k = np.empty(n_k, dtype=np.int64)
    for si, (k, *_rest) in enumerate(regions):
        cols_k[5 * si : 5 * si + 5] = (e_ij + k) * n_par + np.array(TRIPLET_PARAMS[:5])
    cols_k[5 * n_sub : 5 * n_sub + 4] = e_pair * n_par + np.array(PAIR_PARAMS[:4])
    for k, row in rd_of.items():
        cols_k[row : row + 2] = (e_ij + k) * n_par + np.array([BIG_R, BIG_D])
    cols_k[n_kt:] = e_pair * n_par + np.array(PAIR_PARAMS[4:])

    # (first work row, first row of TRIPLET_PARAMS, count) of each entry's own parameters
    own = [[(5 * si, 0, 5)] + ([(rd_of[k], 5, 2)] if i2 > i1 else [])
           for si, (k, _, i1, i2, _) in enumerate(regions)]

    # --- triplets: z, a, c, s and their derivatives by each triplet's own entry
    zacs_xt = _scratch(tab, "pd_zacs", 4, n_tg)
    d_xkt = _scratch(tab, "pd_d", 28, n_tg).reshape(4, 7, n_tg)
    step = BLOCK_ROWS
    for k, s0, i1, i2, s1 in regions:
        q = par[e_ij + k]
        for lo, hi, inner in ((s0, i1, True), (i1, i2, False)):
            for a in range(lo, hi, step):
                b = min(a + step, hi)
                _triplet_terms(tab, slice(grp.t0 + a, grp.t0 + b), q, inner, zacs_xt[:, a:b],
                               d_xkt[:, :, a:b])
        zacs_xt[:, i2:s1] = 0.0
    zeta_p = np.bincount(p_loc, weights=zacs_xt[0], minlength=n_pg)

    # --- pairs: e, u, w and their derivatives, directly and through zeta
    big = _scratch(tab, "pd_euw", 3 * n_k, n_pg).reshape(3, n_k, n_pg)
    big[:] = 0.0
    w_p, du_dzeta, dw_dzeta = np.zeros(n_pg), np.zeros(n_pg), np.zeros(n_pg)
    for a in range(0, j2, step):
        b = min(a + step, j2)
        w_p[a:b], du_dzeta[a:b], dw_dzeta[a:b], d_xkp = _pair_terms(
            r[a:b], zeta_p[a:b], q2, slice(max(j1, a) - a, b - a) if j1 < b else slice(0, 0))
        big[:, 5 * n_sub : 5 * n_sub + 4, a:b] = d_xkp[:, 2:6]
        big[:, n_kt:, a:b] = d_xkp[:, 6:]
        if grp.b in rd_of:
            big[:, rd_of[grp.b] : rd_of[grp.b] + 2, a:b] += d_xkp[:, :2]
    for si, (_, s0, i1, i2, _) in enumerate(regions):
        if i2 > i1:  # R, D rows are read: zero where f_C = 1
            d_xkt[:, 5:, s0:i1] = 0.0
        for row0, d0, cnt in own[si]:
            for c in range(cnt):
                dzeta = np.bincount(p_loc[s0:i2], weights=d_xkt[0, d0 + c, s0:i2],
                                    minlength=n_pg)[:j2]
                for x, coef in enumerate((w_p, du_dzeta, dw_dzeta)):
                    big[x, row0 + c, :j2] += coef[:j2] * dzeta
    big_e, big_u, big_w = big

    # --- triplets again: d(dE/dcos) = dw s + w ds, per block, transposed into the map's layout;
    # w da and w dc (own parameters) go to the pairs ij and ik
    grad_qk = _scratch(tab, "pd_grad", n_p + n_tg, n_kt)
    dcos_tk = grad_qk[n_p:]
    blk_kt = _scratch(tab, "pd_blk", n_kt, step)
    rad_xkt = _scratch(tab, "pd_rad", 14, n_tg).reshape(2, 7, n_tg)
    bw_kp = big_w[:n_kt]
    for si, (_, s0, i1, i2, s1) in enumerate(regions):
        for a, b in _blocks(s0, i1, i2, step):
            bl = blk_kt[:, : b - a]
            pi = p_loc[a:b]
            np.take(bw_kp, pi, axis=1, out=bl)
            bl *= zacs_xt[3, a:b]
            w_t = w_p[pi]
            for row0, d0, cnt in own[si]:
                ds = slice(d0, d0 + cnt)
                bl[row0 : row0 + cnt] += d_xkt[3, ds, a:b] * w_t
                np.multiply(d_xkt[1, ds, a:b], w_t, out=rad_xkt[0, ds, a:b])
                if a >= i1:  # smooth f_C(r_ik); where it is 1, w dc = -w da
                    np.multiply(d_xkt[2, ds, a:b], w_t, out=rad_xkt[1, ds, a:b])
            np.copyto(dcos_tk[a:b], bl.T)
        dcos_tk[i2:s1] = 0.0

    # --- dE/dr of every pair: through dw of pair ij (a_t to ij itself, c_t to ik) and own terms
    dedr_pk = grad_qk[:n_p]
    if n_tg:
        ik_pp = sp.csr_matrix((zacs_xt[2, grp.ik_order], grp.ik_cols, grp.ik_ptr),
                              shape=(n_p, n_pg))
        dedr_pk[...] = ik_pp @ np.ascontiguousarray(bw_kp.T)
    else:
        dedr_pk[...] = 0.0
    a_p = np.bincount(p_loc, weights=zacs_xt[1], minlength=n_pg)
    dedr_pk[grp.p0 : grp.p1] += (big_u[:n_kt] + a_p * bw_kp).T
    p_glob = p_loc + grp.p0
    for si, (_, s0, i1, i2, _) in enumerate(regions):
        for row0, d0, cnt in own[si]:
            for c in range(cnt):
                rad_ij, rad_ik = rad_xkt[0, d0 + c], rad_xkt[1, d0 + c]
                acc = np.bincount(p_glob[s0:i2], weights=rad_ij[s0:i2], minlength=n_p)
                acc -= np.bincount(grp.ik_t[s0:i1], weights=rad_ij[s0:i1], minlength=n_p)
                if i2 > i1:
                    acc += np.bincount(grp.ik_t[i1:i2], weights=rad_ik[i1:i2], minlength=n_p)
                dedr_pk[:, row0 + c] += acc

    energy_ks[cols_k] = (grp.energy_sp @ big_e.T).T
    fw_kx[cols_k[:n_kt]] = (grp.deriv_xq @ grad_qk).T
    for row in range(n_kt, n_k):  # lambda1, A: through the pairs' own dE/dr only
        fw_kx[cols_k[row]] = grp.pair_xp @ big_u[row]


def _blocks(s0: int, i1: int, i2: int, step: int) -> list[tuple[int, int]]:
    """Row blocks of s0:i2 of at most ``step`` rows, none straddling i1."""
    return [(a, min(a + step, hi)) for lo, hi in ((s0, i1), (i1, i2)) for a in range(lo, hi, step)]


def pair_zeta(form: Form, theta: np.ndarray, tab: TersoffTable) -> np.ndarray:
    """zeta_ij of every pair of ``tab`` (dimensionless) at one parameter vector ``theta``."""
    par = np.asarray(theta, float).reshape(-1, len(form.params))
    z_t = np.zeros(len(tab.cos_t))
    for e, s0, s1 in tab.trip_slices:
        q = par[e]
        fc = cutoff_fc_params(tab.rik_t[s0:s1], q[BIG_R], q[BIG_D])[0]
        g = angular_params(tab.cos_t[s0:s1], q[GAMMA], q[C], q[SMALL_D], q[H])[0]
        z_t[s0:s1] = fc * g * radial_params(tab.dr_t[s0:s1], q[LAM3], q[M])[0]
    return tab.zeta_pt @ z_t
