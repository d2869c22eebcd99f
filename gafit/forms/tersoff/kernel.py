"""A fused Tersoff kernel (numba): energies, forces and virials of a batch of parameter vectors in
one pass over the atoms, with no per-pair or per-triplet work arrays and no sparse products.

The pairs are read in centre-atom order (:class:`KernelGeometry`, a CSR layout: the pairs i->j of
atom i are ``ptr_n[i]:ptr_n[i + 1]``), so every triplet (ij, ik) of atom i is a pair of its rows.
Per atom, the geometry of its triplets (cos theta, dcos/dd_ij, the virial of dcos) is computed once
and reused by every individual of the batch; the mirror triplets (ij, ik) and (ik, ij) share it and
their dE/dcos are summed before one scatter. Per individual, zeta, the bond order and dE/dzeta of
each pair, then the radial and angular chain rule, go straight into the atom's forces and the
structure's energy and virial. The physics is that of :mod:`gafit.forms.tersoff.evaluate` (LAMMPS's
``pair_style tersoff``, with its clamp and bond-order branches), which stays as the numpy path:
with ``ENABLED = False`` or without numba, :func:`gafit.forms.tersoff.evaluate.evaluate` takes it.

Single vectors (each least-squares step) and batches below :data:`BATCH_INNER_MIN`, a vector at
a time, go to :mod:`gafit.forms.tersoff.kernel_single`, vectorised over the vector's own triplets
and pairs (faster, at every batch size below it, than the scalar kernel that looped over the
individuals inside each atom, which it replaced). :func:`_kernel_batch`, for
batches of :data:`BATCH_INNER_MIN` or more, puts every loop over the batch innermost (per pair,
per triplet and mirror, per force scatter), with the parameters batch-last, so that the compiler
vectorises the arithmetic over individuals; its exp and log are :mod:`gafit.forms.vec_math`'s,
since a library call in a loop stops it vectorising. It keeps per triplet only what the chain
rule needs after dE/dzeta is known (dzeta/dr_ik and dzeta/dcos; the dzeta/dr_ij of a pair's
triplets are summed as they are made), gathers each neighbour's force over its triplets before
one scatter, and takes the virial per pair, r_ij u_ij (x) F_j, from those forces (the per-triplet
virial terms sum to it). The two agree to rounding (both are tested against the numpy path at
1e-12).

The kernels are serial, as the pair kernel: a fit's parallelism is its worker processes
(:mod:`gafit.parallel`), one evaluation per worker at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gafit.forms.jit import njit
from gafit.forms.vec_math import vexp_fma as vexp
from gafit.forms.vec_math import vlog_fma as vlog
from gafit.forms.vec_math import vsin_cos_fma as vsin_cos
from gafit.geometry import Pairs

try:
    import numba
except ImportError:  # pragma: no cover - numba is optional
    numba = None

#: set False to force the numpy path (tests compare the two)
ENABLED = numba is not None

# the parameter columns of an entry (as gafit.forms.tersoff.evaluate; repeated here so that the
# compiled functions see them as constants)
_M, _GAMMA, _LAM3, _C, _SMALL_D, _H, _N, _BETA, _LAM2, _BIG_B, _BIG_R, _BIG_D, _LAM1, _BIG_A = range(14)
_EXP_CLAMP = 69.0776
_HALF_PI = 0.5 * math.pi


def available() -> bool:
    return ENABLED and numba is not None


@dataclass
class KernelGeometry:
    """The pairs of a Tersoff table in centre-atom order (CSR), for the fused kernel."""

    ptr_n: np.ndarray  # (N + 1,) the pairs i->j of atom i are rows ptr_n[i]:ptr_n[i + 1]
    r_k: np.ndarray  # (P,) Å
    u_kc: np.ndarray  # (P, 3) unit vector from i to j
    j_k: np.ndarray  # (P,) neighbour atom
    species_n: np.ndarray  # (N,) species index of each atom
    s_n: np.ndarray  # (N,) structure of each atom


def centre_csr(i_p: np.ndarray, n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """(order, ptr_n): pairs sorted (stably) by centre atom, and where each atom's pairs start."""
    order = np.argsort(i_p, kind="stable")
    ptr_n = np.zeros(n_atoms + 1, np.int64)
    np.cumsum(np.bincount(i_p, minlength=n_atoms), out=ptr_n[1:])
    return order, ptr_n


def centre_geometry(pairs: Pairs, species_n: np.ndarray, struct_n: np.ndarray) -> KernelGeometry:
    """The :class:`KernelGeometry` of a full neighbour list ``pairs`` (any pair order), with each
    atom's species and structure."""
    by_centre, ptr_n = centre_csr(pairs.i_p, len(species_n))
    return KernelGeometry(
        ptr_n=ptr_n,
        r_k=pairs.r_p[by_centre],
        u_kc=np.ascontiguousarray(pairs.d_pc[by_centre] / pairs.r_p[by_centre, None]),
        j_k=pairs.j_p[by_centre],
        species_n=species_n,
        s_n=struct_n.astype(np.int64),
    )


def _njit(fn=None, inline="never"):
    return njit(fn, inline=inline)  # no fastmath: each lane exactly as alone


# columns of the per-(individual, entry) constants built by :func:`derived` (divisions and the
# bond-order switch points done once per call instead of once per pair or triplet)
(_LO, _HI, _R, _XS, _DS, _G0, _CC, _D2, _H_, _L3, _M_, _A_, _L1, _B_, _L2, _BE, _N_, _SW1, _SW2,
 _SW3, _SW4, _GA) = range(22)
N_DERIVED = 22


def derived(par: np.ndarray, thresholds: tuple[np.ndarray, ...]) -> np.ndarray:
    """(B, entries, N_DERIVED) constants of parameters ``par`` (B, entries, 14) for the kernel;
    ``thresholds`` are the bond-order switch points c1..c4 (each (B, entries))."""
    big_r, big_d = par[..., _BIG_R], par[..., _BIG_D]
    c2, d2, gamma = par[..., _C] ** 2, par[..., _SMALL_D] ** 2, par[..., _GAMMA]
    with np.errstate(divide="ignore", invalid="ignore"):
        cols = [big_r - big_d, big_r + big_d, big_r, _HALF_PI / big_d, -0.25 * math.pi / big_d,
                1.0 + c2 / d2, c2, d2, par[..., _H], par[..., _LAM3],
                par[..., _M], par[..., _BIG_A], par[..., _LAM1], par[..., _BIG_B], par[..., _LAM2],
                par[..., _BETA], par[..., _N], *thresholds, gamma]
    return np.ascontiguousarray(np.stack(cols, axis=-1))


@_njit
def _cutoff_row(r, par_t, e, lo_min, hi_max, fc_b, dfc_b):
    """f_C(r) and df_C/dr of entry e for every individual into fc_b, dfc_b: a fill when r is below
    every individual's R - D or above every R + D, else one vectorised loop (its sine and cosine
    by :func:`gafit.forms.vec_math.vsin_cos_fma`: a library call per individual cost more than
    the rest of the kernel for the pairs in the band)."""
    n_b = fc_b.shape[0]
    if r <= lo_min[e]:
        for b in range(n_b):
            fc_b[b] = 1.0
            dfc_b[b] = 0.0
    elif r >= hi_max[e]:
        for b in range(n_b):
            fc_b[b] = 0.0
            dfc_b[b] = 0.0
    else:
        for b in range(n_b):
            inner = r <= par_t[e, _LO, b]
            outer = r >= par_t[e, _HI, b]
            x = (r - par_t[e, _R, b]) * par_t[e, _XS, b]
            x = 0.0 if inner or outer else x  # |x| <= pi/2 in the band
            sin, cos = vsin_cos(x)
            fc = 0.5 - 0.5 * sin
            dfc = cos * par_t[e, _DS, b]
            fc_b[b] = 1.0 if inner else (0.0 if outer else fc)
            dfc_b[b] = 0.0 if inner or outer else dfc


@_njit(inline="always")
def _radial_b(dr, lam3, m):
    """exp((lambda3 dr)^m) (m = 3 or 1) with LAMMPS's clamp, its derivative by dr, and the
    exponent, as _radial."""
    t = dr * lam3
    cube = m == 3.0
    arg = t * t * t if cube else t
    darg = t * t * (3.0 * lam3) if cube else lam3
    ex = vexp(arg)
    ex = 1e30 if arg > _EXP_CLAMP else ex
    ex = 0.0 if arg < -_EXP_CLAMP else ex
    return ex, darg * ex, arg, darg


@_njit(inline="always")
def _zeta_parts(fck, dfck, g, dg, ex, dex):
    """(zeta term f_C(r_ik) g exp, dz/dr_ij, dz/dr_ik, dz/dcos) of a triplet from f_C(r_ik) and
    its derivative, g(cos) and dg/dcos, the radial exp and its derivative by r_ij - r_ik."""
    fg = fck * g
    return fg * ex, fg * dex, dfck * g * ex - fg * dex, fck * dg * ex


@_njit(inline="always")
def _zeta_term_b(rij, rik, cs, e, b, par_t, fck, dfck, g, dg):
    """_zeta_parts of a triplet of entry e for individual b."""
    ex, dex, _, _ = _radial_b(rij - rik, par_t[e, _L3, b], par_t[e, _M_, b])
    return _zeta_parts(fck, dfck, g, dg, ex, dex)


@_njit(inline="always")
def _angular_b(cs, e, b, par_t):
    """g(cos theta) and dg/dcos of entry e for individual b, as _angular."""
    hc = par_t[e, _H_, b] - cs
    inv = 1.0 / (hc * hc + par_t[e, _D2, b])
    cc, gamma = par_t[e, _CC, b], par_t[e, _GA, b]
    return (inv * -cc + par_t[e, _G0, b]) * gamma, inv * inv * hc * (-2.0 * cc * gamma)


@_njit
def _zeta_row(a, t, rij, rik, cs, e, e_ij, par_t, fck_b, dfck_b, zeta_ab, sij_ab, rad_tb,
              dcos_tb):
    """The zeta terms f_C(r_ik) g exp of a triplet (pair a = ij, and ik) of entry e, for every
    individual (0 where r_ij or r_ik is beyond the individual's R + D; e_ij is pair a's entry),
    added to zeta_ab[a]; their derivatives by r_ij added to sij_ab[a] (the chain rule multiplies
    them all by the same dE/dzeta_ij), by r_ik and cos into rad_tb[t] and dcos_tb[t]. f_C(r_ik)
    of entry e is fck_b, dfck_b. One loop over the batch with no calls, which the compiler
    vectorises."""
    for b in range(zeta_ab.shape[1]):
        live = (rij < par_t[e_ij, _HI, b]) & (rik < par_t[e, _HI, b])
        g, dg = _angular_b(cs, e, b, par_t)
        zt, d_ij, d_ik, d_cos = _zeta_term_b(rij, rik, cs, e, b, par_t, fck_b[b], dfck_b[b], g,
                                             dg)
        zeta_ab[a, b] += zt if live else 0.0
        sij_ab[a, b] += d_ij if live else 0.0
        rad_tb[t, b] = d_ik if live else 0.0
        dcos_tb[t, b] = d_cos if live else 0.0


@_njit
def _zeta_rows(a, c, t, ra, rc, cs, e, par_t, fc_ab, dfc_ab, zeta_ab, sij_ab, rad_tb, dcos_tb,
               radm_tb, dcosm_tb):
    """_zeta_row of triplet (a, c) and of its mirror (c, a) (into radm_tb, dcosm_tb), both of
    entry e, whose f_C(r_ik) are those of pairs c and a (whose entries are e too, as in a
    single-species set), in one loop that computes g and the radial exp once (the mirror's is its
    reciprocal)."""
    for b in range(zeta_ab.shape[1]):
        live = (ra < par_t[e, _HI, b]) & (rc < par_t[e, _HI, b])
        g, dg = _angular_b(cs, e, b, par_t)
        ex, dex, arg, darg = _radial_b(ra - rc, par_t[e, _L3, b], par_t[e, _M_, b])
        # the mirror's exponent is -arg (and its derivative darg): its exp is 1/ex, clamped
        exm = 1.0 / ex
        exm = 0.0 if arg > _EXP_CLAMP else exm
        exm = 1e30 if arg < -_EXP_CLAMP else exm
        zt, d_ij, d_ik, d_cos = _zeta_parts(fc_ab[c, b], dfc_ab[c, b], g, dg, ex, dex)
        zeta_ab[a, b] += zt if live else 0.0
        sij_ab[a, b] += d_ij if live else 0.0
        rad_tb[t, b] = d_ik if live else 0.0
        dcos_tb[t, b] = d_cos if live else 0.0
        zt, d_ij, d_ik, d_cos = _zeta_parts(fc_ab[a, b], dfc_ab[a, b], g, dg, exm, darg * exm)
        zeta_ab[c, b] += zt if live else 0.0
        sij_ab[c, b] += d_ij if live else 0.0
        radm_tb[t, b] = d_ik if live else 0.0
        dcosm_tb[t, b] = d_cos if live else 0.0


@_njit
def _pow_row(a, e, par_t, zeta_ab, tn_b, full_b):
    """t^n and (1 + t^n)^(-1/2n), t = beta zeta, of pair a for every individual into tn_b and
    full_b: the chain log, exp, log, exp, in a loop of its own (see _pair_row)."""
    for b in range(tn_b.shape[0]):
        n = par_t[e, _N_, b]
        tn = vexp(vlog(zeta_ab[a, b] * par_t[e, _BE, b]) * n)
        tn_b[b] = tn
        full_b[b] = vexp(vlog(1.0 + tn) * (-0.5 / n))  # LAMMPS: pow(1 + t^n, -1/2n)


@_njit(inline="always")
def _pair_terms(r, fc, dfc, zeta, tn, full, hi, lam1, lam2, big_a, big_b, beta, n, sw1, sw2,
                sw3, sw4):
    """(energy, dE/dr at fixed zeta, dE/dzeta) of a pair at distance r with f_C(r) and its
    derivative fc, dfc, t^n and (1 + t^n)^(-1/2n) (t = beta zeta), and the constants of one
    individual (0 beyond its R + D = hi): the branches of _bond_order as selects. With 1/t
    computed once, t^-1/2 its square root and one division per branch, it has 4 divisions
    instead of 8. (Scalars, not the constants array: an array passed to an inlined function is
    reference-counted in the loop, which then does not vectorise.)"""
    live = r < hi
    fr = big_a * vexp(-lam1 * r)
    fa = -big_b * vexp(-lam2 * r)
    t = zeta * beta
    inv_t = 1.0 / t
    inv_2n = 0.5 / n
    rs = math.sqrt(inv_t)  # t^-1/2
    tmn = 1.0 / tn
    if_c1 = -0.5 * beta * (rs * inv_t)
    upper = t >= sw3
    bo = full if upper else 1.0 - tn * inv_2n
    # full branch: db/dzeta = -1/2 t^n/(1 + t^n) b / zeta, with 1/zeta = beta/t
    dbo = (-0.5 * beta) * (inv_t * (full * tn / (1.0 + tn) if upper else tn))
    low = t < sw4
    bo = 1.0 if low else bo
    dbo = 0.0 if low else dbo
    mid = t > sw2
    bo = (1.0 - tmn * inv_2n) * rs if mid else bo
    dbo = if_c1 * (1.0 - (1.0 + inv_2n) * tmn) if mid else dbo
    high = t > sw1
    bo = rs if high else bo
    dbo = if_c1 if high else dbo
    e_pair = fr + bo * fa
    energy = 0.5 * fc * e_pair if live else 0.0
    dedr = 0.5 * (fc * (-lam1 * fr - lam2 * bo * fa) + dfc * e_pair) if live else 0.0
    return energy, dedr, (0.5 * fc * fa * dbo if live else 0.0)


@_njit
def _pair_row(a, r, e, par_t, fc_ab, dfc_ab, zeta_ab, sij_ab, dedr_ab, w_ab, e_b, tn_b, full_b):
    """Energy (into e_b), dE/dzeta, and dE/dr of pair a for every individual, in vectorised
    loops; dE/dr with the radial part through zeta_ij (dE/dzeta_ij times sij_ab[a]); the part
    through the zeta_ik of the triplets where a is ik is added later. The bond order's chain of
    exps and logs has a loop of its own: in one long loop the processor waits on that chain's
    latency, in a short one it overlaps several iterations."""
    _pow_row(a, e, par_t, zeta_ab, tn_b, full_b)
    for b in range(e_b.shape[0]):
        en, dedr, w = _pair_terms(
            r, fc_ab[a, b], dfc_ab[a, b], zeta_ab[a, b], tn_b[b], full_b[b], par_t[e, _HI, b],
            par_t[e, _L1, b], par_t[e, _L2, b], par_t[e, _A_, b], par_t[e, _B_, b],
            par_t[e, _BE, b], par_t[e, _N_, b], par_t[e, _SW1, b], par_t[e, _SW2, b],
            par_t[e, _SW3, b], par_t[e, _SW4, b])
        e_b[b] += en
        dedr_ab[a, b] = dedr + w * sij_ab[a, b]
        w_ab[a, b] = w


@_njit
def _kernel_batch(ptr_n, r_k, u_kc, j_k, species_n, s_n, n_sp, par_t, lo_min, hi_max, energy,
                  forces, virial):
    # par_t (entries, N_DERIVED, B) from derived(), batch last; lo_min, hi_max (entries,) the
    # smallest R - D and largest R + D of each entry over the batch; energy (S, B),
    # forces (N, 3, B), virial (S, 6, B) in Voigt order, all added to. The physics of LAMMPS's tersoff,
    # with every loop over the batch innermost, so that it vectorises.
    n_b = par_t.shape[2]
    n_atoms = ptr_n.shape[0] - 1
    nn_max = 1
    for i in range(n_atoms):
        nn_max = max(nn_max, ptr_n[i + 1] - ptr_n[i])
    nt_max = nn_max * (nn_max - 1) // 2 + 1
    # per unordered triplet t = (a, c), a < c, in loop order: cos theta, dcos/dd_ij and
    # dcos/dd_ik, the entries of (a, c) and of its mirror (c, a)
    cos_t = np.empty(nt_max)
    g_tx = np.empty((nt_max, 6))
    e_t = np.empty(nt_max, np.int64)
    em_t = np.empty(nt_max, np.int64)
    e2_a = np.empty(nn_max, np.int64)
    # per triplet and individual: dz/dr_ik and dz/dcos of (a, c) and of its mirror (c, a)
    rad_tb = np.empty((nt_max, n_b))
    dcos_tb = np.empty((nt_max, n_b))
    radm_tb = np.empty((nt_max, n_b))
    dcosm_tb = np.empty((nt_max, n_b))
    fc_ab = np.empty((nn_max, n_b))  # f_C(r_ij), df_C/dr
    dfc_ab = np.empty((nn_max, n_b))
    zeta_ab = np.empty((nn_max, n_b))
    sij_ab = np.empty((nn_max, n_b))  # dzeta_ij/dr_ij
    w_ab = np.empty((nn_max, n_b))  # dE/dzeta of pair a (0 when outside its cutoff)
    dedr_ab = np.empty((nn_max, n_b))
    g_axb = np.empty((nn_max, 3, n_b))  # the force of atom i's energy on neighbour a, negated
    fck_b = np.empty(n_b)  # f_C(r_ik), df_C/dr of a triplet's entry
    dfck_b = np.empty(n_b)
    tn_b = np.empty(n_b)  # t^n and (1 + t^n)^(-1/2n) of a pair
    full_b = np.empty(n_b)
    e_b = np.empty(n_b)  # the atom's energy, force and virial
    fi_xb = np.empty((3, n_b))
    v_vb = np.empty((6, n_b))
    for i in range(n_atoms):
        k0 = ptr_n[i]
        nn = ptr_n[i + 1] - k0
        if nn == 0:
            continue
        si, s = species_n[i], s_n[i]
        # --- geometry of the atom's triplets, once for the whole batch
        for a in range(nn):
            sj = species_n[j_k[k0 + a]]
            e2_a[a] = (si * n_sp + sj) * n_sp + sj
        t = 0
        for a in range(nn):
            ka = k0 + a
            sj = species_n[j_k[ka]]
            ux, uy, uz = u_kc[ka, 0], u_kc[ka, 1], u_kc[ka, 2]
            inv_ra = 1.0 / r_k[ka]
            for c in range(a + 1, nn):
                kc = k0 + c
                sk = species_n[j_k[kc]]
                e_t[t] = (si * n_sp + sj) * n_sp + sk
                em_t[t] = (si * n_sp + sk) * n_sp + sj
                vx, vy, vz = u_kc[kc, 0], u_kc[kc, 1], u_kc[kc, 2]
                cs = ux * vx + uy * vy + uz * vz
                cos_t[t] = cs
                inv_rc = 1.0 / r_k[kc]
                g_tx[t, 0] = (vx - cs * ux) * inv_ra
                g_tx[t, 1] = (vy - cs * uy) * inv_ra
                g_tx[t, 2] = (vz - cs * uz) * inv_ra
                g_tx[t, 3] = (ux - cs * vx) * inv_rc
                g_tx[t, 4] = (uy - cs * vy) * inv_rc
                g_tx[t, 5] = (uz - cs * vz) * inv_rc
                t += 1
        # --- f_C(r_ij) of each pair ij
        for a in range(nn):
            _cutoff_row(r_k[k0 + a], par_t, e2_a[a], lo_min, hi_max, fc_ab[a], dfc_ab[a])
            for b in range(n_b):
                zeta_ab[a, b] = 0.0
                sij_ab[a, b] = 0.0
        # --- the zeta terms of each triplet (a, c) = (ij, ik) and of its mirror (c, a)
        t = 0
        for a in range(nn):
            ra = r_k[k0 + a]
            for c in range(a + 1, nn):
                rc = r_k[k0 + c]
                cs = cos_t[t]
                e, em = e_t[t], em_t[t]
                if e == em and e == e2_a[a] and e == e2_a[c]:
                    _zeta_rows(a, c, t, ra, rc, cs, e, par_t, fc_ab, dfc_ab, zeta_ab, sij_ab,
                               rad_tb, dcos_tb, radm_tb, dcosm_tb)
                else:
                    _cutoff_row(rc, par_t, e, lo_min, hi_max, fck_b, dfck_b)
                    _zeta_row(a, t, ra, rc, cs, e, e2_a[a], par_t, fck_b, dfck_b, zeta_ab,
                              sij_ab, rad_tb, dcos_tb)
                    _cutoff_row(ra, par_t, em, lo_min, hi_max, fck_b, dfck_b)
                    _zeta_row(c, t, rc, ra, cs, em, e2_a[c], par_t, fck_b, dfck_b, zeta_ab,
                              sij_ab, radm_tb, dcosm_tb)
                t += 1
        # --- energy, dE/dzeta and dE/dr (so far) of each pair ij
        for b in range(n_b):
            e_b[b] = 0.0
        for a in range(nn):
            _pair_row(a, r_k[k0 + a], e2_a[a], par_t, fc_ab, dfc_ab, zeta_ab, sij_ab, dedr_ab,
                      w_ab, e_b, tn_b, full_b)
        # --- chain rule through zeta_ik and cos of each triplet and mirror: onto dE/dr of the
        # other pair, and dE/dcos times dcos/dd onto each neighbour's force
        g_axb[:nn] = 0.0
        t = 0
        for a in range(nn):
            for c in range(a + 1, nn):
                gjx, gjy, gjz = g_tx[t, 0], g_tx[t, 1], g_tx[t, 2]
                gkx, gky, gkz = g_tx[t, 3], g_tx[t, 4], g_tx[t, 5]
                for b in range(n_b):
                    wa, wc = w_ab[a, b], w_ab[c, b]
                    dedr_ab[a, b] += wc * radm_tb[t, b]
                    dedr_ab[c, b] += wa * rad_tb[t, b]
                    dcos = wa * dcos_tb[t, b] + wc * dcosm_tb[t, b]
                    g_axb[a, 0, b] += gjx * dcos
                    g_axb[a, 1, b] += gjy * dcos
                    g_axb[a, 2, b] += gjz * dcos
                    g_axb[c, 0, b] += gkx * dcos
                    g_axb[c, 1, b] += gky * dcos
                    g_axb[c, 2, b] += gkz * dcos
                t += 1
        # --- each neighbour's force -(dE/dr u + angular part), atom i's the sum of the opposites,
        # and the virial r_ij u_ij (x) that force's opposite (symmetric summed over the atom)
        fi_xb[:] = 0.0
        v_vb[:] = 0.0
        for a in range(nn):
            ka = k0 + a
            ja = j_k[ka]
            ux, uy, uz = u_kc[ka, 0], u_kc[ka, 1], u_kc[ka, 2]
            r = r_k[ka]
            rx, ry, rz = r * ux, r * uy, r * uz
            for b in range(n_b):
                gr = dedr_ab[a, b]
                fx = g_axb[a, 0, b] + gr * ux
                fy = g_axb[a, 1, b] + gr * uy
                fz = g_axb[a, 2, b] + gr * uz
                forces[ja, 0, b] -= fx
                forces[ja, 1, b] -= fy
                forces[ja, 2, b] -= fz
                fi_xb[0, b] += fx
                fi_xb[1, b] += fy
                fi_xb[2, b] += fz
                v_vb[0, b] += rx * fx
                v_vb[1, b] += ry * fy
                v_vb[2, b] += rz * fz
                v_vb[3, b] += ry * fz
                v_vb[4, b] += rx * fz
                v_vb[5, b] += rx * fy
        for b in range(n_b):
            energy[s, b] += e_b[b]
        for x in range(3):
            for b in range(n_b):
                forces[i, x, b] += fi_xb[x, b]
        for v in range(6):
            for b in range(n_b):
                virial[s, v, b] += v_vb[v, b]


def run_centre_kernel(kernel: Any, geo: KernelGeometry, par: np.ndarray, n_species: int,
                      n_structures: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energies (B, S) eV, forces (B, 3N) eV/Å and virials (B, S, 6) eV of a compiled kernel over
    the pairs in centre-atom order, ``kernel(ptr_n, r_k, u_kc, j_k, species_n, s_n, n_species,
    par, energy, forces, virial)`` adding into the zeroed outputs, for the per-entry constants
    ``par`` (B, entries, ...)."""
    n_b, n_atoms = par.shape[0], len(geo.s_n)
    energy = np.zeros((n_b, n_structures))
    forces = np.zeros((n_b, n_atoms, 3))
    virial = np.zeros((n_b, n_structures, 6))
    kernel(geo.ptr_n, geo.r_k, geo.u_kc, geo.j_k, geo.species_n, geo.s_n, n_species,
           np.ascontiguousarray(par), energy, forces, virial)
    return energy, forces.reshape(n_b, 3 * n_atoms), virial


#: from this many individuals on, the batch-inner kernel (:func:`_kernel_batch`) is used; below it
#: the single-vector kernel a vector at a time is faster (gpuga_Si_diamond, µs/atom per individual:
#: single 0.33, batches of 8 0.43, 12 0.38, 16 0.31, 24 0.26; `benchmarks/profile_eval.py tersoff
#: --population N`)
BATCH_INNER_MIN = 16


def fused_batch(geo: KernelGeometry, par: np.ndarray, n_species: int,
                n_structures: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energies (B, S) eV, forces (B, 3N) eV/Å and virials (B, S, 6) eV for the constants ``par``
    (B, entries, N_DERIVED) of :func:`derived`, by the batch-inner kernel (any B; below
    :data:`BATCH_INNER_MIN` :func:`gafit.forms.tersoff.fused.fused_tersoff` takes the
    single-vector kernel instead)."""
    n_b = par.shape[0]
    n_atoms = len(geo.s_n)
    energy = np.zeros((n_structures, n_b))
    forces = np.zeros((n_atoms, 3, n_b))
    virial = np.zeros((n_structures, 6, n_b))
    _kernel_batch(geo.ptr_n, geo.r_k, geo.u_kc, geo.j_k, geo.species_n, geo.s_n, n_species,
                  np.ascontiguousarray(par.transpose(1, 2, 0)), np.min(par[..., _LO], axis=0),
                  np.max(par[..., _HI], axis=0), energy, forces, virial)
    return energy.T, forces.reshape(3 * n_atoms, n_b).T, virial.transpose(2, 0, 1)
