"""A fused Tersoff Jacobian kernel (numba): the derivatives of energies, forces and virials with
respect to every parameter, at one parameter vector, in one pass over the atoms.

The same physics and chain rule as :mod:`gafit.forms.tersoff.derivatives` (the numpy path, which
stays as the tested reference): forward mode, each per-pair and per-triplet intermediate carried
with its derivatives by the parameters that move it. It reads the centre-atom geometry of the
evaluation's kernel (:class:`gafit.forms.tersoff.kernel.KernelGeometry`): per atom i, its pairs
ij, every triplet (ij, ik) as a pair of its rows, with no per-triplet tables and no sparse
products.

A parameter belongs to one *group* (i, j) of species: the triplet parameters (gamma, c, d, h,
lambda3, R, D) of the entries (i, j, k), every k, move zeta_ij; the pair parameters (n, beta,
lambda2, B, lambda1, A) and R, D of (i, j, j) move the pair terms of i->j. So the derivatives of
pair ij's terms are a vector over its group's L = 7 n_species + 6 *local* parameters: 7 columns
per third species k (gamma c d h lambda3 R D of (i, j, k)), then n beta lambda2 B lambda1 A of
(i, j, j). The R, D of (i, j, j) are one parameter in its two roles (f_C(r_ij) and f_C(r_ik) with
k of species j), so both add into the same column. Per atom, the sums run over local
parameters; each per-pair and per-atom sum is then added into the row of the full vector that its
group's local parameter maps to (no per-group outputs to transpose afterwards).

The atoms are taken in chunks of about :data:`CHUNK_PAIRS` pairs (so that the work arrays stay
in cache), each through phases:

0. the chunk's pairs within some entry's R + D and its live ordered triplets (ij, ik) (r_ij
   within its pair's R + D, r_ik within its entry's) are listed, rows from 0;
1. per triplet, one loop per run of one entry (:func:`_triplet_run`): z = f_C(r_ik) g(cos)
   exp(...) and a, c, s = dz/dr_ij, dz/dr_ik, dz/dcos with their derivatives by the 7
   parameters of its entry (i, j, k), 32 numbers laid out per triplet; zeta_ij and dzeta_ij
   summed;
2. per pair, a vectorised loop per run of one entry (:func:`_pair_run`): the cutoff, the two
   exponentials and the bond order's logs and powers; then per pair (:func:`_pair_columns`)
   the energy e, u = dE/dr at fixed zeta, w = dE/dzeta and their derivatives by the group's
   parameters (direct, plus through dzeta);
3. per atom, the derivatives of each triplet's forces on j and k, -(a u_ij + s dcos/dd_ij) dw -
   (da u_ij + ds dcos/dd_ij) w on j and likewise with c on k: dw_ij times the triplet's force
   per unit w on k (3 L per triplet), the same on j summed over the pair's triplets first and
   multiplied by dw_ij once per pair, and w times the force derivatives by the triplet's own 7
   parameters; then per pair du u_ij and the sums scattered to the forces and virial.

With one species the kernel is compiled with the number of columns L = 13 as a constant
(:func:`_jacobian_kernel_one`), so that the compiler unrolls the column loops.

Set ``ENABLED = False`` (or run without numba) for the numpy path.
"""

from __future__ import annotations

import math

import numpy as np

from gafit.forms.jit import njit
from gafit.forms.tersoff.kernel import KernelGeometry
from gafit.forms.tersoff.kernel_single import _chunk_end, _run_end
from gafit.forms.vec_math import vexp_fma as vexp
from gafit.forms.vec_math import vlog_fma as vlog
from gafit.forms.vec_math import vsin_cos_fma as vsin_cos

try:
    import numba
except ImportError:  # pragma: no cover - numba is optional
    numba = None

#: set False to force the numpy path (tests compare the two)
ENABLED = numba is not None

# the parameter columns of an entry (as gafit.forms.tersoff.evaluate; repeated so that the compiled
# functions see them as constants)
_M, _GAMMA, _LAM3, _C, _SMALL_D, _H, _N, _BETA, _LAM2, _BIG_B, _BIG_R, _BIG_D, _LAM1, _BIG_A = range(14)
_EXP_CLAMP = 69.0776

#: pairs per chunk of atoms (more when one atom has more): the chunk's per-pair and per-triplet
#: work arrays then stay in the core's cache
CHUNK_PAIRS = 256

#: the local columns of a third species k: these parameters of entry (i, j, k), at 7 k + position
TRIPLET_COLUMNS = (_GAMMA, _C, _SMALL_D, _H, _LAM3, _BIG_R, _BIG_D)
#: then these of entry (i, j, j), at 7 n_species + position
PAIR_COLUMNS = (_N, _BETA, _LAM2, _BIG_B, _LAM1, _BIG_A)
_NT = len(TRIPLET_COLUMNS)


def available() -> bool:
    return ENABLED and numba is not None


#: fused multiply-adds only (no reassociation, no assumptions on inf and NaN): the derivatives
#: equal to rounding
_FASTMATH = {"contract"}


def _njit(fn=None, inline="never"):
    return njit(fn, inline=inline, fastmath=_FASTMATH)


def local_width(n_species: int) -> int:
    """L: the number of local parameters of a group (i, j)."""
    return _NT * n_species + len(PAIR_COLUMNS)


# --------------------------------------------------------------------------- per-row phases
# Each loops over the rows t0:t1 of one entry, whose constants it reads once (uint64 indices:
# numba then does not wrap negative ones, which would stop the compiler vectorising the loop).


@_njit(inline="always")
def _cutoff_v(r, big_r, big_d):
    """f_C, df_C/dr (1/Å), df_C/dR, df_C/dD (1/Å), d²f_C/dr dR, d²f_C/dr dD (1/Å²) at r (Å),
    all 0 but f_C outside the band; selects instead of branches, and the polynomial sine and
    cosine, so that a loop over pairs vectorises."""
    x = (r - big_r) / big_d
    inner = x <= -1.0
    outer = x >= 1.0
    band = not (inner | outer)
    xb = x if band else 0.0
    sn, cs = vsin_cos(0.5 * math.pi * xb)
    k1 = 0.25 * math.pi / big_d
    dfc = -k1 * cs if band else 0.0
    d2fc = k1 * 0.5 * math.pi / big_d * sn if band else 0.0
    fc = 1.0 if inner else (0.5 - 0.5 * sn if band else 0.0)
    return fc, dfc, -dfc, -xb * dfc, -d2fc, -xb * d2fc - dfc / big_d


@_njit(inline="always")
def _cutoff_b(r, big_r, inv_d):
    """:func:`_cutoff_v` with 1/D, for a loop that does not vectorise: a branch skips the sine
    and cosine where f_C is 1 or 0 (most distances lie inside R - D)."""
    x = (r - big_r) * inv_d
    if x <= -1.0:
        return 1.0, 0.0, 0.0, 0.0, 0.0, 0.0
    if x >= 1.0:
        return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    sn, cs = vsin_cos(0.5 * math.pi * x)
    k1 = 0.25 * math.pi * inv_d
    dfc = -k1 * cs
    d2fc = k1 * 0.5 * math.pi * inv_d * sn
    return 0.5 - 0.5 * sn, dfc, -dfc, -x * dfc, -d2fc, -x * d2fc - dfc * inv_d


@_njit
def _triplet_run(q, e, t0, t1, geo_tx, zd_tx):
    """Triplets t0:t1 (ij, ik) of entry e at r_ij, r_ik (Å) and cos theta geo_tx[t, 0:3]: z,
    a, c, s = z and dz/dr_ij, dz/dr_ik (1/Å), dz/dcos into zd_tx[t, 0:4]; their derivatives
    by gamma c d h lambda3 R D (x, p) into zd_tx[t, 4 + 7 x + p]. z = f_C(r_ik) g(cos) exp(...),
    each parameter moving one factor."""
    gamma, c, d, h = q[e, _GAMMA], q[e, _C], q[e, _SMALL_D], q[e, _H]
    lam3, big_r, inv_big_d = q[e, _LAM3], q[e, _BIG_R], 1.0 / q[e, _BIG_D]
    cube = q[e, _M] == 3.0
    c2, d2 = c * c, d * d
    g_inf = 1.0 + c2 / d2  # g0 far from h
    inv_d2, inv_d3 = 1.0 / d2, 1.0 / (d2 * d)
    for t in range(np.uint64(t0), np.uint64(t1)):
        u = h - geo_tx[t, 2]
        inv = 1.0 / (d2 + u * u)
        inv2 = inv * inv
        g0 = g_inf - c2 * inv
        dg0 = -2.0 * c2 * u * inv2
        g, dg = gamma * g0, gamma * dg0
        g_c = gamma * 2.0 * c * (inv_d2 - inv)
        g_d = gamma * 2.0 * c2 * (d * inv2 - inv_d3)
        g_h = dg0 * -gamma
        dg_c = gamma * -4.0 * c * u * inv2
        dg_d = gamma * 8.0 * c2 * u * d * inv2 * inv
        dg_h = gamma * -2.0 * c2 * inv2 * (1.0 - 4.0 * u * u * inv)
        dr = geo_tx[t, 0] - geo_tx[t, 1]
        tl = lam3 * dr
        t2 = tl * tl
        arg = t2 * tl if cube else tl
        arg_l = 3.0 * t2 * dr if cube else dr
        darg = 3.0 * lam3 * t2 if cube else lam3
        darg_l = 9.0 * t2 if cube else 1.0
        ex = vexp(arg)
        ex_l = arg_l * ex
        ex = 1e30 if arg > _EXP_CLAMP else ex  # LAMMPS's clamp
        ex_l = 0.0 if arg > _EXP_CLAMP else ex_l
        ex = 0.0 if arg < -_EXP_CLAMP else ex
        ex_l = 0.0 if arg < -_EXP_CLAMP else ex_l
        dex = darg * ex
        dex_l = darg_l * ex + darg * ex_l
        fc, dfc, fc_r, fc_d, dfc_r, dfc_d = _cutoff_b(geo_tx[t, 1], big_r, inv_big_d)
        fex, fdex = fc * ex, fc * dex
        cex = dfc * ex - fdex
        zd_tx[t, 0] = fex * g
        zd_tx[t, 1] = fdex * g
        zd_tx[t, 2] = cex * g
        zd_tx[t, 3] = fex * dg
        zd_tx[t, 4], zd_tx[t, 11], zd_tx[t, 18], zd_tx[t, 25] = g0 * fex, g0 * fdex, g0 * cex, dg0 * fex
        zd_tx[t, 5], zd_tx[t, 12], zd_tx[t, 19], zd_tx[t, 26] = g_c * fex, g_c * fdex, g_c * cex, dg_c * fex
        zd_tx[t, 6], zd_tx[t, 13], zd_tx[t, 20], zd_tx[t, 27] = g_d * fex, g_d * fdex, g_d * cex, dg_d * fex
        zd_tx[t, 7], zd_tx[t, 14], zd_tx[t, 21], zd_tx[t, 28] = g_h * fex, g_h * fdex, g_h * cex, dg_h * fex
        fg = fc * g
        a_l = fg * dex_l  # lambda3
        zd_tx[t, 8], zd_tx[t, 15] = fg * ex_l, a_l
        zd_tx[t, 22], zd_tx[t, 29] = dfc * g * ex_l - a_l, fc * dg * ex_l
        a_r = fc_r * g * dex  # R, D: through f_C(r_ik)
        zd_tx[t, 9], zd_tx[t, 16] = fc_r * g * ex, a_r
        zd_tx[t, 23], zd_tx[t, 30] = dfc_r * g * ex - a_r, fc_r * dg * ex
        a_d = fc_d * g * dex
        zd_tx[t, 10], zd_tx[t, 17] = fc_d * g * ex, a_d
        zd_tx[t, 24], zd_tx[t, 31] = dfc_d * g * ex - a_d, fc_d * dg * ex


#: rows of the pair phase's output pr_xp
_FC, _DFC, _FC_R, _FC_D, _DFC_R, _DFC_D, _EX1, _EX2, _LT, _TN, _L1P, _BFULL = range(12)


@_njit
def _pair_run(q, e, p0, p1, r_p, zeta_p, pr_xp):
    """Pairs p0:p1 of entry (i, j, j) e at r_p (Å) with zeta_p: the cutoff and its derivatives,
    exp(-lambda1 r), exp(-lambda2 r), and with t = beta zeta: ln t, t^n, ln(1 + t^n) and
    (1 + t^n)^(-1/2n), into the rows of pr_xp named above (the bond order's branches then take
    what they need, in :func:`_bond_order_pre`)."""
    big_r, big_d, lam1, lam2 = q[e, _BIG_R], q[e, _BIG_D], q[e, _LAM1], q[e, _LAM2]
    beta, n = q[e, _BETA], q[e, _N]
    inv_2n = -0.5 / n
    for p in range(np.uint64(p0), np.uint64(p1)):
        r = r_p[p]
        fc, dfc, fc_r, fc_d, dfc_r, dfc_d = _cutoff_v(r, big_r, big_d)
        pr_xp[_FC, p], pr_xp[_DFC, p], pr_xp[_FC_R, p] = fc, dfc, fc_r
        pr_xp[_FC_D, p], pr_xp[_DFC_R, p], pr_xp[_DFC_D, p] = fc_d, dfc_r, dfc_d
        pr_xp[_EX1, p] = vexp(-lam1 * r)
        pr_xp[_EX2, p] = vexp(-lam2 * r)
        lt = vlog(zeta_p[p] * beta)
        tn = vexp(n * lt)
        one_tn = 1.0 + tn
        # ln(1 + t^n) to a few ulp also for small t^n (Goldberg: ln(u) t^n / (u - 1))
        l1p = tn if one_tn == 1.0 else vlog(one_tn) * (tn / (one_tn - 1.0))
        pr_xp[_LT, p], pr_xp[_TN, p], pr_xp[_L1P, p] = lt, tn, l1p
        pr_xp[_BFULL, p] = vexp(l1p * inv_2n)


@_njit(inline="always")
def _bond_order_pre(zeta, beta, n, c1, c2, c3, c4, lt, tn, l1p, b_full):
    """b, db/dzeta, d²b/dzeta², db/dbeta, d²b/dzeta dbeta, db/dn, d²b/dzeta dn with LAMMPS's
    branches (t = beta zeta; f = db/dt, f1 = df/dt, f_n = df/dn), from ln t, t^n, ln(1 + t^n)
    and (1 + t^n)^(-1/2n) of :func:`_pair_run` (as
    :func:`gafit.forms.tersoff.derivatives.bond_order_params`)."""
    t = zeta * beta
    if t > c1:
        rs = 1.0 / math.sqrt(t)
        b, f, f1, b_n, f_n = rs, -0.5 * rs / t, 0.75 * rs / (t * t), 0.0, 0.0
    elif t > c2:
        rs = 1.0 / math.sqrt(t)
        tmn = 1.0 / tn
        k = 1.0 + 0.5 / n
        b = (1.0 - tmn / (2.0 * n)) * rs
        f = -0.5 * rs / t * (1.0 - k * tmn)
        f1 = rs / (t * t) * (0.75 - 0.5 * k * (n + 1.5) * tmn)
        b_n = rs * tmn * (0.5 * lt / n + 0.5 / (n * n))
        f_n = 0.5 * rs / t * tmn * (-0.5 / (n * n) - k * lt)
    elif t < c4:
        b, f, f1, b_n, f_n = 1.0, 0.0, 0.0, 0.0, 0.0
    elif t < c3:
        b = 1.0 - tn / (2.0 * n)
        f = -0.5 * tn / t
        f1 = -0.5 * (n - 1.0) * tn / (t * t)
        b_n = tn * (0.5 / (n * n) - 0.5 * lt / n)
        f_n = -0.5 * tn * lt / t
    else:
        b = b_full
        qq = tn / (1.0 + tn)
        f = -0.5 * b * qq / t
        f1 = f / t * (n * (1.0 - qq) - 1.0 - 0.5 * qq)
        b_n = b * (0.5 * l1p / (n * n) - 0.5 * qq * lt / n)
        f_n = -0.5 / t * (b_n * qq + b * qq * (1.0 - qq) * lt)
    return b, beta * f, beta * beta * f1, zeta * f, f + t * f1, b_n, beta * f_n


# --------------------------------------------------------------------------- the kernel


@_njit
def _jacobian_kernel(ptr_n, r_k, u_kc, j_k, species_n, s_n, n_sp, q, thr, reach_sp, chunk_pairs,
                     row_gl, energy, forces, virial):
    # any number of species
    _kernel_body(ptr_n, r_k, u_kc, j_k, species_n, s_n, n_sp, q, thr, reach_sp, chunk_pairs,
                 row_gl, energy, forces, virial)


@_njit
def _jacobian_kernel_one(ptr_n, r_k, u_kc, j_k, species_n, s_n, q, thr, reach_sp, chunk_pairs,
                         row_gl, energy, forces, virial):
    # one species: the number of columns is a constant, and the compiler unrolls their loops
    _kernel_body(ptr_n, r_k, u_kc, j_k, species_n, s_n, 1, q, thr, reach_sp, chunk_pairs,
                 row_gl, energy, forces, virial)


@_njit(inline="always")
def _kernel_body(ptr_n, r_k, u_kc, j_k, species_n, s_n, n_sp, q, thr, reach_sp, chunk_pairs,
                 row_gl, energy, forces, virial):
    # q (entries, 14) the parameters, thr (entries, 4) the bond-order switch points, reach_sp the
    # largest R + D of the entries of each centre species; energy (rows, S), forces (rows, 3N),
    # virial (rows, 6S) per parameter, all added to, at row row_gl[g, l] of the local parameter l
    # of group g = s_i n_sp + s_j. Chunks
    # of whole atoms of about chunk_pairs pairs; their pairs within reach and live triplets are
    # listed (rows from 0), then go through the vectorised phases, then the column work per atom.
    n_l = _NT * n_sp + 6
    p0 = _NT * n_sp  # first pair column
    n_atoms = ptr_n.shape[0] - 1
    max_a, max_p, max_t = 1, 1, 1  # the largest chunk's atoms, pairs and ordered triplets
    n0 = 0
    while n0 < n_atoms:
        n1 = _chunk_end(ptr_n, n0, chunk_pairs)
        max_a = max(max_a, n1 - n0)
        max_p = max(max_p, ptr_n[n1] - ptr_n[n0])
        n_t = 0
        for i in range(n0, n1):
            nn = ptr_n[i + 1] - ptr_n[i]
            n_t += nn * (nn - 1)
        max_t = max(max_t, n_t)
        n0 = n1
    pptr_a = np.empty(max_a + 1, np.int64)  # each atom's first listed pair and triplet
    tptr_a = np.empty(max_a + 1, np.int64)
    k_p = np.empty(max_p, np.int64)  # the listed pairs: their rows
    r_p = np.empty(max_p)
    sj_p = np.empty(max_p, np.int64)
    e2_p = np.empty(max_p, np.int64)
    live_p = np.empty(max_p, np.bool_)
    zeta_p = np.empty(max_p)
    w_p = np.empty(max_p)
    pr_xp = np.empty((12, max_p))
    dzeta_pl = np.empty((max_p, n_l))
    dw_pl = np.empty((max_p, n_l))
    # d(dE/dr) of pair p and d(force on its atom j) from the triplets, per group (species of the
    # pair whose dE/dzeta carries them)
    dedr_psl = np.empty((max_p, n_sp, n_l))
    fj_psxl = np.empty((max_p, n_sp, 3, n_l))
    sj_px = np.empty((max_p, 3))  # force on pair p's atom per unit w_p, from its triplets
    ta_t = np.empty(max_t, np.int64)  # the live ordered triplets (ij, ik): their pairs, entry
    tc_t = np.empty(max_t, np.int64)
    e_t = np.empty(max_t, np.int64)
    geo_tx = np.empty((max_t, 3))  # r_ij, r_ik, cos theta
    # z, a, c, s then their derivatives by the entry's parameters (4 + 7 x + p)
    zd_tx = np.empty((max_t, 4 + 4 * _NT))
    de_sl = np.empty((n_sp, n_l))  # an atom's energy, force and virial, per group
    fi_sxl = np.empty((n_sp, 3, n_l))
    vi_svl = np.empty((n_sp, 6, n_l))
    n0 = 0
    while n0 < n_atoms:
        n1 = _chunk_end(ptr_n, n0, chunk_pairs)
        # --- 0. the chunk's pairs within reach and live triplets (a triplet (ij, ik) is live
        # when r_ij is within its pair's R + D and r_ik within its entry's)
        n_p, n_t = 0, 0
        for i in range(n0, n1):
            si = species_n[i]
            pptr_a[i - n0], tptr_a[i - n0] = n_p, n_t
            for k in range(ptr_n[i], ptr_n[i + 1]):
                if r_k[k] < reach_sp[si]:
                    sj = species_n[j_k[k]]
                    e2 = (si * n_sp + sj) * n_sp + sj
                    k_p[n_p], r_p[n_p], sj_p[n_p], e2_p[n_p] = k, r_k[k], sj, e2
                    live_p[n_p] = r_k[k] < q[e2, _BIG_R] + q[e2, _BIG_D]
                    n_p += 1
            for a in range(pptr_a[i - n0], n_p):
                ka, ra = k_p[a], r_p[a]
                for c in range(a + 1, n_p):
                    kc, rc = k_p[c], r_p[c]
                    ea = (si * n_sp + sj_p[a]) * n_sp + sj_p[c]
                    ec = (si * n_sp + sj_p[c]) * n_sp + sj_p[a]
                    fwd = live_p[a] and rc < q[ea, _BIG_R] + q[ea, _BIG_D]
                    bwd = live_p[c] and ra < q[ec, _BIG_R] + q[ec, _BIG_D]
                    if not (fwd or bwd):
                        continue
                    cs = u_kc[ka, 0] * u_kc[kc, 0] + u_kc[ka, 1] * u_kc[kc, 1] + u_kc[ka, 2] * u_kc[kc, 2]
                    if fwd:
                        ta_t[n_t], tc_t[n_t], e_t[n_t] = a, c, ea
                        geo_tx[n_t, 0], geo_tx[n_t, 1], geo_tx[n_t, 2] = ra, rc, cs
                        n_t += 1
                    if bwd:
                        ta_t[n_t], tc_t[n_t], e_t[n_t] = c, a, ec
                        geo_tx[n_t, 0], geo_tx[n_t, 1], geo_tx[n_t, 2] = rc, ra, cs
                        n_t += 1
        pptr_a[n1 - n0], tptr_a[n1 - n0] = n_p, n_t
        # --- 1. triplets (vectorised, per run of one entry): z, a, c, s and their derivatives;
        # zeta and dzeta of each pair
        t = 0
        while t < n_t:
            t1 = _run_end(e_t, t, n_t, n_sp)
            _triplet_run(q, e_t[t], t, t1, geo_tx, zd_tx)
            t = t1
        zeta_p[:n_p] = 0.0
        dzeta_pl[:n_p] = 0.0
        for t in range(n_t):
            a = ta_t[t]
            zeta_p[a] += zd_tx[t, 0]
            o = _NT * sj_p[tc_t[t]]
            for p in range(_NT):
                dzeta_pl[a, o + p] += zd_tx[t, 4 + p]
        # --- 2. pairs (vectorised, per run of one entry): cutoffs, exponentials, bond order logs
        p = 0
        while p < n_p:
            p1 = _run_end(e2_p, p, n_p, n_sp)
            _pair_run(q, e2_p[p], p, p1, r_p, zeta_p, pr_xp)
            p = p1
        dedr_psl[:n_p] = 0.0
        fj_psxl[:n_p] = 0.0
        sj_px[:n_p] = 0.0
        for i in range(n0, n1):
            si, s = species_n[i], s_n[i]
            pa0, pa1 = pptr_a[i - n0], pptr_a[i - n0 + 1]
            if pa1 == pa0:
                continue
            # --- 2b. each pair: e, u, w and their derivatives, directly and through zeta
            de_sl[:] = 0.0
            fi_sxl[:] = 0.0
            vi_svl[:] = 0.0
            for a in range(pa0, pa1):
                _pair_columns(a, q, thr, n_l, p0, r_p, sj_p, e2_p, live_p, zeta_p, pr_xp, dzeta_pl,
                              w_p, dw_pl, dedr_psl, de_sl)
            # --- 3. each triplet: the part through dw is dw_a times the triplet's force on each
            # atom per unit w_a: on pair c's atom added per triplet (3 L), on pair a's atom summed
            # over c first into sj_px[a] and multiplied once per pair (each force -(dz/dr) u -
            # (dz/dcos) dcos/dd); the part w_a d(a, c, s) has the 7 columns of the third species
            for t in range(tptr_a[i - n0], tptr_a[i - n0 + 1]):
                a, c = ta_t[t], tc_t[t]
                ka, kc = k_p[a], k_p[c]
                ux, uy, uz = u_kc[ka, 0], u_kc[ka, 1], u_kc[ka, 2]
                vx, vy, vz = u_kc[kc, 0], u_kc[kc, 1], u_kc[kc, 2]
                cs = geo_tx[t, 2]
                inv_ra, inv_rc = 1.0 / r_p[a], 1.0 / r_p[c]
                # dcos/dd_ij and dcos/dd_ik
                gjx, gjy, gjz = (vx - cs * ux) * inv_ra, (vy - cs * uy) * inv_ra, (vz - cs * uz) * inv_ra
                gkx, gky, gkz = (ux - cs * vx) * inv_rc, (uy - cs * vy) * inv_rc, (uz - cs * vz) * inv_rc
                _triplet_forces(a, c, t, sj_p[a], _NT * sj_p[c], w_p[a], dw_pl, zd_tx, n_l,
                                ux, uy, uz, gjx, gjy, gjz, vx, vy, vz, gkx, gky, gkz, sj_px, fj_psxl)
            # --- each pair: the force on j (the triplets' and -d(dE/dr) u), the opposite on the
            # centre, the virial -r u (x) F_j
            for a in range(pa0, pa1):
                ka = k_p[a]
                ja = j_k[ka]
                r = r_p[a]
                ux, uy, uz = u_kc[ka, 0], u_kc[ka, 1], u_kc[ka, 2]
                rx, ry, rz = r * ux, r * uy, r * uz
                ga = sj_p[a]
                tx, ty, tz = sj_px[a, 0], sj_px[a, 1], sj_px[a, 2]
                for lp in range(n_l):  # its own triplets' part through dw
                    dwl = dw_pl[a, lp]
                    fj_psxl[a, ga, 0, lp] += dwl * tx
                    fj_psxl[a, ga, 1, lp] += dwl * ty
                    fj_psxl[a, ga, 2, lp] += dwl * tz
                for sg in range(n_sp):
                    g = si * n_sp + sg
                    for lp in range(n_l):
                        d = dedr_psl[a, sg, lp]
                        fx = fj_psxl[a, sg, 0, lp] - d * ux
                        fy = fj_psxl[a, sg, 1, lp] - d * uy
                        fz = fj_psxl[a, sg, 2, lp] - d * uz
                        row = row_gl[g, lp]
                        forces[row, 3 * ja] += fx
                        forces[row, 3 * ja + 1] += fy
                        forces[row, 3 * ja + 2] += fz
                        fi_sxl[sg, 0, lp] -= fx
                        fi_sxl[sg, 1, lp] -= fy
                        fi_sxl[sg, 2, lp] -= fz
                        vi_svl[sg, 0, lp] -= rx * fx
                        vi_svl[sg, 1, lp] -= ry * fy
                        vi_svl[sg, 2, lp] -= rz * fz
                        vi_svl[sg, 3, lp] -= ry * fz
                        vi_svl[sg, 4, lp] -= rx * fz
                        vi_svl[sg, 5, lp] -= rx * fy
            for sg in range(n_sp):
                g = si * n_sp + sg
                for lp in range(n_l):
                    row = row_gl[g, lp]
                    energy[row, s] += de_sl[sg, lp]
                    for x in range(3):
                        forces[row, 3 * i + x] += fi_sxl[sg, x, lp]
                    for v in range(6):
                        virial[row, 6 * s + v] += vi_svl[sg, v, lp]
        n0 = n1


@_njit(inline="always")
def _pair_columns(a, q, thr, n_l, p0, r_p, sj_p, e2_p, live_p, zeta_p, pr_xp, dzeta_pl, w_p, dw_pl,
                  dedr_psl, de_sl):
    """Pair a (of :func:`_pair_run`'s phase): w = dE/dzeta into w_p[a], and the derivatives of
    its energy (eV), dE/dr at fixed zeta (eV/Å) and w (eV) by its group's parameters, directly
    and through dzeta, into de_sl, dedr_psl[a] and dw_pl[a]; zeros beyond its R + D."""
    w_p[a] = 0.0
    if not live_p[a]:
        for lp in range(n_l):
            dw_pl[a, lp] = 0.0
        return
    sj = sj_p[a]
    e2 = e2_p[a]
    r = r_p[a]
    fc, dfc, fc_r, fc_d = pr_xp[_FC, a], pr_xp[_DFC, a], pr_xp[_FC_R, a], pr_xp[_FC_D, a]
    dfc_r, dfc_d = pr_xp[_DFC_R, a], pr_xp[_DFC_D, a]
    lam1, lam2 = q[e2, _LAM1], q[e2, _LAM2]
    ex1, ex2 = pr_xp[_EX1, a], pr_xp[_EX2, a]
    fr = q[e2, _BIG_A] * ex1
    dfr = -lam1 * fr
    fa = -q[e2, _BIG_B] * ex2
    dfa = -lam2 * fa
    bo, b_z, b_zz, b_b, b_zb, b_n, b_zn = _bond_order_pre(
        zeta_p[a], q[e2, _BETA], q[e2, _N], thr[e2, 0], thr[e2, 1], thr[e2, 2], thr[e2, 3],
        pr_xp[_LT, a], pr_xp[_TN, a], pr_xp[_L1P, a], pr_xp[_BFULL, a])
    v = fr + bo * fa
    dv = dfr + bo * dfa
    hfc, hdfc = 0.5 * fc, 0.5 * dfc
    hfa = hfc * fa
    dfa_fc = hdfc * fa + hfc * dfa  # d(1/2 f_C f_A)/dr
    w = hfa * b_z
    u_z, w_z = dfa_fc * b_z, hfa * b_zz  # du/dzeta, dw/dzeta
    w_p[a] = w
    for lp in range(n_l):
        dz = dzeta_pl[a, lp]
        de_sl[sj, lp] += w * dz
        dedr_psl[a, sj, lp] += u_z * dz
        dw_pl[a, lp] = w_z * dz
    o = _NT * sj + 5  # R, D of (i, j, j): f_C(r_ij)
    de_sl[sj, o] += 0.5 * fc_r * v
    de_sl[sj, o + 1] += 0.5 * fc_d * v
    dedr_psl[a, sj, o] += 0.5 * (dfc_r * v + fc_r * dv)
    dedr_psl[a, sj, o + 1] += 0.5 * (dfc_d * v + fc_d * dv)
    dw_pl[a, o] += 0.5 * fc_r * fa * b_z
    dw_pl[a, o + 1] += 0.5 * fc_d * fa * b_z
    de_sl[sj, p0] += hfa * b_n  # n
    dedr_psl[a, sj, p0] += b_n * dfa_fc
    dw_pl[a, p0] += hfa * b_zn
    de_sl[sj, p0 + 1] += hfa * b_b  # beta
    dedr_psl[a, sj, p0 + 1] += b_b * dfa_fc
    dw_pl[a, p0 + 1] += hfa * b_zb
    fa_l, dfa_l = -r * fa, fa * (lam2 * r - 1.0)  # lambda2
    de_sl[sj, p0 + 2] += hfc * bo * fa_l
    dedr_psl[a, sj, p0 + 2] += bo * (hdfc * fa_l + hfc * dfa_l)
    dw_pl[a, p0 + 2] += hfc * fa_l * b_z
    fa_b, dfa_b = -ex2, lam2 * ex2  # B
    de_sl[sj, p0 + 3] += hfc * bo * fa_b
    dedr_psl[a, sj, p0 + 3] += bo * (hdfc * fa_b + hfc * dfa_b)
    dw_pl[a, p0 + 3] += hfc * fa_b * b_z
    fr_l, dfr_l = -r * fr, fr * (lam1 * r - 1.0)  # lambda1
    de_sl[sj, p0 + 4] += hfc * fr_l
    dedr_psl[a, sj, p0 + 4] += hdfc * fr_l + hfc * dfr_l
    de_sl[sj, p0 + 5] += hfc * ex1  # A
    dedr_psl[a, sj, p0 + 5] += hdfc * ex1 + hfc * -lam1 * ex1


@_njit(inline="always")
def _triplet_forces(a, c, t, g, o, w, dw_pl, zd_tx, n_l, ux, uy, uz, gjx, gjy, gjz, vx, vy,
                    vz, gkx, gky, gkz, sj_px, fj_psxl):
    """Triplet t = (a, c) of pair a's group g (o: the first local column of its third species; w:
    dE/dzeta of pair a; u, v the unit vectors of pairs a, c and gj, gk dcos/dd along them): its
    force on pair a's atom per unit w into sj_px[a], dw_a times its force on pair c's atom and w
    times the derivatives of both forces by the triplet's own parameters into fj_psxl[., g]."""
    ra_, rc_, sc = zd_tx[t, 1], zd_tx[t, 2], zd_tx[t, 3]
    sj_px[a, 0] -= ra_ * ux + sc * gjx
    sj_px[a, 1] -= ra_ * uy + sc * gjy
    sj_px[a, 2] -= ra_ * uz + sc * gjz
    kx, ky, kz = -(rc_ * vx + sc * gkx), -(rc_ * vy + sc * gky), -(rc_ * vz + sc * gkz)
    for lp in range(n_l):
        dwl = dw_pl[a, lp]
        fj_psxl[c, g, 0, lp] += dwl * kx
        fj_psxl[c, g, 1, lp] += dwl * ky
        fj_psxl[c, g, 2, lp] += dwl * kz
    for p in range(_NT):
        da, dc, ds = w * zd_tx[t, 4 + _NT + p], w * zd_tx[t, 4 + 2 * _NT + p], w * zd_tx[t, 4 + 3 * _NT + p]
        fj_psxl[a, g, 0, o + p] -= da * ux + ds * gjx
        fj_psxl[a, g, 1, o + p] -= da * uy + ds * gjy
        fj_psxl[a, g, 2, o + p] -= da * uz + ds * gjz
        fj_psxl[c, g, 0, o + p] -= dc * vx + ds * gkx
        fj_psxl[c, g, 1, o + p] -= dc * vy + ds * gky
        fj_psxl[c, g, 2, o + p] -= dc * vz + ds * gkz


# --------------------------------------------------------------------------- the driver


def global_rows(n_species: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, groups, locals): the full-vector row (entry * 14 + column) of every local parameter
    of every group, with its group and local index."""
    rows, groups, locs = [], [], []
    for a in range(n_species):
        for b in range(n_species):
            g = a * n_species + b
            for k in range(n_species):
                e = (g * n_species + k) * 14
                for p, col in enumerate(TRIPLET_COLUMNS):
                    rows.append(e + col)
                    groups.append(g)
                    locs.append(_NT * k + p)
            e = (g * n_species + b) * 14
            for p, col in enumerate(PAIR_COLUMNS):
                rows.append(e + col)
                groups.append(g)
                locs.append(_NT * n_species + p)
    return np.array(rows), np.array(groups), np.array(locs)


def fused_parameter_derivatives(geo: KernelGeometry, par: np.ndarray, thresholds: np.ndarray,
                                n_species: int, n_structures: int,
                                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """d(energy)/dθ (n_params, S) eV, d(forces)/dθ (n_params, 3N) eV/Å and d(virial)/dθ
    (n_params, S, 6) eV, per unit of each parameter, at one vector: ``par`` (entries, 14),
    ``thresholds`` (entries, 4) its bond-order switch points c1..c4. Rows of m and of the pair
    parameters of entries (i, j, k), j != k, are zero. The kernel writes the rows directly."""
    n_g, n_l = n_species * n_species, local_width(n_species)
    n_atoms = len(geo.s_n)
    par = np.ascontiguousarray(par, dtype=float)
    reach = par[:, _BIG_R] + par[:, _BIG_D]
    reach_sp = np.array([reach[a * n_species * n_species : (a + 1) * n_species * n_species].max()
                         for a in range(n_species)])
    n_par = par.size
    rows, groups, locs = global_rows(n_species)
    row_gl = np.empty((n_g, n_l), np.int64)  # every local parameter has its row
    row_gl[groups, locs] = rows
    d_energy = np.zeros((n_par, n_structures))
    d_forces = np.zeros((n_par, 3 * n_atoms))
    d_virial = np.zeros((n_par, n_structures, 6))
    thr = np.ascontiguousarray(thresholds, dtype=float)
    args = (thr, reach_sp, CHUNK_PAIRS, row_gl, d_energy, d_forces,
            d_virial.reshape(n_par, 6 * n_structures))
    if n_species == 1:
        _jacobian_kernel_one(geo.ptr_n, geo.r_k, geo.u_kc, geo.j_k, geo.species_n, geo.s_n, par,
                             *args)
    else:
        _jacobian_kernel(geo.ptr_n, geo.r_k, geo.u_kc, geo.j_k, geo.species_n, geo.s_n,
                         n_species, par, *args)
    return d_energy, d_forces, d_virial
