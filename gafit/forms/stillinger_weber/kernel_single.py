"""The Stillinger-Weber kernel of one parameter vector (numba), vectorised over the work of that
vector.

What every least-squares step pays is one vector. The batch kernel
(:mod:`gafit.forms.stillinger_weber.kernel`) computes the geometry of every triplet of the table
once per atom and reuses it for every individual, which one vector cannot amortise: with a table
as wide as a fit's bounds need (pairs out to the largest a sigma allowed), most of those triplets
are beyond the vector's own reach. Here the atoms are taken in chunks (a few hundred of the
table's pairs, so that the work arrays stay in cache), and each chunk goes through phases:

1. per pair (scalar, branch-free): the pairs inside their entry's reach are copied, in order,
   with r, the unit vector and the neighbour's species, into the chunk's work arrays; a pair
   beyond the reach adds nothing (no two-body term, no leg of a three-body term), so nothing
   after this sees it, and the triplets' work grows with the vector's reach, not the table's;
2. per kept pair (a loop with no calls, which the compiler vectorises: its exp and log are
   :mod:`gafit.forms.vec_math`'s): the two-body term and dphi2/dr, the leg factor h and dh/dr,
   in runs of pairs of one entry (the whole chunk with one species), whose constants are read
   once;
3. per atom, per unordered triplet {j, k} of its kept pairs (scalar: an atom has a few, and
   short loops do not pay for vectorising): cos theta from the unit vectors,
   h_ij h_ik W(cos), its radial parts onto each pair's dE/dr and the angular part
   dE/dcos dcos/dd onto each pair's dE/dd_ij; then each pair's dE/dd_ij goes once into the forces
   of i and j and into the structure's virial (d_ij (x) dE/dd_ij: the per-triplet virial terms
   sum to it).

The physics and the numbers are those of the batch kernel and of the numpy path
(:func:`gafit.forms.stillinger_weber.evaluate.evaluate_numpy`), tested equal at 1e-12.
"""

from __future__ import annotations

import numpy as np

from gafit.forms.jit import njit
from gafit.forms.scatter import pair_force
from gafit.forms.stillinger_weber.kernel import (
    _ASIG,
    _BB,
    _COS0,
    _CUT,
    _GSIG,
    _K,
    _LE,
    _LSIG,
    _P,
    _Q,
    _SIG,
)
from gafit.forms.tersoff.kernel import KernelGeometry
from gafit.forms.tersoff.kernel_single import _chunk_end
from gafit.forms.vec_math import vexp_fma as vexp
from gafit.forms.vec_math import vlog_fma as vlog

#: pairs of the table per chunk of atoms (more when one atom has more): the kept pairs' work
#: arrays then stay in the core's cache
CHUNK_PAIRS = 256
#: whole exponents p, q up to this are multiplied out (as the batch kernel does), others go
#: through exp(q ln(sigma/r))
_WHOLE_MAX = 16


def _njit(fn):
    return njit(fn)


@_njit
def _keep_inside(n0, n1, ptr_n, r_k, u_kc, j_k, species_n, n_sp, q, cptr_n, r_m, ux_m, uy_m,
                 uz_m, k_m, e_m, sj_m):
    """Phase 1 for atoms n0:n1: their pairs closer than their entry's reach, in order, into the
    work arrays (r, unit vector, the table's row, entry (i, j, j), species of j), each atom's
    from ``cptr_n[i - n0]``; returns how many. Every pair is written and only a kept one moves
    the end on (no branch to mispredict)."""
    m = 0
    for i in range(n0, n1):
        cptr_n[i - n0] = m
        si = species_n[i]
        for k in range(ptr_n[i], ptr_n[i + 1]):
            sj = species_n[j_k[k]]
            e = (si * n_sp + sj) * n_sp + sj
            r = r_k[k]
            r_m[m] = r
            ux_m[m] = u_kc[k, 0]
            uy_m[m] = u_kc[k, 1]
            uz_m[m] = u_kc[k, 2]
            k_m[m] = k
            e_m[m] = e
            sj_m[m] = sj
            m += 1 if r < q[e, _CUT] else 0
    cptr_n[n1 - n0] = m
    return m


@_njit
def _power(r_m, sig, lsig, expo, base_m, out_m):
    """(sigma/r)^expo of each pair into out_m: 1 for expo 0; for a whole expo up to
    :data:`_WHOLE_MAX` by squaring sigma/r (base_m, work) and multiplying, a vectorised loop per
    step; else exp(expo (ln sigma - ln r))."""
    n = int(expo)
    if expo == 0.0:
        out_m[:] = 1.0
    elif n == expo and 0 < n <= _WHOLE_MAX:
        for la in range(r_m.shape[0]):
            base_m[la] = sig / r_m[la]
            out_m[la] = 1.0
        while n:
            if n & 1:
                for la in range(r_m.shape[0]):
                    out_m[la] *= base_m[la]
            n >>= 1
            if n:
                for la in range(r_m.shape[0]):
                    base_m[la] *= base_m[la]
    else:
        for la in range(r_m.shape[0]):
            out_m[la] = vexp((lsig - vlog(r_m[la])) * expo)


@_njit
def _pair_terms(q, e, r_m, sp_m, sq_m, ir_m, e2_m, dedr_m, h_m, dh_m):
    """Phase 2 for kept pairs all of entry e (views that the loops read from 0: with an offset the
    compiler cannot rule out a negative index, which numba wraps around, and does not vectorise):
    1/r, half the two-body term and half its dr derivative, the leg factor h and dh/dr, as
    :func:`gafit.forms.stillinger_weber.evaluate.two_body` and ``leg``. sp_m and sq_m are work, and
    ir_m too until the powers are made."""
    sig, asig, gsig, k = q[e, _SIG], q[e, _ASIG], q[e, _GSIG], q[e, _K]
    bb, p, qq = q[e, _BB], q[e, _P], q[e, _Q]
    _power(r_m, sig, q[e, _LSIG], p, ir_m, sp_m)
    _power(r_m, sig, q[e, _LSIG], qq, ir_m, sq_m)
    for la in range(r_m.shape[0]):
        r = r_m[la]
        inv_r = 1.0 / r
        ir_m[la] = inv_r
        inv_u = 1.0 / (r - asig)  # r < a sigma: u < 0 and both exponents negative
        x = sig * inv_u
        ex = vexp(x)
        sp = bb * sp_m[la]
        sq = sq_m[la]
        phi = k * (sp - sq) * ex
        e2_m[la] = phi * 0.5
        dphi = (k * ex * ((qq * sq - p * sp) * inv_r) + phi * (-x * inv_u)) * 0.5
        dedr_m[la] = dphi if ex > 0.0 else 0.0  # exp underflowed: dx may be inf
        xg = gsig * inv_u
        h = vexp(xg)
        h_m[la] = h
        dh = h * (-xg * inv_u)
        dh_m[la] = dh if h > 0.0 else 0.0


@_njit
def _triplets(c0, c1, si, n_sp, q, ux_m, uy_m, uz_m, ir_m, sj_m, h_m, dh_m, dedr_m, gx_m, gy_m,
              gz_m):
    """Phase 3 for the kept pairs c0:c1 of one atom (species si): every unordered {j, k} once,
    h_ij h_ik W(cos), W the mean of entries (i, j, k) and (i, k, j) when they differ; adds the
    radial parts to dedr_m and dE/dcos dcos/dd to g*_m of both pairs. Returns the energy, eV."""
    e_sum = 0.0
    le, cos0 = q[0, _LE], q[0, _COS0]
    for a in range(c0, c1):
        ha, dha, ia = h_m[a], dh_m[a], ir_m[a]
        ux, uy, uz = ux_m[a], uy_m[a], uz_m[a]
        dra, gxa, gya, gza = 0.0, 0.0, 0.0, 0.0
        for c in range(a + 1, c1):
            vx, vy, vz = ux_m[c], uy_m[c], uz_m[c]
            cs = ux * vx + uy * vy + uz * vz
            if n_sp > 1:
                e = (si * n_sp + sj_m[a]) * n_sp + sj_m[c]
                e2 = (si * n_sp + sj_m[c]) * n_sp + sj_m[a]
                dc = cs - q[e, _COS0]
                wt = q[e, _LE] * dc
                w = wt * dc
                dw = 2.0 * wt
                if e2 != e:  # j and k differ in species: the mean of (i, j, k) and (i, k, j)
                    dc = cs - q[e2, _COS0]
                    wt = q[e2, _LE] * dc
                    w = (w + wt * dc) * 0.5
                    dw = (dw + 2.0 * wt) * 0.5
            else:
                dc = cs - cos0
                wt = le * dc
                w = wt * dc
                dw = 2.0 * wt
            hc = h_m[c]
            hw = hc * w
            e_sum += ha * hw
            dra += dha * hw
            dedr_m[c] += dh_m[c] * (w * ha)
            dcos = ha * hc * dw
            # dcos/dd_ij = (u_ik - cos u_ij) / r_ij, dcos/dd_ik = (u_ij - cos u_ik) / r_ik
            ga = dcos * ia
            gc = dcos * ir_m[c]
            gxa += (vx - cs * ux) * ga
            gya += (vy - cs * uy) * ga
            gza += (vz - cs * uz) * ga
            gx_m[c] += (ux - cs * vx) * gc
            gy_m[c] += (uy - cs * vy) * gc
            gz_m[c] += (uz - cs * vz) * gc
        dedr_m[a] += dra
        gx_m[a] += gxa
        gy_m[a] += gya
        gz_m[a] += gza
    return e_sum


@_njit
def _scatter(i, c0, c1, r_m, ux_m, uy_m, uz_m, k_m, j_k, dedr_m, gx_m, gy_m, gz_m, forces,
             virial_s):
    """Phase 3b for the kept pairs c0:c1 of atom i: each pair's dE/dd_ij (g*_m, with its radial
    part dedr_m u added) into forces (N, 3) and the structure's virial_s (6,), Voigt order: the
    symmetrised sum of d_ij (x) dE/dd_ij."""
    fix, fiy, fiz = 0.0, 0.0, 0.0
    v0, v1, v2, v3, v4, v5 = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    for a in range(c0, c1):
        gx, gy, gz, w0, w1, w2, w3, w4, w5 = pair_force(
            forces, j_k[k_m[a]], r_m[a], ux_m[a], uy_m[a], uz_m[a], dedr_m[a], gx_m[a], gy_m[a],
            gz_m[a])
        fix += gx
        fiy += gy
        fiz += gz
        v0 += w0
        v1 += w1
        v2 += w2
        v3 += w3
        v4 += w4
        v5 += w5
    forces[i, 0] += fix
    forces[i, 1] += fiy
    forces[i, 2] += fiz
    virial_s[0] += v0
    virial_s[1] += v1
    virial_s[2] += v2
    virial_s[3] += v3
    virial_s[4] += v4
    virial_s[5] += v5


@_njit
def _kernel_single(ptr_n, r_k, u_kc, j_k, species_n, s_n, n_sp, q, chunk_pairs, energy, forces,
                   virial):
    # q (entries, N_DERIVED) from kernel.derived() of one vector; energy (S,), forces (N, 3),
    # virial (S, 6), all added to. Chunks of whole atoms of about chunk_pairs pairs.
    n_atoms = ptr_n.shape[0] - 1
    max_p, max_n = 1, 1  # the largest chunk's pairs and atoms
    n0 = 0
    while n0 < n_atoms:
        n1 = _chunk_end(ptr_n, n0, chunk_pairs)
        max_p = max(max_p, ptr_n[n1] - ptr_n[n0])
        max_n = max(max_n, n1 - n0)
        n0 = n1
    cptr_n = np.empty(max_n + 1, np.int64)
    r_m = np.empty(max_p)
    ux_m = np.empty(max_p)
    uy_m = np.empty(max_p)
    uz_m = np.empty(max_p)
    k_m = np.empty(max_p, np.int64)
    e_m = np.empty(max_p, np.int64)
    sj_m = np.empty(max_p, np.int64)
    ir_m = np.empty(max_p)
    sp_m = np.empty(max_p)
    sq_m = np.empty(max_p)
    e2_m = np.empty(max_p)  # half the two-body energy
    dedr_m = np.empty(max_p)
    h_m = np.empty(max_p)
    dh_m = np.empty(max_p)
    gx_m = np.empty(max_p)  # the angular part of dE/dd_ij
    gy_m = np.empty(max_p)
    gz_m = np.empty(max_p)
    n0 = 0
    while n0 < n_atoms:
        n1 = _chunk_end(ptr_n, n0, chunk_pairs)
        n_m = _keep_inside(n0, n1, ptr_n, r_k, u_kc, j_k, species_n, n_sp, q, cptr_n, r_m, ux_m,
                           uy_m, uz_m, k_m, e_m, sj_m)
        l0 = 0
        while l0 < n_m:  # runs of pairs of one entry (the whole chunk with one species)
            l1 = l0 + 1
            if n_sp == 1:
                l1 = n_m
            while l1 < n_m and e_m[l1] == e_m[l0]:
                l1 += 1
            _pair_terms(q, e_m[l0], r_m[l0:l1], sp_m[l0:l1], sq_m[l0:l1], ir_m[l0:l1],
                        e2_m[l0:l1], dedr_m[l0:l1], h_m[l0:l1], dh_m[l0:l1])
            l0 = l1
        gx_m[:n_m] = 0.0
        gy_m[:n_m] = 0.0
        gz_m[:n_m] = 0.0
        for i in range(n0, n1):
            c0, c1 = cptr_n[i - n0], cptr_n[i - n0 + 1]
            if c1 == c0:
                continue
            s = s_n[i]
            e_sum = _triplets(c0, c1, species_n[i], n_sp, q, ux_m, uy_m, uz_m, ir_m, sj_m, h_m,
                              dh_m, dedr_m, gx_m, gy_m, gz_m)
            for a in range(c0, c1):
                e_sum += e2_m[a]
            energy[s] += e_sum
            _scatter(i, c0, c1, r_m, ux_m, uy_m, uz_m, k_m, j_k, dedr_m, gx_m, gy_m, gz_m,
                     forces, virial[s])
        n0 = n1


def fused_single(geo: KernelGeometry, q: np.ndarray, n_species: int,
                 n_structures: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energies (1, S) eV, forces (1, 3N) eV/Å and virials (1, S, 6) eV of one parameter vector,
    for its constants ``q`` (1, entries, N_DERIVED) of
    :func:`gafit.forms.stillinger_weber.kernel.derived`, on ``geo``."""
    n_atoms = len(geo.s_n)
    energy = np.zeros((1, n_structures))
    forces = np.zeros((1, n_atoms, 3))
    virial = np.zeros((1, n_structures, 6))
    _kernel_single(geo.ptr_n, geo.r_k, geo.u_kc, geo.j_k, geo.species_n, geo.s_n, n_species,
                   np.ascontiguousarray(q[0]), CHUNK_PAIRS, energy[0], forces[0], virial[0])
    return energy, forces.reshape(1, 3 * n_atoms), virial
