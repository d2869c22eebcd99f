"""The EAM kernel of one parameter vector (numba): what every least-squares step evaluates.

The batch kernel (:mod:`gafit.forms.eam.kernel`) vectorises over individuals: its pairs are
sorted by r interval so that a window of spline coefficients serves every lane, and its sums are
per-lane arrays. One vector has no lanes to fill, and in that order its sums into a structure's
energy and virial wait on each other (consecutive pairs mostly belong to the same few large
structures). Here the pairs are in centre-atom order (:class:`SingleGeometry`: the rows of atom
i, each pair once, indices unsigned so that numba does not test them for wrap-around), and:

1. LAMMPS's spline coefficients of the vector's r tables (rho(r), r phi(r)) are made once for
   every interval the pairs use (:func:`gafit.forms.eam.kernel._coefficients`, the operations of
   :func:`gafit.forms.eam.spline.spline_coefficients`: the batch kernel's numbers), and those a
   pair's forces need are laid out four to a row (:func:`_pair_cubics`: d(rho at i)/dr, r phi,
   d(r phi)/dr, d(rho at j)/dr), so that a pair evaluates them as one 4-double vector
   (:func:`_cubic4`) from 4 loads;
2. densities: a sweep over the rows, atom i's own sum kept in a register, the neighbour's added
   in place;
3. F and F' per atom (as the batch kernel, on the F knots the densities need);
4. pair terms: a second sweep over the rows, atom i's force and its structure's energy and virial
   kept in registers over the row (the only sums in memory are the neighbours' forces, which
   seldom repeat).

The sweeps use fused multiply-adds, and their sums run in another order than the batch
kernel's, so the numbers are the batch's to rounding (tested at 1e-12 against it and the numpy
path of :mod:`gafit.forms.eam.evaluate`), not bit for bit. On mlearn_Cu (3178 atoms, 91661
pairs) a vector's sweeps take about 0.55 ms, 0.42 of it the pair sweep (4.6 ns a pair: scalar
code, as the pairs' gathers do not vectorise on an AVX machine without gather instructions),
where a batch of one in the batch kernel took 1.8 ms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gafit.forms.eam.kernel import (
    KernelGeometry,
    _coefficients,
    _f_tables,
    _knot_range,
    _njit,
    _rho_interval,
    embed,
)
from gafit.forms.jit import njit
from gafit.forms.scatter import flush_row

if TYPE_CHECKING:
    from gafit.forms.eam.grid import EAMGrid

try:
    from llvmlite import ir
    from numba.core import types
    from numba.extending import intrinsic
except ImportError:  # pragma: no cover - numba is optional
    intrinsic = None


@dataclass
class SingleGeometry:
    """The pairs of a :class:`KernelGeometry` in centre-atom order (by first atom, then second),
    each unordered pair once as in the half neighbour list. Indices are unsigned: numba then
    indexes without testing for negative (wrap-around) indices."""

    ptr_n: np.ndarray  # (N + 1,) uint64: atom i's pairs are rows ptr_n[i]:ptr_n[i + 1]
    j_k: np.ndarray  # (P,) uint32 second atom
    m_k: np.ndarray  # (P,) uint32 interval of the r tables (0-based)
    frac_k: np.ndarray  # (P,) fraction of the interval
    recip_k: np.ndarray  # (P,) 1/r, 1/Å
    d_kc: np.ndarray  # (P, 3) Å, the vector from i to j
    at_i_k: np.ndarray  # (P,) uint32 flattened (species, species) index of the density at i
    at_j_k: np.ndarray  # (P,) uint32 of the density at j
    pair_k: np.ndarray  # (P,) uint32 of r phi
    row_k: np.ndarray  # (P,) uint32 pair_k n_intervals + m_k: the pair's row of cubics
    n_intervals: int  # the intervals 0 .. n_intervals - 1 hold every pair
    # the species count whose flattened indices the pairs were checked against (0: not yet)
    species_checked: int = 0


def single_geometry(geo: KernelGeometry) -> SingleGeometry:
    """The :class:`SingleGeometry` of ``geo``."""
    n_p = len(geo.r_k)
    m_k = geo.lo + np.repeat(np.arange(len(geo.ptr_m) - 1), np.diff(geo.ptr_m))
    order = np.lexsort((geo.j_k, geo.i_k))

    def take(a: np.ndarray, dtype: type = float) -> np.ndarray:
        return np.ascontiguousarray(a[order], dtype=dtype)

    n_m = int(m_k.max()) + 1 if n_p else 0
    ptr_n = np.zeros(len(geo.s_n) + 1, np.uint64)
    np.cumsum(np.bincount(geo.i_k, minlength=len(geo.s_n)), out=ptr_n[1:])
    return SingleGeometry(ptr_n=ptr_n, j_k=take(geo.j_k, np.uint32),
                          m_k=take(m_k, np.uint32), frac_k=take(geo.frac_k),
                          recip_k=take(geo.recip_k), d_kc=take(geo.r_k[:, None] * geo.u_kc),
                          at_i_k=take(geo.at_i_k, np.uint32), at_j_k=take(geo.at_j_k, np.uint32),
                          pair_k=take(geo.pair_k, np.uint32),
                          row_k=take(geo.pair_k.astype(np.int64) * n_m + m_k, np.uint32),
                          n_intervals=n_m)


def _check_species(single: SingleGeometry, n_e: int) -> None:
    """The flattened indices of the pairs are those :func:`_pair_cubics` assumes: the pair (e_i,
    e_j) reads r phi and the density at j from table e_i n_e + e_j, the density at i from
    e_j n_e + e_i (:func:`gafit.forms.eam.evaluate.build_table`'s)."""
    if single.species_checked == n_e:
        return
    c = single.pair_k.astype(np.int64)
    if not (np.array_equal(single.at_j_k, c)
            and np.array_equal(single.at_i_k, (c % n_e) * n_e + c // n_e)):
        raise ValueError("EAM pairs: table indices not in (species, species) order")
    single.species_checked = n_e


if intrinsic is not None:
    _V4 = ir.VectorType(ir.DoubleType(), 4)

    @intrinsic
    def _cubic4(typingctx, arr, index, p):
        """Four cubics at fraction p, one per lane: lane q's coefficients of p^3, p^2, p, 1 are
        arr[index + q], arr[index + 4 + q], arr[index + 8 + q], arr[index + 12 + q] (arr a
        C-contiguous float64 array): Horner's rule in fused multiply-adds of one 4-double vector
        each, so that a pair's cubics cost 4 loads rather than one per coefficient."""

        def codegen(context, builder, sig, args):
            ary = context.make_array(sig.args[0])(context, builder, args[0])
            base = builder.gep(ary.data, [context.cast(builder, args[1], sig.args[1],
                                                       types.intp)])

            def row(r: int):
                at = builder.gep(base, [ir.Constant(ir.IntType(64), 4 * r)])
                return builder.load(builder.bitcast(at, _V4.as_pointer()), align=8)

            one = context.cast(builder, args[2], sig.args[2], types.float64)
            pv = builder.insert_element(ir.Constant(_V4, ir.Undefined), one,
                                        ir.Constant(ir.IntType(32), 0))
            pv = builder.shuffle_vector(pv, ir.Constant(_V4, ir.Undefined),
                                        ir.Constant(ir.VectorType(ir.IntType(32), 4), [0] * 4))
            fma = builder.module.declare_intrinsic("llvm.fma.v4f64",
                                                   fnty=ir.FunctionType(_V4, [_V4] * 3))
            acc = row(0)
            for r in (1, 2, 3):
                acc = builder.call(fma, [acc, pv, row(r)])
            out = ir.Constant(ir.ArrayType(ir.DoubleType(), 4), ir.Undefined)
            for q in range(4):
                out = builder.insert_value(
                    out, builder.extract_element(acc, ir.Constant(ir.IntType(32), q)), q)
            return out

        return types.UniTuple(types.float64, 4)(arr, index, p), codegen


def _njit_fma(fn):
    # fused multiply-adds: fewer operations (the numbers are the batch kernel's to rounding)
    return njit(fn, fastmath={"contract"})


@_njit
def _r_coefficients(t_bsdr, lo, hi, delta, out):
    """LAMMPS's coefficients of intervals lo..hi of every r table of individual 0 of t_bsdr
    (1, E, E, nr), any strides, into out[x, m] (x the flattened (species, species) index), as
    :func:`gafit.forms.eam.kernel._coefficients` (slope columns per ``delta``)."""
    n_e, nr = t_bsdr.shape[1], t_bsdr.shape[3]
    k0, k1 = _knot_range(lo, hi - lo + 1, nr)
    f_xk = np.empty((n_e * n_e, k1 - k0 + 1))
    for s in range(n_e):
        for d in range(n_e):
            for k in range(k0, k1 + 1):
                f_xk[s * n_e + d, k - k0] = t_bsdr[0, s, d, k]
    _coefficients(f_xk, k0, nr, delta, lo, hi, out)


@_njit_fma
def _densities_single(ptr_n, j_k, m_k, frac_k, at_i_k, at_j_k, one_species, c_xmq, rho_n):
    """The density at each atom (rho_n, set) from the value columns of c_xmq; atom i's own sum
    in a register over its row."""
    rho_n[:] = 0.0
    for i in range(ptr_n.shape[0] - 1):
        acc = 0.0
        for k in range(ptr_n[i], ptr_n[i + 1]):
            j, m, p = j_k[k], m_k[k], frac_k[k]
            if one_species:
                v = ((c_xmq[0, m, 0] * p + c_xmq[0, m, 1]) * p + c_xmq[0, m, 2]) * p \
                    + c_xmq[0, m, 3]
                acc += v
                rho_n[j] += v
            else:
                xi, xj = at_i_k[k], at_j_k[k]
                acc += ((c_xmq[xi, m, 0] * p + c_xmq[xi, m, 1]) * p + c_xmq[xi, m, 2]) * p \
                    + c_xmq[xi, m, 3]
                rho_n[j] += ((c_xmq[xj, m, 0] * p + c_xmq[xj, m, 1]) * p + c_xmq[xj, m, 2]) * p \
                    + c_xmq[xj, m, 3]
        rho_n[i] += acc


@_njit
def _embedding_single(rho_n, species_n, s_n, frho_ek, off, nrho, drho, fp_n, energy):
    """F' per atom into fp_n and F onto its structure's energy, as the batch kernel's
    :func:`gafit.forms.eam.kernel._embedding` (F extended linearly beyond the table)."""
    inv = 1.0 / drho
    m_lo, m_hi = nrho, -1
    for i in range(rho_n.shape[0]):
        m, _ = _rho_interval(rho_n[i], inv, nrho)
        m_lo = min(m_lo, m)
        m_hi = max(m_hi, m)
    c_f = np.empty((frho_ek.shape[0], nrho, 7))
    _coefficients(frho_ek, off, nrho, drho, m_lo, m_hi, c_f)
    rhomax = (nrho - 1) * drho
    for i in range(rho_n.shape[0]):
        rho = rho_n[i]
        m, p = _rho_interval(rho, inv, nrho)
        f, fp = embed(c_f, species_n[i], m, p, rho, rhomax)
        fp_n[i] = fp
        energy[s_n[i]] += f


@_njit
def _pair_cubics(cr_xmq, cz_xmq, n_e, lo, hi, c_xmv):
    """The cubics a pair of species (e_i, e_j) needs, per interval m (lo..hi) as 4 lanes of
    :func:`_cubic4` in c_xmv[e_i n_e + e_j, m] (coefficients of p^3, p^2, p, 1, each for the
    lanes: d(density at i)/dr, r phi, d(r phi)/dr, d(density at j)/dr), from LAMMPS's
    coefficients of the rho and r phi tables (:func:`_r_coefficients`)."""
    for c in range(n_e * n_e):
        xa = (c % n_e) * n_e + c // n_e  # the density at i due to j
        for m in range(lo, hi + 1):
            v = c_xmv[c, m]
            ra, z, rb = cr_xmq[xa, m], cz_xmq[c, m], cr_xmq[c, m]
            v[0], v[1], v[2], v[3] = 0.0, z[0], 0.0, 0.0
            v[4], v[5], v[6], v[7] = ra[4], z[1], z[4], rb[4]
            v[8], v[9], v[10], v[11] = ra[5], z[2], z[5], rb[5]
            v[12], v[13], v[14], v[15] = ra[6], z[3], z[6], rb[6]


@_njit_fma
def _pairs_single(ptr_n, j_k, row_k, frac_k, recip_k, d_kc, s_n, one_species, c_v, fp_n, energy,
                  forces, virial):
    """The pair terms (those of the batch kernel's :func:`gafit.forms.eam.kernel._pairs_one`):
    dE/dr onto forces (N, 3), the pair energy onto energy (S,) and the virial onto virial
    (S, 6, Voigt order); atom i's force and its structure's energy and virial in registers over
    its row. c_v: :func:`_pair_cubics`' (flat), row_k: each pair's row of them."""
    for i in range(ptr_n.shape[0] - 1):
        k0, k1 = ptr_n[i], ptr_n[i + 1]
        if k0 == k1:
            continue
        fpi = fp_n[i]
        fx, fy, fz, e = 0.0, 0.0, 0.0, 0.0
        v0, v1, v2, v3, v4, v5 = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
        for k in range(k0, k1):
            j, p, recip = j_k[k], frac_k[k], recip_k[k]
            drho_i, z2, z2p, drho_j = _cubic4(c_v, row_k[k] * np.uint32(16), p)
            if one_species:  # the density of a pair is the same at both ends
                de_dr = (fpi + fp_n[j]) * drho_i
            else:
                de_dr = fpi * drho_i + fp_n[j] * drho_j
            phi = z2 * recip
            # dE/dr / r: the force along d = r u, d read once for the force and the virial
            t = (de_dr + (z2p - phi) * recip) * recip
            dx, dy, dz = d_kc[k, 0], d_kc[k, 1], d_kc[k, 2]
            gx, gy, gz = t * dx, t * dy, t * dz
            fx += gx
            fy += gy
            fz += gz
            forces[j, 0] -= gx
            forces[j, 1] -= gy
            forces[j, 2] -= gz
            e += phi
            v0 += gx * dx
            v1 += gy * dy
            v2 += gz * dz
            v3 += gy * dz
            v4 += gx * dz
            v5 += gx * dy
        flush_row(i, s_n[i], fx, fy, fz, e, v0, v1, v2, v3, v4, v5, energy, forces, virial)


def fused_single(geo: KernelGeometry, single: SingleGeometry, dr: float, rhor_bsdr: np.ndarray,
                 z2r_bstr: np.ndarray, f_knots: Callable[[np.ndarray], tuple[np.ndarray, int]],
                 nrho: int, drho: float, n_structures: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energies (1, S) eV, forces (1, 3N) eV/Å and virials (1, S, 6) eV of one vector's tables:
    r tables (1, E, E, nr) on knots spaced ``dr`` (Å); ``f_knots(rho_n)`` gives F's knots that
    the densities rho_n (N,) need, (frho_ek, off): knot k of species e's F is frho_ek[e, k - off];
    ``nrho`` knots spaced ``drho`` in all."""
    g = single
    n_atoms, n_e = len(geo.s_n), rhor_bsdr.shape[1]
    one = n_e == 1
    rho_n = np.empty(n_atoms)
    energy = np.zeros(n_structures)
    forces = np.zeros((n_atoms, 3))
    virial = np.zeros((n_structures, 6))
    hi = g.n_intervals - 1
    lo = geo.lo
    if g.n_intervals:
        cr = np.empty((n_e * n_e, hi + 2, 7))
        _r_coefficients(rhor_bsdr, lo, hi, dr, cr)
        _densities_single(g.ptr_n, g.j_k, g.m_k, g.frac_k, g.at_i_k, g.at_j_k, one, cr, rho_n)
    else:
        rho_n[:] = 0.0
    frho_ek, off = f_knots(rho_n)
    fp_n = np.empty(n_atoms)
    _embedding_single(rho_n, geo.species_n, geo.s_n, frho_ek, off, nrho, drho, fp_n, energy)
    if g.n_intervals:
        cz = np.empty((n_e * n_e, hi + 2, 7))
        _r_coefficients(z2r_bstr, lo, hi, dr, cz)
        _check_species(g, n_e)
        c_v = np.empty((n_e * n_e, g.n_intervals, 16))
        _pair_cubics(cr, cz, n_e, lo, hi, c_v)
        _pairs_single(g.ptr_n, g.j_k, g.row_k, g.frac_k, g.recip_k, g.d_kc, geo.s_n, one,
                      c_v.reshape(-1), fp_n, energy, forces, virial)
    return energy[None], forces.reshape(1, 3 * n_atoms), virial[None]


def fused_single_grid(geo: KernelGeometry, single: SingleGeometry, dr: float, grid: EAMGrid,
                      n_structures: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`fused_single` of the one vector of ``grid`` (its r tables on knots spaced ``dr``,
    Å), F tabulated through ``grid.embedding`` on the knots the densities need when the grid
    has no F table, as the batch kernel's :func:`gafit.forms.eam.kernel.fused_eam`."""
    drho_b = np.ascontiguousarray(grid.drho_b, dtype=float)

    def f_knots(rho_n: np.ndarray) -> tuple[np.ndarray, int]:
        frho_bek, off_b = _f_tables(grid, rho_n[None], drho_b)
        return frho_bek[0], int(off_b[0])

    return fused_single(geo, single, float(dr), np.asarray(grid.rhor_bsdr, dtype=float),
                        np.asarray(grid.z2r_bstr, dtype=float), f_knots, grid.nrho,
                        float(drho_b[0]), n_structures)
