"""The Tersoff kernel of one parameter vector (numba), vectorised over the work of that vector.

What every least-squares step pays is one vector; the batch kernels of
:mod:`gafit.forms.tersoff.kernel` vectorise over individuals, which one vector does not have, and
a scalar loop does one exp or log at a time. Here the
atoms are taken in chunks (a few hundred pairs, so that the work arrays stay in cache) and each
chunk goes through phases, each a loop with no calls that the compiler vectorises (its exp and log
are :mod:`gafit.forms.vec_math`'s):

1. per pair (vectorised): f_C(r_ij); per ordered triplet (ij, ik) (a gather): f_C(r_ik), 0
   when r_ij or r_ik is beyond its R + D (the triplet then adds nothing). The triplets' geometry
   (cos theta, r_ij - r_ik, which pairs, which entry, which triplet is whose mirror) does not
   depend on the parameters: it is laid out once per table in the kernel's order
   (:class:`SingleGeometry`), and only read here;
2. per triplet (vectorised): the zeta term f_C(r_ik) g(theta) exp[(lambda3 (r_ij - r_ik))^m] and
   its derivatives by r_ij, r_ik and cos; then zeta of each pair, a sum over its row of triplets;
3. per pair (vectorised): f_R, f_A, the bond order with LAMMPS's branches as selects, the energy,
   dE/dr at fixed zeta and dE/dzeta;
4. per unordered triplet (scalar, one flat loop over the chunk's: short loops per atom and pair
   cost more in mispredicted loop ends than in arithmetic): the chain rule through zeta, a
   triplet and its mirror together (they share cos theta and its geometry), summed per pair into
   dE/dd_ij (d_ij the pair's vector); then per atom, each pair's dE/dd_ij goes once into the
   forces of i and j and into the structure's virial (d_ij (x) dE/dd_ij: the per-triplet virial
   terms sum to it).

The physics and the numbers are those of the other kernels (tested equal to the numpy path of
:mod:`gafit.forms.tersoff.evaluate` at 1e-12).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gafit.forms.scatter import flush_row, pair_force
from gafit.forms.tersoff.kernel import (
    _A_,
    _B_,
    _BE,
    _CC,
    _D2,
    _DS,
    _EXP_CLAMP,
    _G0,
    _GA,
    _H_,
    _HI,
    _L1,
    _L2,
    _L3,
    _LO,
    _M_,
    _N_,
    _R,
    _SW1,
    _SW2,
    _SW3,
    _SW4,
    _XS,
    KernelGeometry,
    _njit,
)
from gafit.forms.tersoff.kernel import _pair_terms as _pair_energy
from gafit.forms.vec_math import vexp_fma as vexp
from gafit.forms.vec_math import vlog_fma as vlog
from gafit.forms.vec_math import vsin_cos_fma as vsin_cos

#: pairs per chunk of atoms (more when one atom has more): the chunk's per-pair and per-triplet
#: work arrays then stay in the core's cache (256 against 128: 0.92-0.97x the time, 384 about the
#: same as 256, on gpuga_Si_diamond and mlearn_Si)
CHUNK_PAIRS = 256


@dataclass
class SingleGeometry:
    """The parameter-independent triplet geometry of :class:`KernelGeometry` in the single-vector
    kernel's order, built once per table (:func:`single_geometry`): the ordered triplets (a, c) of
    atom i (pairs a = ij and c = ik, both of atom i's rows) are rows
    ``tptr_n[i] + a (nn - 1) + (c or c - 1)``; the unordered triplets a < c of atom i, rows
    ``uptr_n[i]`` on in the order of a then c. 28 bytes per ordered triplet (36 with several
    species) and 8 (12) per pair."""

    tptr_n: np.ndarray  # (N + 1,) the first triplet row of each atom
    cos_t: np.ndarray  # (T,) cos theta_ijk
    dr_t: np.ndarray  # (T,) r_ij - r_ik, Å
    kc_t: np.ndarray  # (T,) uint32: the pair ik of each triplet (KernelGeometry's rows)
    ka_t: np.ndarray  # (T,) uint32: the pair ij with several species, else empty
    e3_t: np.ndarray  # (T,) int32 entry (i, j, k) with several species, else empty
    e2_k: np.ndarray  # (P,) int32 entry (i, j, j) of each pair with several species, else empty
    inv_k: np.ndarray  # (P,) 1/r, 1/Å
    uptr_n: np.ndarray  # (N + 1,) the first unordered triplet (a < c) of each atom
    ka_u: np.ndarray  # (U,) uint32 pair a of each unordered triplet
    kc_u: np.ndarray  # (U,) uint32 pair c
    tac_u: np.ndarray  # (U,) uint32 triplet row of (a, c)
    tca_u: np.ndarray  # (U,) uint32 triplet row of (c, a)


@_njit
def _layout(ptr_n, r_k, u_kc, j_k, species_n, n_sp, tptr_n, cos_t, dr_t, ka_t, kc_t, e3_t, e2_k,
            inv_k, uptr_n, ka_u, kc_u, tac_u, tca_u):
    """Fills :class:`SingleGeometry`'s arrays (tptr_n and uptr_n already set)."""
    for i in range(ptr_n.shape[0] - 1):
        k0 = ptr_n[i]
        nn = ptr_n[i + 1] - k0
        si = species_n[i]
        m = nn - 1
        tb = tptr_n[i]
        u = uptr_n[i]
        for a in range(nn):
            for c in range(a + 1, nn):
                ka_u[u] = k0 + a
                kc_u[u] = k0 + c
                tac_u[u] = tb + a * m + c - 1
                tca_u[u] = tb + c * m + a
                u += 1
        for a in range(nn):
            ka = k0 + a
            inv_k[ka] = 1.0 / r_k[ka]
            if n_sp > 1:
                sj = species_n[j_k[ka]]
                e2_k[ka] = (si * n_sp + sj) * n_sp + sj
            for c in range(nn):
                if c == a:
                    continue
                kc = k0 + c
                t = tb + a * m + (c if c < a else c - 1)
                cos_t[t] = u_kc[ka, 0] * u_kc[kc, 0] + u_kc[ka, 1] * u_kc[kc, 1] + u_kc[ka, 2] * u_kc[kc, 2]
                dr_t[t] = r_k[ka] - r_k[kc]
                kc_t[t] = kc
                if n_sp > 1:
                    ka_t[t] = ka
                    e3_t[t] = (si * n_sp + species_n[j_k[ka]]) * n_sp + species_n[j_k[kc]]


def single_geometry(geo: KernelGeometry, n_species: int) -> SingleGeometry:
    """The :class:`SingleGeometry` of ``geo`` (a table's pairs in centre-atom order)."""
    nn_n = np.diff(geo.ptr_n)
    tptr_n = np.zeros(len(nn_n) + 1, np.int64)
    np.cumsum(nn_n * (nn_n - 1), out=tptr_n[1:])
    n_t, n_p = int(tptr_n[-1]), len(geo.r_k)
    uptr_n = tptr_n // 2
    n_u = n_t // 2
    if max(n_t, n_p) >= 2**32:
        raise MemoryError(f"{n_t} triplets: more than the single-vector kernel indexes")
    several = n_species > 1
    out = SingleGeometry(tptr_n=tptr_n, cos_t=np.empty(n_t), dr_t=np.empty(n_t),
                         kc_t=np.empty(n_t, np.uint32), ka_t=np.empty(n_t if several else 0, np.uint32),
                         e3_t=np.empty(n_t if several else 0, np.int32),
                         e2_k=np.empty(n_p if several else 0, np.int32), inv_k=np.empty(n_p),
                         uptr_n=uptr_n, ka_u=np.empty(n_u, np.uint32), kc_u=np.empty(n_u, np.uint32),
                         tac_u=np.empty(n_u, np.uint32), tca_u=np.empty(n_u, np.uint32))
    _layout(geo.ptr_n, geo.r_k, geo.u_kc, geo.j_k, geo.species_n, n_species, tptr_n, out.cos_t,
            out.dr_t, out.ka_t, out.kc_t, out.e3_t, out.e2_k, out.inv_k, out.uptr_n, out.ka_u,
            out.kc_u, out.tac_u, out.tca_u)
    return out


@_njit
def _cutoff_terms(r_k, q, e, fc_k, dfc_k):
    """Phase 1 for pairs all of entry e (views, as in :func:`_triplet_terms`): f_C(r) and
    df_C/dr, one vectorised loop (sine and cosine by :func:`gafit.forms.vec_math.vsin_cos_fma`)."""
    lo, hi, big_r, xs, ds = q[e, _LO], q[e, _HI], q[e, _R], q[e, _XS], q[e, _DS]
    for la in range(r_k.shape[0]):
        r = r_k[la]
        inner = r <= lo
        outer = r >= hi
        x = (r - big_r) * xs
        x = 0.0 if inner or outer else x  # |x| <= pi/2 in the band
        sin, cos = vsin_cos(x)
        fc_k[la] = 1.0 if inner else (0.0 if outer else 0.5 - 0.5 * sin)
        dfc_k[la] = 0.0 if inner or outer else cos * ds


@_njit
def _fill_cutoffs(k0, t0, t1, r_k, e2_k, e3_t, ka_t, kc_t, q, fc_k, dfc_k, fck_t, dfck_t):
    """Phase 1, several species, for the triplet rows t0:t1 (pairs from k0 in the chunk arrays
    fc_k, dfc_k): each triplet's f_C(r_ik), df_C/dr with its own entry's R, D (0 when r_ij or
    r_ik is beyond its R + D), into fck_t, dfck_t from 0."""
    for t in range(t0, t1):
        ka, kc = ka_t[t], kc_t[t]
        e3, ec = e3_t[t], e2_k[kc]
        lc = kc - k0
        if r_k[ka] >= q[e2_k[ka], _HI]:
            fck_t[t - t0], dfck_t[t - t0] = 0.0, 0.0
        elif e3 == ec or (q[e3, _LO] == q[ec, _LO] and q[e3, _HI] == q[ec, _HI]
                          and q[e3, _R] == q[ec, _R]):
            # f_C(r_ik) with the R, D of pair ik's own entry: computed already
            fck_t[t - t0], dfck_t[t - t0] = fc_k[lc], dfc_k[lc]
        else:
            rc = r_k[kc]
            if rc >= q[e3, _HI]:
                fck_t[t - t0], dfck_t[t - t0] = 0.0, 0.0
            elif rc <= q[e3, _LO]:
                fck_t[t - t0], dfck_t[t - t0] = 1.0, 0.0
            else:
                x = (rc - q[e3, _R]) * q[e3, _XS]
                fck_t[t - t0], dfck_t[t - t0] = 0.5 - 0.5 * math.sin(x), math.cos(x) * q[e3, _DS]


@_njit
def _triplet_terms(q, e, cos_t, dr_t, fck_t, dfck_t, z_t, rij_t, rik_t, dzc_t):
    """Phase 2 for triplets all of entry e: the zeta term of each and its derivatives by r_ij,
    r_ik and cos (as :func:`gafit.forms.tersoff.evaluate.evaluate_numpy`, with LAMMPS's exp clamp), one
    vectorised loop. The entry's constants are read once (a gather per triplet would stop it
    vectorising), and the arrays are views that the loop reads from 0 (with an offset, the
    compiler cannot rule out a negative index, which numba wraps around, and does not
    vectorise)."""
    h, d2, cc, g0, gamma = q[e, _H_], q[e, _D2], q[e, _CC], q[e, _G0], q[e, _GA]
    lam3 = q[e, _L3]
    cube = q[e, _M_] == 3.0
    for t in range(z_t.shape[0]):
        hc = h - cos_t[t]
        inv = 1.0 / (hc * hc + d2)
        g = (inv * -cc + g0) * gamma
        dg = inv * inv * hc * (-2.0 * cc * gamma)
        x = dr_t[t] * lam3
        arg = x * x * x if cube else x
        darg = x * x * (3.0 * lam3) if cube else lam3
        ex = vexp(arg)
        ex = 1e30 if arg > _EXP_CLAMP else ex
        ex = 0.0 if arg < -_EXP_CLAMP else ex
        dex = darg * ex
        fck = fck_t[t]
        fg = fck * g
        z_t[t] = fg * ex
        rij_t[t] = fg * dex
        rik_t[t] = dfck_t[t] * g * ex - fg * dex
        dzc_t[t] = fck * dg * ex


@_njit
def _gather_cutoffs(k0, kc_t, fc_k, dfc_k, fck_t, dfck_t):
    """Phase 1 with one species: each triplet's f_C(r_ik), df_C/dr, those of its pair ik
    (fc_k, dfc_k: the chunk's pairs, from KernelGeometry's row k0), into fck_t, dfck_t. Where
    r_ij is beyond R + D the triplet's terms are not zeroed as with several species: they add
    nothing all the same, since that pair's dE/dzeta is 0 and its own f_C, the f_C(r_ik) of the
    mirror triplets, is 0."""
    k0u = np.uint32(k0)
    for t in range(fck_t.shape[0]):
        lc = kc_t[t] - k0u
        fck_t[t] = fc_k[lc]
        dfck_t[t] = dfc_k[lc]


@_njit
def _pair_terms(r_k, q, e, fc_k, dfc_k, zeta_k, tn_k, full_k, e_k, dedr_k, w_k):
    """Phase 3 for pairs all of entry e (views, as in :func:`_triplet_terms`): energy share,
    dE/dr at fixed zeta and dE/dzeta of each pair (0 beyond its R + D), by the batch kernel's
    :func:`gafit.forms.tersoff.kernel._pair_terms` (LAMMPS's bond-order branches as selects),
    in vectorised loops: the bond order's chain of logs and exps (into tn_k, full_k) has one of
    its own, as in the batch kernel's ``_pair_row``."""
    hi, lam1, lam2, big_a, big_b = q[e, _HI], q[e, _L1], q[e, _L2], q[e, _A_], q[e, _B_]
    beta, n = q[e, _BE], q[e, _N_]
    sw1, sw2, sw3, sw4 = q[e, _SW1], q[e, _SW2], q[e, _SW3], q[e, _SW4]
    inv_2n = -0.5 / n
    for la in range(r_k.shape[0]):
        tn = vexp(vlog(zeta_k[la] * beta) * n)
        tn_k[la] = tn
        full_k[la] = vexp(vlog(1.0 + tn) * inv_2n)  # LAMMPS: pow(1 + t^n, -1/2n)
    for la in range(r_k.shape[0]):
        e_k[la], dedr_k[la], w_k[la] = _pair_energy(
            r_k[la], fc_k[la], dfc_k[la], zeta_k[la], tn_k[la], full_k[la], hi, lam1, lam2, big_a,
            big_b, beta, n, sw1, sw2, sw3, sw4)


@_njit
def _triangle(k0, t0, ka_u, kc_u, tac_u, tca_u, u_kc, inv_k, cos_t, rij_t, rik_t, dzc_t, w_k,
              dedr_k, g_kc):
    """Phase 4a for the unordered triplets (a, c) of a chunk (pairs from KernelGeometry's row
    k0, triplet rows from t0, in the chunk's arrays from 0), in one flat loop: the chain rule
    through zeta of a triplet and its mirror, radial parts onto dedr_k of the pairs, the
    angular part dE/dcos dcos/dd onto g_kc."""
    k0u, t0u = np.uint32(k0), np.uint32(t0)
    for u in range(ka_u.shape[0]):
        ka, kc = ka_u[u], kc_u[u]
        la, lc = ka - k0u, kc - k0u
        t_ac, t_ca = tac_u[u] - t0u, tca_u[u] - t0u
        wa, wc = w_k[la], w_k[lc]
        dedr_k[la] += wa * rij_t[t_ac] + wc * rik_t[t_ca]
        dedr_k[lc] += wa * rik_t[t_ac] + wc * rij_t[t_ca]
        dcos = wa * dzc_t[t_ac] + wc * dzc_t[t_ca]
        # dcos/dd_ij = (u_ik - cos u_ij) / r_ij, dcos/dd_ik = (u_ij - cos u_ik) / r_ik
        cs = cos_t[t_ac]
        ux, uy, uz = u_kc[ka, 0], u_kc[ka, 1], u_kc[ka, 2]
        vx, vy, vz = u_kc[kc, 0], u_kc[kc, 1], u_kc[kc, 2]
        ga = dcos * inv_k[la]
        gc = dcos * inv_k[lc]
        g_kc[la, 0] += (vx - cs * ux) * ga
        g_kc[la, 1] += (vy - cs * uy) * ga
        g_kc[la, 2] += (vz - cs * uz) * ga
        g_kc[lc, 0] += (ux - cs * vx) * gc
        g_kc[lc, 1] += (uy - cs * vy) * gc
        g_kc[lc, 2] += (uz - cs * vz) * gc


@_njit
def _scatter(n0, n1, ptr_n, r_k, u_kc, j_k, s_n, e_k, dedr_k, g_kc, energy, forces, virial):
    """Phase 4b for atoms n0:n1: each pair's dE/dd_ij (g_kc, with its radial part dedr_k u
    added) scattered into energy (S,), forces (N, 3) and virial (S, 6, Voigt order: the
    symmetrised sum of d_ij (x) dE/dd_ij)."""
    k_base = ptr_n[n0]
    for i in range(n0, n1):
        k0 = ptr_n[i]
        nn = ptr_n[i + 1] - k0
        s = s_n[i]
        l0 = k0 - k_base
        e_sum = 0.0
        fix, fiy, fiz = 0.0, 0.0, 0.0
        v0, v1, v2, v3, v4, v5 = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
        for a in range(nn):
            ka = k0 + a
            la = l0 + a
            e_sum += e_k[la]
            gx, gy, gz, w0, w1, w2, w3, w4, w5 = pair_force(
                forces, j_k[ka], r_k[ka], u_kc[ka, 0], u_kc[ka, 1], u_kc[ka, 2], dedr_k[la],
                g_kc[la, 0], g_kc[la, 1], g_kc[la, 2])
            fix += gx
            fiy += gy
            fiz += gz
            v0 += w0
            v1 += w1
            v2 += w2
            v3 += w3
            v4 += w4
            v5 += w5
        flush_row(i, s, fix, fiy, fiz, e_sum, v0, v1, v2, v3, v4, v5, energy, forces, virial)


@_njit(inline="always")
def _chunk_end(ptr_n, n0, chunk_pairs):
    """The atom after the chunk that starts at atom n0: whole atoms while their pairs number at
    most chunk_pairs (at least one atom)."""
    n_atoms = ptr_n.shape[0] - 1
    n1 = n0 + 1
    while n1 < n_atoms and ptr_n[n1 + 1] - ptr_n[n0] <= chunk_pairs:
        n1 += 1
    return n1


@_njit(inline="always")
def _run_end(e_x, x0, n_x, n_sp):
    """The end of the run of rows from x0 with the entry of x0 (with one species, all n_x)."""
    if n_sp == 1:
        return n_x
    x1 = x0 + 1
    while x1 < n_x and e_x[x1] == e_x[x0]:
        x1 += 1
    return x1


@_njit
def _kernel_single(ptr_n, r_k, u_kc, j_k, s_n, tptr_n, cos_t, dr_t, ka_t, kc_t, e3_t, e2_k, inv_k,
                   uptr_n, ka_u, kc_u, tac_u, tca_u, n_sp, q, chunk_pairs, energy, forces, virial):
    # the geometry of KernelGeometry and SingleGeometry; q (entries, N_DERIVED) from
    # kernel.derived() of one vector; energy (S,), forces (N, 3), virial (S, 6), all added to.
    # Chunks of whole atoms of about chunk_pairs pairs.
    n_atoms = ptr_n.shape[0] - 1
    max_p, max_t = 1, 1  # the largest chunk's pairs and triplets
    n0 = 0
    while n0 < n_atoms:
        n1 = _chunk_end(ptr_n, n0, chunk_pairs)
        max_p = max(max_p, ptr_n[n1] - ptr_n[n0])
        max_t = max(max_t, tptr_n[n1] - tptr_n[n0])
        n0 = n1
    fc_k = np.empty(max_p)
    dfc_k = np.empty(max_p)
    zeta_k = np.empty(max_p)
    tn_k = np.empty(max_p)  # (beta zeta)^n and (1 + (beta zeta)^n)^(-1/2n)
    full_k = np.empty(max_p)
    e_k = np.empty(max_p)
    dedr_k = np.empty(max_p)
    w_k = np.empty(max_p)
    fck_t = np.empty(max_t)
    dfck_t = np.empty(max_t)
    z_t = np.empty(max_t)
    rij_t = np.empty(max_t)
    rik_t = np.empty(max_t)
    dzc_t = np.empty(max_t)
    g_kc = np.empty((max_p, 3))  # the angular part of dE/dd_ij of the chunk's pairs
    n0 = 0
    while n0 < n_atoms:
        n1 = _chunk_end(ptr_n, n0, chunk_pairs)
        k0, k1 = ptr_n[n0], ptr_n[n1]
        t0, t1 = tptr_n[n0], tptr_n[n1]
        n_k, n_t = k1 - k0, t1 - t0
        l0 = 0
        while l0 < n_k:  # runs of pairs of one entry (the whole chunk with one species)
            l1 = _run_end(e2_k[k0:k1], l0, n_k, n_sp)
            e = e2_k[k0 + l0] if n_sp > 1 else 0
            _cutoff_terms(r_k[k0 + l0 : k0 + l1], q, e, fc_k[l0:l1], dfc_k[l0:l1])
            l0 = l1
        if n_sp == 1:
            _gather_cutoffs(k0, kc_t[t0:t1], fc_k, dfc_k, fck_t[:n_t], dfck_t[:n_t])
            _triplet_terms(q, 0, cos_t[t0:t1], dr_t[t0:t1], fck_t[:n_t], dfck_t[:n_t],
                           z_t[:n_t], rij_t[:n_t], rik_t[:n_t], dzc_t[:n_t])
        else:
            _fill_cutoffs(k0, t0, t1, r_k, e2_k, e3_t, ka_t, kc_t, q, fc_k, dfc_k, fck_t, dfck_t)
            tt = t0
            while tt < t1:  # runs of triplets of one entry
                tt1 = _run_end(e3_t, tt, t1, n_sp)
                a, b = tt - t0, tt1 - t0
                _triplet_terms(q, e3_t[tt], cos_t[tt:tt1], dr_t[tt:tt1], fck_t[a:b],
                               dfck_t[a:b], z_t[a:b], rij_t[a:b], rik_t[a:b], dzc_t[a:b])
                tt = tt1
        # zeta of each pair: the sum of its row of triplets
        t = 0
        for i in range(n0, n1):
            nn = ptr_n[i + 1] - ptr_n[i]
            for a in range(ptr_n[i] - k0, ptr_n[i + 1] - k0):
                z = 0.0
                for tt in range(t, t + nn - 1):
                    z += z_t[tt]
                zeta_k[a] = z
                t += nn - 1
        l0 = 0
        while l0 < n_k:  # runs of pairs of one entry
            l1 = _run_end(e2_k[k0:k1], l0, n_k, n_sp)
            e = e2_k[k0 + l0] if n_sp > 1 else 0
            _pair_terms(r_k[k0 + l0 : k0 + l1], q, e, fc_k[l0:l1], dfc_k[l0:l1],
                        zeta_k[l0:l1], tn_k[l0:l1], full_k[l0:l1], e_k[l0:l1], dedr_k[l0:l1],
                        w_k[l0:l1])
            l0 = l1
        g_kc[:n_k] = 0.0
        u0, u1 = uptr_n[n0], uptr_n[n1]
        _triangle(k0, t0, ka_u[u0:u1], kc_u[u0:u1], tac_u[u0:u1], tca_u[u0:u1], u_kc,
                  inv_k[k0:k1], cos_t[t0:t1], rij_t, rik_t, dzc_t, w_k, dedr_k, g_kc)
        _scatter(n0, n1, ptr_n, r_k, u_kc, j_k, s_n, e_k, dedr_k, g_kc, energy, forces, virial)
        n0 = n1


def fused_single(geo: KernelGeometry, single: SingleGeometry, q: np.ndarray, n_species: int,
                 n_structures: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energies (1, S) eV, forces (1, 3N) eV/Å and virials (1, S, 6) eV of one parameter vector,
    for its constants ``q`` (1, entries, N_DERIVED) of :func:`gafit.forms.tersoff.kernel.derived`,
    on ``geo`` and its :func:`single_geometry`."""
    n_atoms = len(geo.s_n)
    energy = np.zeros((1, n_structures))
    forces = np.zeros((1, n_atoms, 3))
    virial = np.zeros((1, n_structures, 6))
    g = single
    _kernel_single(geo.ptr_n, geo.r_k, geo.u_kc, geo.j_k, geo.s_n, g.tptr_n, g.cos_t, g.dr_t,
                   g.ka_t, g.kc_t, g.e3_t, g.e2_k, g.inv_k, g.uptr_n, g.ka_u, g.kc_u, g.tac_u,
                   g.tca_u, n_species, np.ascontiguousarray(q[0]),
                   CHUNK_PAIRS, energy[0], forces[0], virial[0])
    return energy, forces.reshape(1, 3 * n_atoms), virial
