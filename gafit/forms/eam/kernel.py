"""A fused EAM kernel (numba): energies, forces and virials of a batch of tabulated potentials in
two sweeps over the half neighbour list, with no per-pair work arrays and no sparse products.

The pairs are sorted by the interval of the r tables they fall in (:class:`KernelGeometry`; shuffled
within an interval, so that consecutive pairs seldom add into the same sums), and the batch is taken
:data:`LANES` individuals at a time, the individuals innermost and contiguous in every per-block
array ([knot, table, individual], [atom, component, individual]), so that the arithmetic of a pair
is one vector operation for the whole block (:mod:`gafit.forms.lanes`; a last block of fewer than
:data:`VECTOR_MIN` runs a loop over its individuals, a batch of one plain scalar code: the same
operations). A single vector (a batch of one) goes through :mod:`gafit.forms.eam.kernel_single`
instead (with :data:`SINGLE`): the same physics, its numbers the same to rounding. LAMMPS's spline
coefficients of the block's r tables (rho(r), r phi(r)) are made :data:`WINDOW` intervals at a time
as the sweep reaches them, from the knots either side (the operations of
:func:`gafit.forms.eam.spline.spline_coefficients`: the rows of the whole table's coefficients), and
read in order by the pairs: no coefficient tables. The first sweep sums each atom's density
(:func:`_densities`); F is tabulated then, on the knots those densities need, when the grid gives it
as a function (``EAMGrid.embedding``); a pass over the atoms gives F and F' (linear beyond the
table, as LAMMPS) per individual, and the second sweep (:func:`_kernel`) adds the pair energies and
dE/dr into the structure energies, forces and virials. Every individual gets the same operations
whatever its block and the batch's size (no operation mixes individuals, no fused multiply-add), so
a batch gives the numbers of its individuals one at a time (through this kernel), bit for bit. The
physics is that of :mod:`gafit.forms.eam.evaluate`, which keeps the numpy path: with ``ENABLED =
False`` or without numba, :func:`gafit.forms.eam.evaluate.evaluate_grid` takes it.

The kernel is serial, as the pair and Tersoff kernels: a fit's parallelism is its worker processes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gafit.forms.jit import njit
from gafit.forms.lanes import LANES, vadd, vdiv, vload, vmul, vstore, vsub

if TYPE_CHECKING:
    from gafit.forms.eam.grid import EAMGrid

try:
    import numba
except ImportError:  # pragma: no cover - numba is optional
    numba = None

#: set False to force the numpy path (tests compare the two)
ENABLED = numba is not None

def available() -> bool:
    return ENABLED and numba is not None


@dataclass
class KernelGeometry:
    """The pairs of an EAM table sorted by the interval of the r tables they fall in."""

    lo: int  # the lowest interval of the pairs
    ptr_m: np.ndarray  # (hi - lo + 2,) the pairs in interval lo + a are rows ptr_m[a]:ptr_m[a + 1]
    i_k: np.ndarray  # (P,) int32 first atom
    j_k: np.ndarray  # (P,) int32 second atom
    s_k: np.ndarray  # (P,) int32 structure of the pair
    frac_k: np.ndarray  # (P,) fraction of the interval
    r_k: np.ndarray  # (P,) Å
    recip_k: np.ndarray  # (P,) 1/r, 1/Å
    u_kc: np.ndarray  # (P, 3) unit vector from i to j
    at_i_k: np.ndarray  # (P,) int32 flattened (species, species) index of the density at i due to j
    at_j_k: np.ndarray  # (P,) int32 of the density at j due to i
    pair_k: np.ndarray  # (P,) int32 of r phi
    species_n: np.ndarray  # (N,) species index of each atom
    s_n: np.ndarray  # (N,) structure of each atom


def kernel_geometry(i_p: np.ndarray, j_p: np.ndarray, d_pc: np.ndarray, r_p: np.ndarray,
                    m_p: np.ndarray, frac_p: np.ndarray, at_i_p: np.ndarray, at_j_p: np.ndarray,
                    pair_p: np.ndarray, species_n: np.ndarray, s_n: np.ndarray) -> KernelGeometry:
    """The per-pair arrays of a half neighbour list sorted by interval ``m_p``. Within an
    interval the pairs are shuffled (a fixed permutation): consecutive pairs then seldom add into
    the same atom or structure, whose sums would otherwise wait on each other."""
    n_p = len(r_p)
    m_p = np.asarray(m_p, np.int64)
    order = np.lexsort((np.random.default_rng(0).permutation(n_p), m_p))
    lo = int(m_p.min()) if n_p else 0
    counts = np.bincount(m_p - lo) if n_p else np.zeros(0, np.int64)
    ptr_m = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=ptr_m[1:])
    u_pc = d_pc / r_p[:, None] if n_p else np.zeros((0, 3))

    def take(a: np.ndarray, dtype: type = float) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(a)[order], dtype=dtype)

    s_n = np.ascontiguousarray(s_n, np.int64)
    return KernelGeometry(lo=lo, ptr_m=ptr_m, i_k=take(i_p, np.int32), j_k=take(j_p, np.int32),
                          s_k=take(s_n[i_p], np.int32), frac_k=take(frac_p), r_k=take(r_p),
                          recip_k=1.0 / take(r_p), u_kc=take(u_pc),
                          at_i_k=take(at_i_p, np.int32), at_j_k=take(at_j_p, np.int32),
                          pair_k=take(pair_p, np.int32),
                          species_n=np.ascontiguousarray(species_n, np.int64), s_n=s_n)


def _njit(fn):
    # no fastmath: no reassociation and no fused multiply-add, each lane exactly as alone
    return njit(fn)


@_njit
def _coefficients(f_xk, off, n, delta, lo, hi, out):
    """LAMMPS's cubic on intervals lo..hi (0-based, inclusive) of tables of ``n`` knots (n >= 5)
    spaced ``delta``, knot k of table x being f_xk[x, k - off], as
    :func:`gafit.forms.eam.spline.spline_coefficients` (same operations, same order): columns
    c3 c2 c1 c0 of the value, then 3 c3/delta, 2 c2/delta, c1/delta of the slope, into
    out[x, k]. An interval's cubic reads the two knots either side of it only, so these rows are
    those of the whole table's coefficients; f_xk needs knots lo - 2 .. hi + 3 (within 0 .. n-1)."""
    hi = min(hi, n - 1)
    for x in range(f_xk.shape[0]):
        f = f_xk[x]  # views, once per table (not per knot)
        o = out[x]
        for k in range(lo, min(hi + 2, n)):  # the knot slopes (times delta) first, in column 2
            if k == 0:
                s = f[1 - off] - f[0 - off]
            elif k == 1:
                s = 0.5 * (f[2 - off] - f[0 - off])
            elif k == n - 2:
                s = 0.5 * (f[n - 1 - off] - f[n - 3 - off])
            elif k == n - 1:
                s = f[n - 1 - off] - f[n - 2 - off]
            else:
                s = ((f[k - 2 - off] - f[k + 2 - off]) + 8.0 * (f[k + 1 - off] - f[k - 1 - off])) / 12.0
            o[k, 2] = s
            o[k, 3] = f[k - off]
        for k in range(lo, min(hi + 1, n - 1)):
            step = f[k + 1 - off] - f[k - off]
            o[k, 1] = 3.0 * step - 2.0 * o[k, 2] - o[k + 1, 2]
            o[k, 0] = o[k, 2] + o[k + 1, 2] - 2.0 * step
        if hi == n - 1:
            o[n - 1, 0] = 0.0
            o[n - 1, 1] = 0.0
        for k in range(lo, hi + 1):
            o[k, 4] = 3.0 * o[k, 0] / delta
            o[k, 5] = 2.0 * o[k, 1] / delta
            o[k, 6] = o[k, 2] / delta


@_njit
def _rho_interval(rho, inv, nrho):
    """LAMMPS's F(rho) lookup: (interval (0-based), fraction); below the table its first
    interval, beyond it the end of its last (NaN: the first)."""
    p = rho * inv + 1.0
    if not p >= 1.0:  # also NaN
        m = 1
    elif p >= nrho - 1:
        m = nrho - 1
    else:
        m = int(p)
    p -= m
    if p > 1.0:
        p = 1.0
    return m - 1, p


# --- a block's r tables, lanes last: t_kxw[k - k0, x, w] is knot k of table x (the flattened
# (species, species) index) of individual b0 + w


@_njit
def _block_tables(t_bsdr, b0, n_w, k0, k1, t_kxw):
    """Knots k0..k1 of the r tables (B, E, E, nr) of individuals b0 .. b0 + n_w - 1 into t_kxw."""
    n_e = t_bsdr.shape[1]
    for w in range(n_w):
        for s in range(n_e):
            for d in range(n_e):
                x = s * n_e + d
                for k in range(k0, k1 + 1):
                    t_kxw[k - k0, x, w] = t_bsdr[b0 + w, s, d, k]


#: intervals whose coefficients a block makes at a time (for a 2-species block, 230 kB of them)
WINDOW = 128


@_njit
def _window_coefficients(t_kxw, k0, n, delta, m0, m1, s_mxw, c_mxqw):
    """LAMMPS's coefficients (as :func:`_coefficients`' columns: the operations of
    :func:`gafit.forms.eam.spline.spline_coefficients`) of intervals m0..m1 - 1 (m1 < n) of every
    table and lane of the block's tables t_kxw into c_mxqw[m - m0, x, q, w], their knot slopes
    (times delta) first into s_mxw[k - m0]; every lane, used or not, as vectors."""
    row = t_kxw.shape[1] * LANES  # one knot of every table
    t = t_kxw.reshape(t_kxw.size)
    sl = s_mxw.reshape(s_mxw.size)
    c = c_mxqw.reshape(c_mxqw.size)
    for k in range(m0, m1 + 1):
        a, o = (k - k0) * row, (k - m0) * row
        for x in range(0, row, LANES):
            at = a + x
            if k == 0:
                s = vsub(vload(t, at + row), vload(t, at))
            elif k == 1 or k == n - 2:
                s = vmul(0.5, vsub(vload(t, at + row), vload(t, at - row)))
            elif k == n - 1:
                s = vsub(vload(t, at), vload(t, at - row))
            else:
                s = vdiv(vadd(vsub(vload(t, at - 2 * row), vload(t, at + 2 * row)),
                              vmul(8.0, vsub(vload(t, at + row), vload(t, at - row)))), 12.0)
            vstore(sl, o + x, s)
    for m in range(m0, m1):
        a, o = (m - k0) * row, (m - m0) * row
        for x in range(0, row, LANES):
            s0, s1 = vload(sl, o + x), vload(sl, o + row + x)
            f0 = vload(t, a + x)
            step = vsub(vload(t, a + row + x), f0)
            c1 = vsub(vsub(vmul(3.0, step), vmul(2.0, s0)), s1)
            c0 = vsub(vadd(s0, s1), vmul(2.0, step))
            at = (o + x) * 7
            vstore(c, at, c0)
            vstore(c, at + LANES, c1)
            vstore(c, at + 2 * LANES, s0)
            vstore(c, at + 3 * LANES, f0)
            vstore(c, at + 4 * LANES, vdiv(vmul(3.0, c0), delta))
            vstore(c, at + 5 * LANES, vdiv(vmul(2.0, c1), delta))
            vstore(c, at + 6 * LANES, vdiv(s0, delta))


@_njit
def _knot_range(lo, n_intervals, nr):
    """(first, last) knot that the intervals lo .. lo + n_intervals - 1 read."""
    return max(lo - 2, 0), min(lo + n_intervals + 2, nr - 1)


#: a last block of this many individuals or more runs as a whole block of vectors (its spare
#: lanes on zeros or the previous block's tables, thrown away): on mlearn_Cu that costs as much
#: as a loop over 3 individuals, less than one over 4 (0.28 against 0.36 µs per atom each)
VECTOR_MIN = 3


@_njit
def _width(n_w):
    """The lanes of a block's sums: LANES for the vector path, else n_w."""
    return LANES if n_w >= VECTOR_MIN else n_w


@_njit
def _densities_loop(k0, k1, n_w, i_k, j_k, frac_k, at_i_k, at_j_k, one_species, c_xqw, rho_nw):
    """The density terms of pairs k0..k1 - 1 of one interval (its coefficients c_xqw) onto
    rho_nw, lanes 0..n_w - 1."""
    for k in range(k0, k1):
        i, j, p = i_k[k], j_k[k], frac_k[k]
        if one_species:
            for w in range(n_w):
                v = ((c_xqw[0, 0, w] * p + c_xqw[0, 1, w]) * p + c_xqw[0, 2, w]) * p \
                    + c_xqw[0, 3, w]
                rho_nw[i, w] += v
                rho_nw[j, w] += v
        else:
            xi, xj = at_i_k[k], at_j_k[k]
            for w in range(n_w):
                rho_nw[i, w] += ((c_xqw[xi, 0, w] * p + c_xqw[xi, 1, w]) * p
                                 + c_xqw[xi, 2, w]) * p + c_xqw[xi, 3, w]
                rho_nw[j, w] += ((c_xqw[xj, 0, w] * p + c_xqw[xj, 1, w]) * p
                                 + c_xqw[xj, 2, w]) * p + c_xqw[xj, 3, w]


@_njit
def _densities_lanes(k0, k1, i_k, j_k, frac_k, at_i_k, at_j_k, one_species, c_xqw, rho_nw):
    """:func:`_densities_loop` for a whole block, the lanes of :mod:`gafit.forms.lanes`."""
    for k in range(k0, k1):
        i, j, p = i_k[k] * LANES, j_k[k] * LANES, frac_k[k]
        xi = 0 if one_species else at_i_k[k] * 7 * LANES
        v = vadd(vmul(vadd(vmul(vadd(vmul(vload(c_xqw, xi), p), vload(c_xqw, xi + LANES)), p),
                           vload(c_xqw, xi + 2 * LANES)), p), vload(c_xqw, xi + 3 * LANES))
        vstore(rho_nw, i, vadd(vload(rho_nw, i), v))
        if not one_species:
            xj = at_j_k[k] * 7 * LANES
            v = vadd(vmul(vadd(vmul(vadd(vmul(vload(c_xqw, xj), p), vload(c_xqw, xj + LANES)), p),
                               vload(c_xqw, xj + 2 * LANES)), p), vload(c_xqw, xj + 3 * LANES))
        vstore(rho_nw, j, vadd(vload(rho_nw, j), v))


@_njit
def _densities(lo, ptr_m, i_k, j_k, frac_k, at_i_k, at_j_k, rhor_bsdr, rho_bn):
    # rho_bn (B, N): the density at each atom per individual, set
    n_b, n_atoms = rho_bn.shape
    n_e, nr = rhor_bsdr.shape[1], rhor_bsdr.shape[3]
    one_species = n_e == 1
    n_m = ptr_m.shape[0] - 1
    k0, k1 = _knot_range(lo, n_m, nr)
    t_kxw = np.zeros((k1 - k0 + 1, n_e * n_e, LANES))  # lanes a last block leaves unused: 0
    s_mxw = np.empty((WINDOW + 1, n_e * n_e, LANES))
    c_mxqw = np.empty((WINDOW, n_e * n_e, 7, LANES))
    for b0 in range(0, n_b, LANES):
        n_w = min(LANES, n_b - b0)
        rho_nw = np.zeros((n_atoms, _width(n_w)))  # per-atom sums, lanes last
        if n_m:
            _block_tables(rhor_bsdr, b0, n_w, k0, k1, t_kxw)
        for a in range(n_m):
            if a % WINDOW == 0:
                _window_coefficients(t_kxw, k0, nr, 1.0, lo + a, lo + min(a + WINDOW, n_m), s_mxw,
                                     c_mxqw)
            if ptr_m[a] == ptr_m[a + 1]:
                continue
            c_xqw = c_mxqw[a % WINDOW]
            if rho_nw.shape[1] == LANES:
                _densities_lanes(ptr_m[a], ptr_m[a + 1], i_k, j_k, frac_k, at_i_k, at_j_k,
                                 one_species, c_xqw, rho_nw)
            else:
                _densities_loop(ptr_m[a], ptr_m[a + 1], n_w, i_k, j_k, frac_k, at_i_k, at_j_k,
                                one_species, c_xqw, rho_nw)
        for w in range(n_w):
            for i in range(n_atoms):
                rho_bn[b0 + w, i] = rho_nw[i, w]


@_njit
def _f_knots(rho_bn, drho_b, nrho, knots_b2):
    """knots_b2[b] = (first, last) knot of the F table that individual b's lookups read."""
    for b in range(rho_bn.shape[0]):
        inv = 1.0 / drho_b[b]
        m_lo, m_hi = nrho, -1
        for i in range(rho_bn.shape[1]):
            m, _ = _rho_interval(rho_bn[b, i], inv, nrho)
            m_lo = min(m_lo, m)
            m_hi = max(m_hi, m)
        knots_b2[b, 0] = max(m_lo - 2, 0)
        knots_b2[b, 1] = min(m_hi + 3, nrho - 1)


@njit(inline="always")
def embed(c_f, x, m, p, rho, rhomax):
    """F and F' (eV, eV per density unit) of species x at density rho, in interval m of the
    table at fraction p, from its coefficients c_f (:func:`_coefficients`); linear beyond rhomax,
    as LAMMPS extends it."""
    f = ((c_f[x, m, 0] * p + c_f[x, m, 1]) * p + c_f[x, m, 2]) * p + c_f[x, m, 3]
    fp = (c_f[x, m, 4] * p + c_f[x, m, 5]) * p + c_f[x, m, 6]
    if rho > rhomax:
        f += fp * (rho - rhomax)
    return f, fp


@_njit
def _embedding(rho_n, species_n, s_n, c_f, nrho, drho, fp_nw, w, ev_sqw):
    """F and F' of one individual (lane w) per atom: F' into fp_nw[:, w], F onto its structure's
    energy ev_sqw[s, 0, w]; c_f its F coefficients (:func:`_coefficients`)."""
    rhomax = (nrho - 1) * drho
    inv = 1.0 / drho
    for i in range(rho_n.shape[0]):
        rho = rho_n[i]
        m, p = _rho_interval(rho, inv, nrho)
        f, fp = embed(c_f, species_n[i], m, p, rho, rhomax)
        fp_nw[i, w] = fp
        ev_sqw[s_n[i], 0, w] += f


@_njit
def _pair_geometry(k, r_k, u_kc):
    """The unit vector of pair k and its virial weights r u_a u_b (Voigt order)."""
    ux, uy, uz = u_kc[k, 0], u_kc[k, 1], u_kc[k, 2]
    r = r_k[k]
    dx, dy, dz = r * ux, r * uy, r * uz
    return ux, uy, uz, (dx * ux, dy * uy, dz * uz, dy * uz, dx * uz, dx * uy)


@_njit
def _pairs_loop(k0, k1, n_w, i_k, j_k, s_k, frac_k, r_k, recip_k, u_kc, at_i_k, at_j_k, pair_k,
                one_species, cr_xqw, cz_xqw, fp_nw, f_ncw, ev_sqw):
    """The pair terms of pairs k0..k1 - 1 of one interval (its coefficients cr_xqw of rho and
    cz_xqw of r phi) for lanes 0..n_w - 1: dE/dr onto the forces f_ncw, the pair energy and the
    virial onto the structure's ev_sqw. :func:`_pairs_lanes` does the same operations."""
    for k in range(k0, k1):
        i, j, s, p, recip = i_k[k], j_k[k], s_k[k], frac_k[k], recip_k[k]
        ux, uy, uz, wv = _pair_geometry(k, r_k, u_kc)
        w0, w1, w2, w3, w4, w5 = wv
        xi, xj, xp = 0, 0, 0
        if not one_species:
            xi, xj, xp = at_i_k[k], at_j_k[k], pair_k[k]
        for w in range(n_w):
            drho_i = (cr_xqw[xi, 4, w] * p + cr_xqw[xi, 5, w]) * p + cr_xqw[xi, 6, w]
            if one_species:  # the density of a pair is the same at both ends
                de_dr = (fp_nw[i, w] + fp_nw[j, w]) * drho_i
            else:
                drho_j = (cr_xqw[xj, 4, w] * p + cr_xqw[xj, 5, w]) * p + cr_xqw[xj, 6, w]
                de_dr = fp_nw[i, w] * drho_i + fp_nw[j, w] * drho_j
            z2 = ((cz_xqw[xp, 0, w] * p + cz_xqw[xp, 1, w]) * p + cz_xqw[xp, 2, w]) * p \
                + cz_xqw[xp, 3, w]
            z2p = (cz_xqw[xp, 4, w] * p + cz_xqw[xp, 5, w]) * p + cz_xqw[xp, 6, w]
            phi = z2 * recip
            de_dr = de_dr + (z2p * recip - phi * recip)
            gx, gy, gz = de_dr * ux, de_dr * uy, de_dr * uz
            f_ncw[i, 0, w] += gx
            f_ncw[i, 1, w] += gy
            f_ncw[i, 2, w] += gz
            f_ncw[j, 0, w] -= gx
            f_ncw[j, 1, w] -= gy
            f_ncw[j, 2, w] -= gz
            ev_sqw[s, 0, w] += phi
            ev_sqw[s, 1, w] += de_dr * w0
            ev_sqw[s, 2, w] += de_dr * w1
            ev_sqw[s, 3, w] += de_dr * w2
            ev_sqw[s, 4, w] += de_dr * w3
            ev_sqw[s, 5, w] += de_dr * w4
            ev_sqw[s, 6, w] += de_dr * w5


@_njit
def _pairs_one(k0, k1, i_k, j_k, s_k, frac_k, r_k, recip_k, u_kc, at_i_k, at_j_k, pair_k,
               one_species, cr_xqw, cz_xqw, fp_n, f_nc, ev_sq):
    """:func:`_pairs_loop` for lane 0 alone (a single vector), on its sums fp_n (N,),
    f_nc (N, 3) and ev_sq (S, 7): scalar code, the same operations."""
    for k in range(k0, k1):
        i, j, s, p, recip = i_k[k], j_k[k], s_k[k], frac_k[k], recip_k[k]
        ux, uy, uz, wv = _pair_geometry(k, r_k, u_kc)
        xi, xj, xp = 0, 0, 0
        if not one_species:
            xi, xj, xp = at_i_k[k], at_j_k[k], pair_k[k]
        drho_i = (cr_xqw[xi, 4, 0] * p + cr_xqw[xi, 5, 0]) * p + cr_xqw[xi, 6, 0]
        if one_species:
            de_dr = (fp_n[i] + fp_n[j]) * drho_i
        else:
            drho_j = (cr_xqw[xj, 4, 0] * p + cr_xqw[xj, 5, 0]) * p + cr_xqw[xj, 6, 0]
            de_dr = fp_n[i] * drho_i + fp_n[j] * drho_j
        z2 = ((cz_xqw[xp, 0, 0] * p + cz_xqw[xp, 1, 0]) * p + cz_xqw[xp, 2, 0]) * p \
            + cz_xqw[xp, 3, 0]
        z2p = (cz_xqw[xp, 4, 0] * p + cz_xqw[xp, 5, 0]) * p + cz_xqw[xp, 6, 0]
        phi = z2 * recip
        de_dr = de_dr + (z2p * recip - phi * recip)
        gx, gy, gz = de_dr * ux, de_dr * uy, de_dr * uz
        f_nc[i, 0] += gx
        f_nc[i, 1] += gy
        f_nc[i, 2] += gz
        f_nc[j, 0] -= gx
        f_nc[j, 1] -= gy
        f_nc[j, 2] -= gz
        ev_sq[s, 0] += phi
        ev_sq[s, 1] += de_dr * wv[0]
        ev_sq[s, 2] += de_dr * wv[1]
        ev_sq[s, 3] += de_dr * wv[2]
        ev_sq[s, 4] += de_dr * wv[3]
        ev_sq[s, 5] += de_dr * wv[4]
        ev_sq[s, 6] += de_dr * wv[5]


@_njit
def _cubic_lanes(c, x, p):
    """The value and slope cubics of coefficient rows c[x, :, lanes] at fraction p."""
    return _value_lanes(c, x, p), _slope_lanes(c, x, p)


@_njit
def _value_lanes(c, x, p):
    """The value cubic of coefficient rows c[x, :, lanes] (flat index x) at fraction p."""
    return vadd(vmul(vadd(vmul(vadd(vmul(vload(c, x), p), vload(c, x + LANES)), p),
                          vload(c, x + 2 * LANES)), p), vload(c, x + 3 * LANES))


@_njit
def _slope_lanes(c, x, p):
    """The slope cubic (d/dr) of coefficient rows c[x, :, lanes] (flat index x) at fraction p."""
    return vadd(vmul(vadd(vmul(vload(c, x + 4 * LANES), p), vload(c, x + 5 * LANES)), p),
                vload(c, x + 6 * LANES))


@_njit
def _add_lanes(a, at, v):
    vstore(a, at, vadd(vload(a, at), v))


@_njit
def _pairs_lanes(k0, k1, i_k, j_k, s_k, frac_k, r_k, recip_k, u_kc, at_i_k, at_j_k, pair_k,
                 one_species, cr_xqw, cz_xqw, fp_nw, f_ncw, ev_sqw):
    """:func:`_pairs_loop` for a whole block, the lanes of :mod:`gafit.forms.lanes`."""
    row = 7 * LANES  # one table's coefficients
    for k in range(k0, k1):
        i, j, s, p, recip = i_k[k], j_k[k], s_k[k], frac_k[k], recip_k[k]
        ux, uy, uz, wv = _pair_geometry(k, r_k, u_kc)
        xi, xj, xp = 0, 0, 0
        if not one_species:
            xi, xj, xp = at_i_k[k] * row, at_j_k[k] * row, pair_k[k] * row
        drho_i = _slope_lanes(cr_xqw, xi, p)
        fpi, fpj = vload(fp_nw, i * LANES), vload(fp_nw, j * LANES)
        if one_species:
            de_dr = vmul(vadd(fpi, fpj), drho_i)
        else:
            de_dr = vadd(vmul(fpi, drho_i), vmul(fpj, _slope_lanes(cr_xqw, xj, p)))
        z2, z2p = _cubic_lanes(cz_xqw, xp, p)
        phi = vmul(z2, recip)
        de_dr = vadd(de_dr, vsub(vmul(z2p, recip), vmul(phi, recip)))
        fi, fj = i * 3 * LANES, j * 3 * LANES
        gx = vmul(de_dr, ux)
        _add_lanes(f_ncw, fi, gx)
        vstore(f_ncw, fj, vsub(vload(f_ncw, fj), gx))
        gy = vmul(de_dr, uy)
        _add_lanes(f_ncw, fi + LANES, gy)
        vstore(f_ncw, fj + LANES, vsub(vload(f_ncw, fj + LANES), gy))
        gz = vmul(de_dr, uz)
        _add_lanes(f_ncw, fi + 2 * LANES, gz)
        vstore(f_ncw, fj + 2 * LANES, vsub(vload(f_ncw, fj + 2 * LANES), gz))
        e = s * 7 * LANES
        _add_lanes(ev_sqw, e, phi)
        for v in range(6):
            _add_lanes(ev_sqw, e + (1 + v) * LANES, vmul(de_dr, wv[v]))


@_njit
def _kernel(lo, ptr_m, i_k, j_k, s_k, frac_k, r_k, recip_k, u_kc, at_i_k, at_j_k, pair_k,
            species_n, s_n, dr, rhor_bsdr, z2r_bstr, rho_bn, frho_bek, off_b, nrho, drho_b,
            energy, forces, virial):
    # rhor_bsdr, z2r_bstr (B, E, E, nr), any strides; rho_bn (B, N) the densities (_densities);
    # frho_bek[b, e, k - off_b[b]] knot k of individual b's F table of nrho knots; energy (B, S),
    # forces (B, N, 3), virial (B, S, 6) in Voigt order, all set.
    n_b, n_e, nr = rhor_bsdr.shape[0], rhor_bsdr.shape[1], rhor_bsdr.shape[3]
    n_atoms, n_s = rho_bn.shape[1], energy.shape[1]
    n_x = n_e * n_e
    one_species = n_e == 1
    n_m = ptr_m.shape[0] - 1
    k0, k1 = _knot_range(lo, n_m, nr)
    rho_kxw = np.zeros((k1 - k0 + 1, n_x, LANES))  # lanes a last block leaves unused: 0
    z2r_kxw = np.zeros((k1 - k0 + 1, n_x, LANES))
    s_mxw = np.empty((WINDOW + 1, n_x, LANES))
    cr_mxqw = np.empty((WINDOW, n_x, 7, LANES))
    cz_mxqw = np.empty((WINDOW, n_x, 7, LANES))
    c_f = np.empty((n_e, nrho, 7))
    for b0 in range(0, n_b, LANES):
        n_w = min(LANES, n_b - b0)
        # per-atom and per-structure sums, lanes last
        fp_nw = np.zeros((n_atoms, _width(n_w)))
        f_ncw = np.zeros((n_atoms, 3, _width(n_w)))
        ev_sqw = np.zeros((n_s, 7, _width(n_w)))  # energy, then the virial
        # --- F and F' per atom (LAMMPS's lookup, then F extended linearly beyond the table),
        # from the coefficients of the F intervals the densities use, one individual at a time
        for w in range(n_w):
            b = b0 + w
            rho_n = rho_bn[b]
            inv = 1.0 / drho_b[b]
            m_lo, m_hi = nrho, -1
            for i in range(n_atoms):
                m, _ = _rho_interval(rho_n[i], inv, nrho)
                m_lo = min(m_lo, m)
                m_hi = max(m_hi, m)
            _coefficients(frho_bek[b], off_b[b], nrho, drho_b[b], m_lo, m_hi, c_f)
            _embedding(rho_n, species_n, s_n, c_f, nrho, drho_b[b], fp_nw, w, ev_sqw)
        if n_m:
            _block_tables(rhor_bsdr, b0, n_w, k0, k1, rho_kxw)
            _block_tables(z2r_bstr, b0, n_w, k0, k1, z2r_kxw)
        # --- pair energies and dE/dr, onto the structures and the atoms, interval by interval
        for a in range(n_m):
            if a % WINDOW == 0:
                m1 = lo + min(a + WINDOW, n_m)
                _window_coefficients(rho_kxw, k0, nr, dr, lo + a, m1, s_mxw, cr_mxqw)
                _window_coefficients(z2r_kxw, k0, nr, dr, lo + a, m1, s_mxw, cz_mxqw)
            if ptr_m[a] == ptr_m[a + 1]:
                continue
            cr_xqw, cz_xqw = cr_mxqw[a % WINDOW], cz_mxqw[a % WINDOW]
            if fp_nw.shape[1] == LANES:
                _pairs_lanes(ptr_m[a], ptr_m[a + 1], i_k, j_k, s_k, frac_k, r_k, recip_k, u_kc,
                             at_i_k, at_j_k, pair_k, one_species, cr_xqw, cz_xqw, fp_nw, f_ncw,
                             ev_sqw)
            elif n_w == 1:  # a single vector (least squares)
                _pairs_one(ptr_m[a], ptr_m[a + 1], i_k, j_k, s_k, frac_k, r_k, recip_k, u_kc,
                           at_i_k, at_j_k, pair_k, one_species, cr_xqw, cz_xqw, fp_nw[:, 0],
                           f_ncw[:, :, 0], ev_sqw[:, :, 0])
            else:
                _pairs_loop(ptr_m[a], ptr_m[a + 1], n_w, i_k, j_k, s_k, frac_k, r_k, recip_k, u_kc,
                            at_i_k, at_j_k, pair_k, one_species, cr_xqw, cz_xqw, fp_nw, f_ncw,
                            ev_sqw)
        for w in range(n_w):
            b = b0 + w
            for s in range(n_s):
                energy[b, s] = ev_sqw[s, 0, w]
                for v in range(6):
                    virial[b, s, v] = ev_sqw[s, 1 + v, w]
            for i in range(n_atoms):
                for c in range(3):
                    forces[b, i, c] = f_ncw[i, c, w]


def _f_tables(grid: EAMGrid, rho_bn: np.ndarray, drho_b: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """(frho_bek, off_b): the F knots of each individual that its densities rho_bn (B, N) read,
    knot k of species e being frho_bek[b, e, k - off_b[b]] (the whole table when the grid has
    it; else tabulated through ``grid.embedding`` on those knots only)."""
    n_b = len(drho_b)
    if grid.frho_ber is not None:
        return np.asarray(grid.frho_ber, dtype=float), np.zeros(n_b, np.int64)
    knots_b2 = np.empty((n_b, 2), np.int64)
    _f_knots(rho_bn, drho_b, grid.nrho, knots_b2)
    off_b = knots_b2[:, 0]
    k_bk = off_b[:, None] + np.arange((knots_b2[:, 1] - off_b).max() + 1)
    return (np.asarray(grid.embedding(np.minimum(k_bk, grid.nrho - 1) * drho_b[:, None]),
                       dtype=float), off_b)


#: set False to evaluate a single vector with this kernel (a batch of one) rather than
#: :mod:`gafit.forms.eam.kernel_single`'s (:func:`gafit.forms.eam.evaluate.evaluate_grid` decides)
SINGLE = True


def fused_eam(geo: KernelGeometry, dr: float, grid: EAMGrid, n_structures: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energies (B, S) eV, forces (B, 3N) eV/Å and virials (B, S, 6) eV of the tables of ``grid``
    on r knots spaced ``dr`` (Å). Without F tables (``grid.frho_ber`` None), F is tabulated
    through ``grid.embedding`` on the knots the densities need only."""
    n_b, n_atoms = len(grid.drho_b), len(geo.s_n)
    rhor = np.asarray(grid.rhor_bsdr, dtype=float)
    drho_b = np.ascontiguousarray(grid.drho_b, dtype=float)
    rho_bn = np.empty((n_b, n_atoms))
    _densities(geo.lo, geo.ptr_m, geo.i_k, geo.j_k, geo.frac_k, geo.at_i_k, geo.at_j_k, rhor,
               rho_bn)
    frho_bek, off_b = _f_tables(grid, rho_bn, drho_b)
    energy = np.empty((n_b, n_structures))
    forces = np.empty((n_b, n_atoms, 3))
    virial = np.empty((n_b, n_structures, 6))
    _kernel(geo.lo, geo.ptr_m, geo.i_k, geo.j_k, geo.s_k, geo.frac_k, geo.r_k, geo.recip_k,
            geo.u_kc, geo.at_i_k, geo.at_j_k, geo.pair_k, geo.species_n, geo.s_n, float(dr), rhor,
            np.asarray(grid.z2r_bstr, dtype=float), rho_bn, frho_bek, off_b, grid.nrho, drho_b,
            energy, forces, virial)
    return energy, forces.reshape(n_b, 3 * n_atoms), virial
