"""A fused EAM kernel (numba): energies, forces and virials of a batch of tabulated potentials in two
passes over the half neighbour list, with no per-pair work arrays and no sparse products.

Per individual, the kernel builds LAMMPS's spline coefficients of its r tables (rho(r), r phi(r))
and of its F(rho) table (:func:`gafit.forms.eam.spline.spline_coefficients`, the same operations)
on the intervals the pairs and the densities use only (an interval's cubic reads two knots either
side of it: the same rows as the whole table's). One pass over the pairs sums each atom's density
(:func:`_densities`, four individuals at a time, one lane each); F is tabulated then, on the knots
those densities need, when the grid gives it as a function (``EAMGrid.embedding``); a pass over the
atoms gives F and F' (linear beyond the table, as LAMMPS), and a second pass over the pairs, in
centre-atom order (:class:`KernelGeometry`), adds the pair energies and dE/dr into the structure
energies, forces and virials. Every individual gets the operations it would alone, so a batch gives
the numbers of its individuals one at a time, bit for bit. The physics is that of
:mod:`gafit.forms.eam.evaluate`, which keeps the numpy path: with ``ENABLED = False`` or without
numba, :func:`gafit.forms.eam.evaluate.evaluate_grid` takes it.

The kernel is serial, as the pair and Tersoff kernels: a fit's parallelism is its worker processes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gafit.forms.tersoff.kernel import centre_csr

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
    """The pairs of an EAM table in centre-atom order (CSR), with their places in the r tables."""

    ptr_n: np.ndarray  # (N + 1,) the pairs i-j of atom i are rows ptr_n[i]:ptr_n[i + 1]
    r_k: np.ndarray  # (P,) Å
    recip_k: np.ndarray  # (P,) 1/r, 1/Å
    u_kc: np.ndarray  # (P, 3) unit vector from i to j
    j_k: np.ndarray  # (P,) second atom
    m_k: np.ndarray  # (P,) interval of the r tables
    frac_k: np.ndarray  # (P,) fraction of the interval
    at_i_k: np.ndarray  # (P,) flattened (species, species) index of the density at i due to j
    at_j_k: np.ndarray  # (P,) of the density at j due to i
    pair_k: np.ndarray  # (P,) of r phi
    species_n: np.ndarray  # (N,) species index of each atom
    s_n: np.ndarray  # (N,) structure of each atom


def kernel_geometry(i_p: np.ndarray, j_p: np.ndarray, d_pc: np.ndarray, r_p: np.ndarray,
                    m_p: np.ndarray, frac_p: np.ndarray, at_i_p: np.ndarray, at_j_p: np.ndarray,
                    pair_p: np.ndarray, species_n: np.ndarray, s_n: np.ndarray) -> KernelGeometry:
    """The per-pair arrays of a half neighbour list reordered by centre atom."""
    order, ptr_n = centre_csr(i_p, len(species_n))
    u_pc = d_pc / r_p[:, None] if len(r_p) else np.zeros((0, 3))

    def take(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a[order])

    return KernelGeometry(ptr_n=ptr_n, r_k=take(r_p), recip_k=1.0 / take(r_p), u_kc=take(u_pc), j_k=take(j_p),
                          m_k=take(m_p).astype(np.int64), frac_k=take(frac_p),
                          at_i_k=take(at_i_p).astype(np.int64),
                          at_j_k=take(at_j_p).astype(np.int64),
                          pair_k=take(pair_p).astype(np.int64), species_n=species_n,
                          s_n=np.ascontiguousarray(s_n))


def _njit(fn):
    # error_model="numpy": a division by zero gives inf/nan (scored as bad), as in numpy
    return numba.njit(error_model="numpy", fastmath=False)(fn) if numba is not None else fn


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


@_njit
def _interval_range(m_k):
    """(lowest, highest) interval of the pairs: only those rows of the r coefficients are made."""
    lo, hi = 0, -1
    if m_k.shape[0]:
        lo, hi = m_k[0], m_k[0]
    for k in range(m_k.shape[0]):
        lo = min(lo, m_k[k])
        hi = max(hi, m_k[k])
    return lo, hi


@_njit
def _r_coefficients(t_bsdr, b, dr, lo, hi, out):
    """The coefficients of individual b's r tables (B, E, E, nr) into out (E * E, nr, 7)."""
    n_e, nr = t_bsdr.shape[1], t_bsdr.shape[3]
    for s in range(n_e * (hi >= lo)):
        _coefficients(t_bsdr[b, s], 0, nr, dr, lo, hi, out[s * n_e : (s + 1) * n_e])


# --- the density pass takes individuals LANES at a time, as a tuple of floats with one lane each:
# every lane gets the same IEEE operations as alone (its numbers do not depend on its block), and
# the block shares the per-pair work (indices, loop, table rows)

#: individuals per block of the density pass (the helpers below are written for 4)
LANES = 4


@_njit
def _lanes_value(c, p):
    """The cubic of coefficient rows c (>= 4, LANES) at fraction p, per lane."""
    return (((c[0, 0] * p + c[1, 0]) * p + c[2, 0]) * p + c[3, 0],
            ((c[0, 1] * p + c[1, 1]) * p + c[2, 1]) * p + c[3, 1],
            ((c[0, 2] * p + c[1, 2]) * p + c[2, 2]) * p + c[3, 2],
            ((c[0, 3] * p + c[1, 3]) * p + c[2, 3]) * p + c[3, 3])


@_njit
def _lanes_add(a, b):
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])


@_njit
def _lanes_add_into(row, a):
    row[0] += a[0]
    row[1] += a[1]
    row[2] += a[2]
    row[3] += a[3]


@_njit
def _densities(ptr_n, j_k, m_k, frac_k, at_i_k, at_j_k, dr, rhor_bsdr, rho_bn):
    # rho_bn (B, N): the density at each atom per individual, set
    n_b, n_atoms = rho_bn.shape
    n_e, nr = rhor_bsdr.shape[1], rhor_bsdr.shape[3]
    one_species = n_e == 1
    lo, hi = _interval_range(m_k)
    c_rho = np.empty((n_e * n_e, nr, 7, LANES))
    rho_nw = np.empty((n_atoms, LANES))
    zero = (0.0, 0.0, 0.0, 0.0)
    for b0 in range(0, n_b, LANES):
        for w in range(LANES):  # the lanes of a last, partial block repeat its last individual
            _r_coefficients(rhor_bsdr, min(b0 + w, n_b - 1), dr, lo, hi, c_rho[..., w])
        rho_nw[:] = 0.0
        for i in range(n_atoms):
            acc = zero
            for k in range(ptr_n[i], ptr_n[i + 1]):
                m, p = m_k[k], frac_k[k]
                v = _lanes_value(c_rho[0 if one_species else at_i_k[k], m], p)
                acc = _lanes_add(acc, v)
                if not one_species:
                    v = _lanes_value(c_rho[at_j_k[k], m], p)
                _lanes_add_into(rho_nw[j_k[k]], v)
            _lanes_add_into(rho_nw[i], acc)
        for w in range(min(LANES, n_b - b0)):
            rho_bn[b0 + w] = rho_nw[:, w]


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


@_njit
def _kernel(ptr_n, r_k, recip_k, u_kc, j_k, m_k, frac_k, at_i_k, at_j_k, pair_k, species_n, s_n, dr,
            rhor_bsdr, z2r_bstr, rho_bn, frho_bek, off_b, nrho, drho_b, energy, forces, virial):
    # rhor_bsdr, z2r_bstr (B, E, E, nr), any strides; rho_bn (B, N) the densities (_densities);
    # frho_bek[b, e, k - off_b[b]] knot k of individual b's F table of nrho knots; energy (B, S),
    # forces (B, N, 3), virial (B, S, 6) in Voigt order, all added to.
    n_b, n_e, nr = rhor_bsdr.shape[0], rhor_bsdr.shape[1], rhor_bsdr.shape[3]
    n_atoms = ptr_n.shape[0] - 1
    one_species = n_e == 1
    lo, hi = _interval_range(m_k)
    c_rho = np.empty((n_e * n_e, nr, 7))
    c_z2r = np.empty((n_e * n_e, nr, 7))
    c_f = np.empty((n_e, nrho, 7))
    fp_n = np.empty(n_atoms)
    for b in range(n_b):
        _r_coefficients(rhor_bsdr, b, dr, lo, hi, c_rho)
        _r_coefficients(z2r_bstr, b, dr, lo, hi, c_z2r)
        rho_n = rho_bn[b]
        # --- F and F' per atom (LAMMPS's lookup, then F extended linearly beyond the table),
        # from the coefficients of the F intervals the densities use
        drho = drho_b[b]
        rhomax = (nrho - 1) * drho
        inv = 1.0 / drho
        m_lo, m_hi = nrho, -1
        for i in range(n_atoms):
            m, _ = _rho_interval(rho_n[i], inv, nrho)
            m_lo = min(m_lo, m)
            m_hi = max(m_hi, m)
        _coefficients(frho_bek[b], off_b[b], nrho, drho, m_lo, m_hi, c_f)
        for i in range(n_atoms):
            rho = rho_n[i]
            m, p = _rho_interval(rho, inv, nrho)
            x = species_n[i]
            f = ((c_f[x, m, 0] * p + c_f[x, m, 1]) * p + c_f[x, m, 2]) * p + c_f[x, m, 3]
            fp = (c_f[x, m, 4] * p + c_f[x, m, 5]) * p + c_f[x, m, 6]
            if rho > rhomax:
                f += fp * (rho - rhomax)
            fp_n[i] = fp
            energy[b, s_n[i]] += f
        # --- pair energies and dE/dr, onto the structure and the atoms
        for i in range(n_atoms):
            k0, k1 = ptr_n[i], ptr_n[i + 1]
            if k0 == k1:
                continue
            fpi = fp_n[i]
            e = 0.0
            fix, fiy, fiz = 0.0, 0.0, 0.0
            v0, v1, v2, v3, v4, v5 = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
            for k in range(k0, k1):
                m, p, j = m_k[k], frac_k[k], j_k[k]
                x = 0 if one_species else at_i_k[k]
                drho_i = (c_rho[x, m, 4] * p + c_rho[x, m, 5]) * p + c_rho[x, m, 6]
                if one_species:  # the density of a pair is the same at both ends
                    de_dr = (fpi + fp_n[j]) * drho_i
                else:
                    x = at_j_k[k]
                    de_dr = fpi * drho_i + fp_n[j] * ((c_rho[x, m, 4] * p + c_rho[x, m, 5]) * p
                                                      + c_rho[x, m, 6])
                x = 0 if one_species else pair_k[k]
                z2 = ((c_z2r[x, m, 0] * p + c_z2r[x, m, 1]) * p + c_z2r[x, m, 2]) * p + c_z2r[x, m, 3]
                z2p = (c_z2r[x, m, 4] * p + c_z2r[x, m, 5]) * p + c_z2r[x, m, 6]
                r = r_k[k]
                recip = recip_k[k]
                phi = z2 * recip
                e += phi
                de_dr += z2p * recip - phi * recip
                ux, uy, uz = u_kc[k, 0], u_kc[k, 1], u_kc[k, 2]
                gx, gy, gz = de_dr * ux, de_dr * uy, de_dr * uz
                fix += gx
                fiy += gy
                fiz += gz
                forces[b, j, 0] -= gx
                forces[b, j, 1] -= gy
                forces[b, j, 2] -= gz
                gx, gy, gz = gx * r, gy * r, gz * r
                v0 += gx * ux
                v1 += gy * uy
                v2 += gz * uz
                v3 += gy * uz
                v4 += gx * uz
                v5 += gx * uy
            s = s_n[i]
            energy[b, s] += e
            forces[b, i, 0] += fix
            forces[b, i, 1] += fiy
            forces[b, i, 2] += fiz
            virial[b, s, 0] += v0
            virial[b, s, 1] += v1
            virial[b, s, 2] += v2
            virial[b, s, 3] += v3
            virial[b, s, 4] += v4
            virial[b, s, 5] += v5


def fused_eam(geo: KernelGeometry, dr: float, grid: EAMGrid, n_structures: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energies (B, S) eV, forces (B, 3N) eV/Å and virials (B, S, 6) eV of the tables of ``grid``
    on r knots spaced ``dr`` (Å). Without F tables (``grid.frho_ber`` None), F is tabulated
    through ``grid.embedding`` on the knots the densities need only."""
    n_b, n_atoms = len(grid.drho_b), len(geo.s_n)
    rhor = np.asarray(grid.rhor_bsdr, dtype=float)
    drho_b = np.ascontiguousarray(grid.drho_b, dtype=float)
    rho_bn = np.empty((n_b, n_atoms))
    _densities(geo.ptr_n, geo.j_k, geo.m_k, geo.frac_k, geo.at_i_k, geo.at_j_k, float(dr), rhor,
               rho_bn)
    if grid.frho_ber is not None:
        frho_bek, off_b = np.asarray(grid.frho_ber, dtype=float), np.zeros(n_b, np.int64)
    else:
        knots_b2 = np.empty((n_b, 2), np.int64)
        _f_knots(rho_bn, drho_b, grid.nrho, knots_b2)
        off_b = knots_b2[:, 0]
        k_bk = off_b[:, None] + np.arange((knots_b2[:, 1] - off_b).max() + 1)
        frho_bek = np.asarray(grid.embedding(np.minimum(k_bk, grid.nrho - 1) * drho_b[:, None]),
                              dtype=float)
    energy = np.zeros((n_b, n_structures))
    forces = np.zeros((n_b, n_atoms, 3))
    virial = np.zeros((n_b, n_structures, 6))
    _kernel(geo.ptr_n, geo.r_k, geo.recip_k, geo.u_kc, geo.j_k, geo.m_k, geo.frac_k, geo.at_i_k,
            geo.at_j_k, geo.pair_k, geo.species_n, geo.s_n, float(dr), rhor,
            np.asarray(grid.z2r_bstr, dtype=float), rho_bn, frho_bek, off_b, grid.nrho, drho_b,
            energy, forces, virial)
    return energy, forces.reshape(n_b, 3 * n_atoms), virial
