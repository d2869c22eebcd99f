"""A fused Stillinger-Weber kernel (numba): energies, forces and virials of a batch of parameter
vectors in one pass over the atoms, with no per-pair or per-triplet work arrays and no sparse
products.

The pairs are read in centre-atom order (:class:`gafit.forms.tersoff.kernel.KernelGeometry`, the
CSR layout of the Tersoff kernel), so every triplet (ij, ik) of atom i is a pair of its rows. Per
atom, the geometry of its triplets (cos theta, dcos/dd_ij and dcos/dd_ik, the virial of dcos) is
computed once and reused by every individual of the batch. Per individual, the two-body term and
the leg factor h of each pair, then h_ij h_ik W(cos) of each unordered {j, k}, go straight into
the atoms' forces and the structure's energy and virial. The physics is that of
:mod:`gafit.forms.stillinger_weber.evaluate` (LAMMPS's ``pair_style sw``), which stays as the
numpy path: with ``ENABLED = False`` or without numba,
:func:`gafit.forms.stillinger_weber.evaluate.evaluate` takes it.

Single vectors (each least-squares step) and, with one species, batches of any size go instead to
:mod:`gafit.forms.stillinger_weber.kernel_single` a vector at a time (:func:`takes_batch_kernel`):
it skips the pairs beyond the vector's reach before any triplet is formed, where this kernel
computes the geometry of every triplet of the table, which a fit's tables (as wide as the bounds
need) make several times the triplets inside the reach.

The kernel is serial, as the pair and Tersoff kernels: a fit's parallelism is its worker
processes (:mod:`gafit.parallel`), one evaluation per worker at a time.
"""

from __future__ import annotations

import math

import numpy as np

from gafit.forms.jit import njit
from gafit.forms.rows import as_population
from gafit.forms.tersoff.kernel import KernelGeometry, run_centre_kernel

try:
    import numba
except ImportError:  # pragma: no cover - numba is optional
    numba = None

#: set False to force the numpy path (tests compare the two)
ENABLED = numba is not None

# the parameter columns of an entry (as gafit.forms.stillinger_weber.evaluate; repeated here: that
# module imports this one)
_EPS, _SIGMA, _SMALL_A, _LAM, _GAMMA, _COS0_, _BIG_A, _BIG_B, _P_, _Q_ = range(10)
# columns of the per-(individual, entry) constants built by :func:`derived`
_CUT, _SIG, _ASIG, _GSIG, _K, _BB, _P, _Q, _LE, _COS0, _LSIG = range(11)
N_DERIVED = 11


#: with several species, from this many individuals on :func:`fused_sw` (the triplets' geometry
#: once per atom for the whole batch); below it, and at every batch size with one species,
#: :func:`gafit.forms.stillinger_weber.kernel_single.fused_single` a vector at a time (see
#: :func:`takes_batch_kernel`)
BATCH_MIN = 8
#: the same with one species: none (the single-vector kernel is faster per individual at every
#: batch size measured, 1 to 100: 1.07-1.16x at 64-100 on mlearn_Si, more on a fit's wide tables)
BATCH_MIN_ONE_SPECIES: int | None = None


def takes_batch_kernel(n_b: int, n_species: int) -> bool:
    """Whether a batch of ``n_b`` vectors goes to :func:`fused_sw` rather than to the
    single-vector kernel a vector at a time. With several species the single kernel's pair phase
    has short runs of one entry (a gather of constants per pair) and the batch kernel overtakes it
    at about 8 individuals (1.3x faster at 64 on CdTe, 1.9x on six species). A population's
    batches (:mod:`gafit.forms.rows`) take the kernel of a large batch whatever their size."""
    least = BATCH_MIN_ONE_SPECIES if n_species == 1 else BATCH_MIN
    return least is not None and (n_b >= least or as_population())


def available() -> bool:
    return ENABLED and numba is not None


def _njit(fn):
    return njit(fn)


def derived(par: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """(B, entries, N_DERIVED) constants of parameters ``par`` (B, entries, 11) for the kernel;
    ``cut`` (B, entries) is each entry's reach (:func:`gafit.forms.stillinger_weber.evaluate.reach`)."""
    sigma = par[..., _SIGMA]
    with np.errstate(divide="ignore"):  # sigma = 0 in an entry that is no pair's
        log_sigma = np.log(sigma)
    cols = [cut, sigma, par[..., _SMALL_A] * sigma, par[..., _GAMMA] * sigma,
            par[..., _BIG_A] * par[..., _EPS], par[..., _BIG_B], par[..., _P_], par[..., _Q_],
            par[..., _LAM] * par[..., _EPS], par[..., _COS0_], log_sigma]
    return np.ascontiguousarray(np.stack(cols, axis=-1))


@_njit
def _power(s: float, ls: float, expo: float) -> float:
    """s^expo for s = sigma/r, ls = ln s: by multiplication when expo is a whole number up to 16
    (p = 4, q = 0 in the usual files; equal to exp(ls expo) to rounding), else exp(ls expo)."""
    if expo == 0.0:
        return 1.0
    n = int(expo)
    if n == expo and 0 < n <= 16:
        out = 1.0
        base = s
        while n:
            if n & 1:
                out *= base
            base *= base
            n >>= 1
        return out
    return math.exp(ls * expo)


@_njit
def _kernel(ptr_n, r_k, u_kc, j_k, species_n, s_n, n_sp, par, energy, forces, virial):
    # par (B, entries, N_DERIVED) from derived(); energy (B, S),
    # forces (B, N, 3), virial (B, S, 6) in Voigt order, all added to.
    n_b = par.shape[0]
    n_atoms = ptr_n.shape[0] - 1
    nn_max = 1
    for i in range(n_atoms):
        nn_max = max(nn_max, ptr_n[i + 1] - ptr_n[i])
    # per-atom buffers, rows a (pair ij) x columns c (pair ik), filled for a < c
    cos_ac = np.empty((nn_max, nn_max))
    gj_acx = np.empty((nn_max, nn_max, 3))  # dcos/dd_ij; dcos/dd_ik of (a, c) is gj_acx[c, a]
    vir_acv = np.empty((nn_max, nn_max, 6))  # d cos/d strain
    e3_ac = np.empty((nn_max, nn_max), np.int64)  # entry (i, j, k)
    e3m_ac = np.empty((nn_max, nn_max), np.int64)  # entry (i, k, j)
    e2_a = np.empty(nn_max, np.int64)
    h_a = np.empty(nn_max)  # leg factor h of pair a and dh/dr
    dh_a = np.empty(nn_max)
    dedr_a = np.empty(nn_max)
    lr_a = np.empty(nn_max)  # ln r and 1/r of pair a
    ir_a = np.empty(nn_max)
    fj_ax = np.empty((nn_max, 3))  # force on neighbour j of pair a through the angles
    for i in range(n_atoms):
        k0 = ptr_n[i]
        nn = ptr_n[i + 1] - k0
        if nn == 0:
            continue
        si, s = species_n[i], s_n[i]
        # --- geometry of the atom's triplets, once for the whole batch
        for a in range(nn):
            ka = k0 + a
            sj = species_n[j_k[ka]]
            e2_a[a] = (si * n_sp + sj) * n_sp + sj
            ux, uy, uz = u_kc[ka, 0], u_kc[ka, 1], u_kc[ka, 2]
            inv_r = 1.0 / r_k[ka]
            lr_a[a] = math.log(r_k[ka])
            ir_a[a] = inv_r
            for c in range(nn):
                if c == a:
                    continue
                kc = k0 + c
                sk = species_n[j_k[kc]]
                vx, vy, vz = u_kc[kc, 0], u_kc[kc, 1], u_kc[kc, 2]
                cs = ux * vx + uy * vy + uz * vz
                gj_acx[a, c, 0] = (vx - cs * ux) * inv_r
                gj_acx[a, c, 1] = (vy - cs * uy) * inv_r
                gj_acx[a, c, 2] = (vz - cs * uz) * inv_r
                if a < c:
                    cos_ac[a, c] = cs
                    e3_ac[a, c] = (si * n_sp + sj) * n_sp + sk
                    e3m_ac[a, c] = (si * n_sp + sk) * n_sp + sj
                    vir_acv[a, c, 0] = 2.0 * ux * vx - cs * (ux * ux + vx * vx)
                    vir_acv[a, c, 1] = 2.0 * uy * vy - cs * (uy * uy + vy * vy)
                    vir_acv[a, c, 2] = 2.0 * uz * vz - cs * (uz * uz + vz * vz)
                    vir_acv[a, c, 3] = uy * vz + vy * uz - cs * (uy * uz + vy * vz)
                    vir_acv[a, c, 4] = ux * vz + vx * uz - cs * (ux * uz + vx * vz)
                    vir_acv[a, c, 5] = ux * vy + vx * uy - cs * (ux * uy + vx * vy)
        for b in range(n_b):
            # --- the two-body term and leg factor of each pair ij, entry (i, j, j)
            e_sum = 0.0
            for a in range(nn):
                e = e2_a[a]
                r = r_k[k0 + a]
                h_a[a] = 0.0
                dh_a[a] = 0.0
                dedr_a[a] = 0.0
                fj_ax[a, 0] = 0.0
                fj_ax[a, 1] = 0.0
                fj_ax[a, 2] = 0.0
                if not r < par[b, e, _CUT]:
                    continue
                u = r - par[b, e, _ASIG]
                inv_u = 1.0 / u
                # two-body: x = sigma / u
                x = par[b, e, _SIG] * inv_u
                dx = -x * inv_u
                ex = math.exp(x)
                ls = par[b, e, _LSIG] - lr_a[a]  # ln(sigma / r)
                p, q = par[b, e, _P], par[b, e, _Q]
                s_r = par[b, e, _SIG] * ir_a[a]
                sp = par[b, e, _BB] * _power(s_r, ls, p)
                sq = _power(s_r, ls, q)
                k = par[b, e, _K]
                phi = k * (sp - sq) * ex
                e_sum += phi * 0.5
                if ex > 0.0:
                    dedr_a[a] = (k * ex * ((q * sq - p * sp) * ir_a[a]) + phi * dx) * 0.5
                # leg: x = gamma sigma / u
                x = par[b, e, _GSIG] * inv_u
                hh = math.exp(x)
                h_a[a] = hh
                if hh > 0.0:
                    dh_a[a] = hh * (-x * inv_u)
            # --- three-body terms h_ij h_ik W of each unordered {j, k}; forces through cos
            fix, fiy, fiz = 0.0, 0.0, 0.0
            v0, v1, v2, v3, v4, v5 = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
            for a in range(nn):
                ha = h_a[a]
                if ha == 0.0:
                    continue
                for c in range(a + 1, nn):
                    hc = h_a[c]
                    if hc == 0.0:
                        continue
                    cs = cos_ac[a, c]
                    e = e3_ac[a, c]
                    dc = cs - par[b, e, _COS0]
                    wt = par[b, e, _LE] * dc
                    w = wt * dc
                    dw = 2.0 * wt
                    e2 = e3m_ac[a, c]
                    if e2 != e:  # j and k differ in species: the mean of (i, j, k) and (i, k, j)
                        dc = cs - par[b, e2, _COS0]
                        wt = par[b, e2, _LE] * dc
                        w = (w + wt * dc) * 0.5
                        dw = (dw + 2.0 * wt) * 0.5
                    hw = hc * w
                    e_sum += ha * hw
                    dedr_a[a] += dh_a[a] * hw
                    dedr_a[c] += dh_a[c] * (w * ha)
                    dcos = ha * hc * dw
                    if dcos == 0.0:
                        continue
                    for x3 in range(3):
                        fj_ax[a, x3] += gj_acx[a, c, x3] * dcos
                        fj_ax[c, x3] += gj_acx[c, a, x3] * dcos
                    v0 += dcos * vir_acv[a, c, 0]
                    v1 += dcos * vir_acv[a, c, 1]
                    v2 += dcos * vir_acv[a, c, 2]
                    v3 += dcos * vir_acv[a, c, 3]
                    v4 += dcos * vir_acv[a, c, 4]
                    v5 += dcos * vir_acv[a, c, 5]
            energy[b, s] += e_sum
            # --- each pair's dE/dr (F_i = dE/dr u, F_j = -dE/dr u, virial dE/dr r u u) and the
            # angular forces on its neighbour (the opposite on i)
            for a in range(nn):
                gr = dedr_a[a]
                ka = k0 + a
                ux, uy, uz = u_kc[ka, 0], u_kc[ka, 1], u_kc[ka, 2]
                fx = gr * ux + fj_ax[a, 0]
                fy = gr * uy + fj_ax[a, 1]
                fz = gr * uz + fj_ax[a, 2]
                if fx == 0.0 and fy == 0.0 and fz == 0.0:
                    continue
                ja = j_k[ka]
                fix += fx
                fiy += fy
                fiz += fz
                forces[b, ja, 0] -= fx
                forces[b, ja, 1] -= fy
                forces[b, ja, 2] -= fz
                gr *= r_k[ka]
                v0 += gr * ux * ux
                v1 += gr * uy * uy
                v2 += gr * uz * uz
                v3 += gr * uy * uz
                v4 += gr * ux * uz
                v5 += gr * ux * uy
            forces[b, i, 0] += fix
            forces[b, i, 1] += fiy
            forces[b, i, 2] += fiz
            virial[b, s, 0] += v0
            virial[b, s, 1] += v1
            virial[b, s, 2] += v2
            virial[b, s, 3] += v3
            virial[b, s, 4] += v4
            virial[b, s, 5] += v5


def fused_sw(geo: KernelGeometry, par: np.ndarray, n_species: int,
             n_structures: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energies (B, S) eV, forces (B, 3N) eV/Å and virials (B, S, 6) eV for the constants ``par``
    (B, entries, N_DERIVED) of :func:`derived`."""
    return run_centre_kernel(_kernel, geo, par, n_species, n_structures)
