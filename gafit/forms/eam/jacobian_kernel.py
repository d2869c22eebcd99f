"""A fused EAM Jacobian kernel (numba): d(energies, forces, virials)/d(parameters) at one vector,
in forward mode, from its tables and their parameter derivatives, in two sweeps over the pairs of
:class:`gafit.forms.eam.kernel.KernelGeometry` (sorted by r interval), with no sparse products.

The physics and chain rule of :func:`gafit.forms.eam.evaluate.table_parameter_derivatives` (the
numpy path, which stays as the tested reference). With the vector's densities rho_i, F'(rho_i)
and F''(rho_i), and for a parameter k its tables' derivatives d rho(r), d(r phi)(r) and dF:

    d rho_i = sum_j d rho(r_ij)                                  (first sweep)
    d F'_i  = F''(rho_i) d rho_i + dF'(rho_i)                     (per atom)
    d E     = sum_i [F'(rho_i) d rho_i + dF(rho_i)] + sum_p d phi(r_p)
    d (dE/dr_p) = d F'_i rho'(r_p) + F'_i d rho'(r_p) + (i <-> j) + d phi'(r_p)   (second sweep)

onto forces and virials as dE/dr is. The parameters are the columns of a vector of
:data:`gafit.forms.lanes.LANES` (one SIMD register): a pair's work is one vector operation for
LANES parameters. The columns are ordered so that those moving the density tables come first and
those moving r phi next (:func:`column_order`): the sweeps read the derivative tables' spline
coefficients (made :data:`gafit.forms.eam.kernel.WINDOW` intervals at a time, as the evaluation
kernel makes a batch's) only for the vectors of columns that move them, and every other vector
(F's parameters, say) costs two products and the force scatter a pair: the d F' part of the
virials is summed per atom (:func:`_atom_virials`), not per pair.

Compiled in each process (no disk cache: the kernel reuses functions of
:mod:`gafit.forms.eam.kernel`, and numba keys its cache on the defining file alone).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gafit.forms.base import Prediction
from gafit.forms.eam import kernel
from gafit.forms.eam.grid import EAMGrid
from gafit.forms.eam.kernel import (
    WINDOW,
    _add_lanes,
    _coefficients,
    _knot_range,
    _njit,
    _rho_interval,
    _slope_lanes,
    _value_lanes,
    _window_coefficients,
)
from gafit.forms.lanes import LANES, vadd, vload, vmul, vstore, vsub

if TYPE_CHECKING:
    from gafit.forms.eam.evaluate import EAMTable

#: set False to force the numpy path (tests compare the two)
ENABLED = True


def available() -> bool:
    return ENABLED and kernel.available()


def column_order(moves_rho: np.ndarray, moves_phi: np.ndarray) -> tuple[np.ndarray, int, int, int]:
    """(slots, rho_vectors, phi_first, phi_last): the parameter of each slot (-1: padding to whole
    vectors of LANES), the density columns first (those that move r phi too last among them), then
    the r phi columns, then the rest; the vectors 0 .. rho_vectors - 1 hold every density column,
    phi_first .. phi_last - 1 every r phi column."""
    both, rho_only = moves_rho & moves_phi, moves_rho & ~moves_phi
    order = np.concatenate([np.flatnonzero(rho_only), np.flatnonzero(both),
                            np.flatnonzero(moves_phi & ~moves_rho),
                            np.flatnonzero(~moves_rho & ~moves_phi)])
    n_v = -(-len(order) // LANES)
    slots = np.full(n_v * LANES, -1, np.int64)
    slots[: len(order)] = order
    n_rho, n_phi = int(moves_rho.sum()), int(moves_phi.sum())
    n_rho_only = int(rho_only.sum())
    return slots, -(-n_rho // LANES), n_rho_only // LANES, -(-(n_rho_only + n_phi) // LANES)


@_njit
def _pack(t_ksdr, slots, v0, v1, k0, k1, out):
    """out[v - v0, k - k0, x, w] = knot k of table x = (s, d) of the parameter in slot
    v LANES + w (0 for padding), for the vectors v0 .. v1 - 1: the derivative tables of those
    columns, lanes last, for :func:`gafit.forms.eam.kernel._window_coefficients`."""
    n_e = t_ksdr.shape[1]
    for v in range(v0, v1):
        for w in range(LANES):
            c = slots[v * LANES + w]
            for s in range(n_e):
                for d in range(n_e):
                    for k in range(k0, k1 + 1):
                        out[v - v0, k - k0, s * n_e + d, w] = t_ksdr[c, s, d, k] if c >= 0 else 0.0


@_njit
def _density_columns(lo, ptr_m, i_k, j_k, frac_k, at_i_k, at_j_k, one_species, t_vkxw, k0, nr,
                     dr, drho_nvw):
    """drho_nvw[n, v, w] = d(density at atom n) by the parameter of slot v LANES + w, for the
    vectors of the packed tables t_vkxw (:func:`_pack`), one sweep over the pairs per vector."""
    n_m = ptr_m.shape[0] - 1
    n_x = t_vkxw.shape[2]
    n_v = drho_nvw.shape[1]
    s_mxw = np.empty((WINDOW + 1, n_x, LANES))
    c_mxqw = np.empty((WINDOW, n_x, 7, LANES))
    row = 7 * LANES
    for v in range(t_vkxw.shape[0]):
        t_kxw = t_vkxw[v]
        for a in range(n_m):
            if a % WINDOW == 0:
                _window_coefficients(t_kxw, k0, nr, dr, lo + a, lo + min(a + WINDOW, n_m), s_mxw,
                                     c_mxqw)
            c = c_mxqw[a % WINDOW]
            for k in range(ptr_m[a], ptr_m[a + 1]):
                i, j, p = i_k[k], j_k[k], frac_k[k]
                xi, xj = 0, 0
                if not one_species:
                    xi, xj = at_i_k[k] * row, at_j_k[k] * row
                dv = _value_lanes(c, xi, p)
                _add_lanes(drho_nvw, (i * n_v + v) * LANES, dv)
                if not one_species:
                    dv = _value_lanes(c, xj, p)
                _add_lanes(drho_nvw, (j * n_v + v) * LANES, dv)


@_njit
def _pair_columns(lo, ptr_m, i_k, j_k, s_k, frac_k, r_k, recip_k, u_kc, at_i_k, at_j_k, pair_k,
                  one_species, c_rho, t_rho, t_phi, vz0, k0, nr, dr, f1_n, dfp_nvw, use_fp,
                  f_nvcw, ev_svqw):
    """The second sweep, every column vector of a pair at once: d(dE/dr) onto f_nvcw
    (N, V, 3, LANES) and ev_svqw (S, V, 7, LANES) (0: d(pair energy), then the virial of the
    tables' part); dfp_nvw (N, V, LANES) the atoms' d F', use_fp (V,) whether a vector has any;
    t_rho (n_vr, K, X, LANES) the packed density tables of vectors 0 .. n_vr - 1, t_phi those of
    r phi of vectors vz0 .. vz0 + n_vz - 1; c_rho (X, nr, 7) the vector's density coefficients."""
    n_m = ptr_m.shape[0] - 1
    n_v = dfp_nvw.shape[1]
    n_vr, n_vz = t_rho.shape[0], t_phi.shape[0]
    n_x = c_rho.shape[0]
    sr_mxw = np.empty((WINDOW + 1, n_x, LANES))
    cr_vmxqw = np.empty((n_vr, WINDOW, n_x, 7, LANES))
    cz_vmxqw = np.empty((n_vz, WINDOW, n_x, 7, LANES))
    row = 7 * LANES
    zero_w = np.zeros(LANES)
    for a in range(n_m):
        if a % WINDOW == 0:
            m1 = lo + min(a + WINDOW, n_m)
            for v in range(n_vr):
                _window_coefficients(t_rho[v], k0, nr, dr, lo + a, m1, sr_mxw, cr_vmxqw[v])
            for v in range(n_vz):
                _window_coefficients(t_phi[v], k0, nr, dr, lo + a, m1, sr_mxw, cz_vmxqw[v])
        m = lo + a
        for k in range(ptr_m[a], ptr_m[a + 1]):
            i, j, s, p, recip = i_k[k], j_k[k], s_k[k], frac_k[k], recip_k[k]
            ux, uy, uz = u_kc[k, 0], u_kc[k, 1], u_kc[k, 2]
            r = r_k[k]
            dx, dy, dz = r * ux, r * uy, r * uz
            xi, xj, xp = 0, 0, 0
            if not one_species:
                xi, xj, xp = at_i_k[k], at_j_k[k], pair_k[k]
            slope_i = (c_rho[xi, m, 4] * p + c_rho[xi, m, 5]) * p + c_rho[xi, m, 6]
            slope_j = slope_i
            if not one_species:
                slope_j = (c_rho[xj, m, 4] * p + c_rho[xj, m, 5]) * p + c_rho[xj, m, 6]
            f1i, f1j = f1_n[i], f1_n[j]
            for v in range(n_v):
                de = vload(zero_w, 0)
                tables = False
                if v < n_vr:
                    cr = cr_vmxqw[v, a % WINDOW]
                    ds_i = _slope_lanes(cr, xi * row, p)
                    ds_j = ds_i if one_species else _slope_lanes(cr, xj * row, p)
                    de = vadd(vmul(ds_i, f1i), vmul(ds_j, f1j))
                    tables = True
                e = ((s * n_v + v) * 7) * LANES
                if v >= vz0 and v < vz0 + n_vz:
                    cz = cz_vmxqw[v - vz0, a % WINDOW]
                    phi = vmul(_value_lanes(cz, xp * row, p), recip)
                    de = vadd(de, vsub(vmul(_slope_lanes(cz, xp * row, p), recip), vmul(phi, recip)))
                    _add_lanes(ev_svqw, e, phi)
                    tables = True
                if tables:
                    _add_lanes(ev_svqw, e + LANES, vmul(de, dx * ux))
                    _add_lanes(ev_svqw, e + 2 * LANES, vmul(de, dy * uy))
                    _add_lanes(ev_svqw, e + 3 * LANES, vmul(de, dz * uz))
                    _add_lanes(ev_svqw, e + 4 * LANES, vmul(de, dy * uz))
                    _add_lanes(ev_svqw, e + 5 * LANES, vmul(de, dx * uz))
                    _add_lanes(ev_svqw, e + 6 * LANES, vmul(de, dx * uy))
                if use_fp[v]:
                    de = vadd(de, vadd(vmul(vload(dfp_nvw, (i * n_v + v) * LANES), slope_i),
                                       vmul(vload(dfp_nvw, (j * n_v + v) * LANES), slope_j)))
                fi, fj = (i * n_v + v) * 3 * LANES, (j * n_v + v) * 3 * LANES
                g = vmul(de, ux)
                _add_lanes(f_nvcw, fi, g)
                vstore(f_nvcw, fj, vsub(vload(f_nvcw, fj), g))
                g = vmul(de, uy)
                _add_lanes(f_nvcw, fi + LANES, g)
                vstore(f_nvcw, fj + LANES, vsub(vload(f_nvcw, fj + LANES), g))
                g = vmul(de, uz)
                _add_lanes(f_nvcw, fi + 2 * LANES, g)
                vstore(f_nvcw, fj + 2 * LANES, vsub(vload(f_nvcw, fj + 2 * LANES), g))


@_njit
def _atom_virials(lo, ptr_m, i_k, j_k, frac_k, r_k, u_kc, at_i_k, at_j_k, one_species, c_rho,
                  b_nv):
    """b_nv[n] = sum over the pairs of atom n of rho'(r) r u u (Voigt) of the density at n: the
    virial of a unit F' at atom n, so that a column's d F' part of the virial is
    sum_n dF'_n b_nv[n] (per atom, not per pair)."""
    for a in range(ptr_m.shape[0] - 1):
        m = lo + a
        for k in range(ptr_m[a], ptr_m[a + 1]):
            i, j, p, r = i_k[k], j_k[k], frac_k[k], r_k[k]
            xi, xj = 0, 0
            if not one_species:
                xi, xj = at_i_k[k], at_j_k[k]
            slope_i = (c_rho[xi, m, 4] * p + c_rho[xi, m, 5]) * p + c_rho[xi, m, 6]
            slope_j = slope_i
            if not one_species:
                slope_j = (c_rho[xj, m, 4] * p + c_rho[xj, m, 5]) * p + c_rho[xj, m, 6]
            ux, uy, uz = u_kc[k, 0], u_kc[k, 1], u_kc[k, 2]
            dx, dy, dz = r * ux, r * uy, r * uz
            w = (dx * ux, dy * uy, dz * uz, dy * uz, dx * uz, dx * uy)
            for q in range(6):
                b_nv[i, q] += slope_i * w[q]
                b_nv[j, q] += slope_j * w[q]


@_njit
def _structure_virials(s_n, dfp_nk, b_nv, out_skv):
    """out_skv[s, k] += sum over the atoms n of structure s of dfp_nk[n, k] b_nv[n]."""
    for n in range(s_n.shape[0]):
        s = s_n[n]
        for k in range(dfp_nk.shape[1]):
            d = dfp_nk[n, k]
            for q in range(6):
                out_skv[s, k, q] += d * b_nv[n, q]


@_njit
def _embedding_columns(f_xk, n_e, species_n, rho_n, drho, f1_n, f2_n, df_cn, dfp_cn):
    """F' and F'' of the vector's F tables (rows 0 .. n_e - 1 of f_xk (X, nrho)) at each atom's
    density into f1_n, f2_n (F'' = 0 beyond the table), and F and F' of each column's (rows
    n_e (1 + c) + species) into df_cn, dfp_cn (F linear beyond the table): LAMMPS's cubic,
    made on the intervals the densities use only."""
    nrho = f_xk.shape[1]
    inv = 1.0 / drho
    top = (nrho - 1) * drho
    m_lo, m_hi = nrho, -1
    for i in range(rho_n.shape[0]):
        m, _ = _rho_interval(rho_n[i], inv, nrho)
        m_lo = min(m_lo, m)
        m_hi = max(m_hi, m)
    c = np.empty((f_xk.shape[0], nrho, 7))
    _coefficients(f_xk, 0, nrho, drho, m_lo, m_hi, c)
    for i in range(rho_n.shape[0]):
        rho = rho_n[i]
        m, p = _rho_interval(rho, inv, nrho)
        x = species_n[i]
        f1_n[i] = (c[x, m, 4] * p + c[x, m, 5]) * p + c[x, m, 6]
        f2_n[i] = 0.0 if rho > top else (2.0 * c[x, m, 4] * p + c[x, m, 5]) * inv
        for col in range(df_cn.shape[0]):
            y = n_e * (1 + col) + x
            f = ((c[y, m, 0] * p + c[y, m, 1]) * p + c[y, m, 2]) * p + c[y, m, 3]
            fp = (c[y, m, 4] * p + c[y, m, 5]) * p + c[y, m, 6]
            if rho > top:
                f += fp * (rho - top)
            df_cn[col, i] = f
            dfp_cn[col, i] = fp


def _moves(t_k: np.ndarray) -> np.ndarray:
    """Which parameters (the first axis) move a table (any entry non-zero)."""
    return t_k.reshape(t_k.shape[0], -1).any(axis=1)


def _packed(t_ksdr: np.ndarray, slots: np.ndarray, v0: int, v1: int, k0: int, k1: int
            ) -> np.ndarray:
    """The derivative tables of the vectors v0 .. v1 - 1 (:func:`_pack`)."""
    n_x = t_ksdr.shape[1] * t_ksdr.shape[2]
    out = np.empty((v1 - v0, k1 - k0 + 1, n_x, LANES))
    _pack(t_ksdr, slots, v0, v1, k0, k1, out)
    return out


def fused_table_derivatives(g: EAMGrid, dg: EAMGrid, ddrho_k: np.ndarray | None,
                            tab: EAMTable) -> Prediction:
    """:func:`gafit.forms.eam.evaluate.table_parameter_derivatives` (same arguments, the same
    numbers to rounding) through the fused kernel."""
    geo = tab.kernel
    g = g.full()
    n_k = dg.rhor_bsdr.shape[0]
    n_e, nr, dr = g.rhor_bsdr.shape[1], g.nr, float(g.dr)
    n_atoms, n_s = tab.n_atoms, tab.n_structures
    n_m = len(geo.ptr_m) - 1
    one = n_e == 1
    rhor = np.asarray(g.rhor_bsdr, dtype=float)
    rho_n = np.empty((1, n_atoms))
    kernel._densities(geo.lo, geo.ptr_m, geo.i_k, geo.j_k, geo.frac_k, geo.at_i_k, geo.at_j_k,
                      rhor, rho_n)
    rho_n = rho_n[0]
    drho = float(g.drho_b[0])
    # F', F'' of the vector and F, F' of the parameters that move the F tables (explicit part)
    f_k = np.flatnonzero(_moves(dg.frho_ber))
    f1, f2 = np.empty(n_atoms), np.empty(n_atoms)
    df_fn, dfp_fn = np.empty((len(f_k), n_atoms)), np.empty((len(f_k), n_atoms))
    f_xk = np.concatenate([g.frho_ber[0], dg.frho_ber[f_k].reshape(-1, g.nrho)])
    _embedding_columns(f_xk, n_e, tab.species_n, rho_n, drho, f1, f2, df_fn, dfp_fn)
    # the parameters in slots, vectors of LANES, those moving the density tables first
    slots, n_vr, vz0, vz1 = column_order(_moves(dg.rhor_bsdr), _moves(dg.z2r_bstr))
    n_v = len(slots) // LANES
    used = slots >= 0
    k0, k1 = _knot_range(geo.lo, n_m, nr)
    t_rho = _packed(dg.rhor_bsdr, slots, 0, n_vr, k0, k1)
    drho_ns = np.zeros((n_atoms, len(slots)))  # d(density at each atom), per slot
    if n_m:
        _density_columns(geo.lo, geo.ptr_m, geo.i_k, geo.j_k, geo.frac_k, geo.at_i_k,
                         geo.at_j_k, one, t_rho, k0, nr, dr, drho_ns.reshape(n_atoms, n_v, LANES))
    # the atoms' d F' and d F per slot
    dfp_ns, de_ns = f2[:, None] * drho_ns, f1[:, None] * drho_ns
    in_f = np.isin(slots, f_k)
    dfp_ns[:, in_f] += dfp_fn[np.searchsorted(f_k, slots[in_f])].T
    de_ns[:, in_f] += df_fn[np.searchsorted(f_k, slots[in_f])].T
    if ddrho_k is not None and np.any(ddrho_k):  # the F knots k drho move with drho
        q_n = rho_n / drho
        dd_s = np.where(used, np.asarray(ddrho_k)[slots], 0.0)
        de_ns += np.outer(-q_n * f1, dd_s)
        dfp_ns += np.outer(-q_n * f2 - f1 / drho, dd_s)
    c_rho = np.empty((n_e * n_e, nr, 7))
    f_nvcw = np.zeros((n_atoms, n_v, 3, LANES))
    ev_svqw = np.zeros((n_s, n_v, 7, LANES))
    b_nv = np.zeros((n_atoms, 6))
    if n_m:
        _coefficients(rhor[0].reshape(n_e * n_e, nr), 0, nr, dr, geo.lo, geo.lo + n_m - 1, c_rho)
        dfp_nvw = dfp_ns.reshape(n_atoms, n_v, LANES)
        _pair_columns(geo.lo, geo.ptr_m, geo.i_k, geo.j_k, geo.s_k, geo.frac_k, geo.r_k,
                      geo.recip_k, geo.u_kc, geo.at_i_k, geo.at_j_k, geo.pair_k, one, c_rho,
                      t_rho, _packed(dg.z2r_bstr, slots, vz0, vz1, k0, k1), vz0, k0, nr, dr, f1,
                      dfp_nvw, dfp_nvw.any(axis=(0, 2)), f_nvcw, ev_svqw)
        _atom_virials(geo.lo, geo.ptr_m, geo.i_k, geo.j_k, geo.frac_k, geo.r_k, geo.u_kc,
                      geo.at_i_k, geo.at_j_k, one, c_rho, b_nv)
    virial_sv6 = ev_svqw[:, :, 1:].transpose(0, 1, 3, 2).reshape(n_s, -1, 6)
    _structure_virials(geo.s_n, dfp_ns, b_nv, virial_sv6)  # the d F' part
    col = slots[used]
    energy_sk = np.zeros((n_s, n_k))
    energy_sk[:, col] = (tab.energy_sn @ de_ns + ev_svqw[:, :, 0].reshape(n_s, -1))[:, used]
    forces_kx = np.zeros((n_k, 3 * n_atoms))
    forces_kx[col] = f_nvcw.transpose(1, 3, 0, 2).reshape(-1, 3 * n_atoms)[used]
    virial_ksv = np.zeros((n_k, n_s, 6))
    virial_ksv[col] = virial_sv6.transpose(1, 0, 2)[used]
    return Prediction(energy=np.ascontiguousarray(energy_sk.T), forces=forces_kx,
                      virial=virial_ksv)
