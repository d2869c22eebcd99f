"""The parameter derivatives of Stillinger-Weber energies, forces and virials at one vector, in one
compiled pass (numba), for one species (one entry; several go to
:func:`gafit.forms.stillinger_weber.derivatives.sw_parameter_derivatives`).

The terms and their derivatives are those of :mod:`gafit.forms.stillinger_weber.derivatives`
(``two_body_params``, ``leg_params``, ``angular_params``), written per pair and per triplet. As in
:mod:`gafit.forms.stillinger_weber.kernel_single`, each atom's pairs inside the reach are kept
first and only their triplets formed; per kept pair the derivatives of dE/dr by every parameter,
and of the angular part of dE/dd_ij, are summed over its triplets, then go once into the forces
of i and j and the structure's virial (d_ij (x) d(dE/dd_ij)/dθ). The parameters of the legs
(sigma, a, gamma) and of the angle (epsilon, lambda, costheta0) are the only ones a triplet
moves; the others (A, B, p, q, and epsilon again) enter the two-body term alone.
"""

from __future__ import annotations

import math

import numpy as np

from gafit.forms.jit import njit
from gafit.forms.scatter import pair_virial
from gafit.forms.tersoff.kernel import KernelGeometry

# the parameter columns of the entry (as gafit.forms.stillinger_weber.evaluate; repeated here so
# that the compiled code sees them as constants)
_EPS, _SIGMA, _SMALL_A, _LAM, _GAMMA, _COS0, _BIG_A, _BIG_B, _P, _Q, _TOL = range(11)
N_PARAMS = 11


@njit(inline="always")
def _angle_forces(g_mxk, a, c, col, dd, wax, way, waz, wcx, wcy, wcz):
    """dd times dcos/dd_ij (wa) and dcos/dd_ik (wc) into column col of the angular force
    derivatives of the triplet's pairs a and c."""
    g_mxk[a, 0, col] += dd * wax
    g_mxk[a, 1, col] += dd * way
    g_mxk[a, 2, col] += dd * waz
    g_mxk[c, 0, col] += dd * wcx
    g_mxk[c, 1, col] += dd * wcy
    g_mxk[c, 2, col] += dd * wcz


@njit
def _kernel(ptr_n, r_k, u_kc, j_k, s_n, v, cut, energy_sk, forces_nxk, virial_svk):
    # v (11,) the entry's parameters, cut its reach (Å); energy_sk (S, 11), forces_nxk (N, 3, 11),
    # virial_svk (S, 6, 11) added to.
    eps, sigma, a_, lam = v[_EPS], v[_SIGMA], v[_SMALL_A], v[_LAM]
    gamma, cos0, big_a, big_b, p, q = v[_GAMMA], v[_COS0], v[_BIG_A], v[_BIG_B], v[_P], v[_Q]
    k2 = big_a * eps
    le = lam * eps
    asig = a_ * sigma
    n_atoms = ptr_n.shape[0] - 1
    nn_max = 1
    for i in range(n_atoms):
        nn_max = max(nn_max, ptr_n[i + 1] - ptr_n[i])
    k_m = np.empty(nn_max, np.int64)  # the kept pairs' table rows
    h_m = np.empty(nn_max)  # leg h, dh/dr
    hr_m = np.empty(nn_max)
    hs_mj = np.empty((nn_max, 3))  # dh/d(sigma, a, gamma) and d2h/dr d(sigma, a, gamma)
    hrs_mj = np.empty((nn_max, 3))
    d_mk = np.empty((nn_max, N_PARAMS))  # d(dE/dr)/dθ of each kept pair
    g_mxk = np.empty((nn_max, 3, N_PARAMS))  # d(angular part of dE/dd_ij)/dθ
    e_k = np.empty(N_PARAMS)
    legs = (_SIGMA, _SMALL_A, _GAMMA)
    for i in range(n_atoms):
        n_m = 0
        for kk in range(ptr_n[i], ptr_n[i + 1]):
            k_m[n_m] = kk
            n_m += 1 if r_k[kk] < cut else 0
        if n_m == 0:
            continue
        e_k[:] = 0.0
        d_mk[:n_m] = 0.0
        g_mxk[:n_m] = 0.0
        # --- per kept pair: the two-body term's derivatives, the leg and its derivatives
        for m in range(n_m):
            r = r_k[k_m[m]]
            iu = 1.0 / (r - asig)
            # x = c sigma / u (c = 1 for the two-body term), x_r = dx/dr; by sigma and a
            x1 = sigma * iu
            x1_r = -x1 * iu
            xs = r * iu * iu  # dx/dsigma per unit c
            xs_r = -(r + asig) * iu * iu * iu
            xa = sigma * sigma * iu * iu
            xa_r = -2.0 * sigma * sigma * iu * iu * iu
            big_x = math.exp(x1)
            ls = math.log(sigma / r)
            sp = math.exp(p * ls)
            sq = math.exp(q * ls)
            bsp = big_b * sp
            w = bsp - sq
            w_r = (q * sq - p * bsp) / r
            kx = k2 * big_x
            base_r = w_r + w * x1_r
            # (d(phi2)/dθ, d2(phi2)/dr dθ), halved: each ordered pair carries half the term
            e_k[_EPS] += 0.5 * big_a * w * big_x
            d_mk[m, _EPS] += 0.5 * big_a * big_x * base_r
            e_k[_BIG_A] += 0.5 * eps * w * big_x
            d_mk[m, _BIG_A] += 0.5 * eps * big_x * base_r
            # sigma: both the powers and the exponent
            w_t = (p * bsp - q * sq) / sigma
            w_rt = (q * q * sq - p * p * bsp) / (r * sigma)
            e_k[_SIGMA] += 0.5 * kx * (w_t + w * xs)
            d_mk[m, _SIGMA] += 0.5 * kx * (w_rt + w_r * xs + w_t * x1_r + w * xs * x1_r + w * xs_r)
            # a: the exponent only
            e_k[_SMALL_A] += 0.5 * kx * (w * xa)
            d_mk[m, _SMALL_A] += 0.5 * kx * (w_r * xa + w * xa * x1_r + w * xa_r)
            # B, p, q: the powers only
            e_k[_BIG_B] += 0.5 * kx * sp
            d_mk[m, _BIG_B] += 0.5 * kx * (-p * sp / r + sp * x1_r)
            w_t = bsp * ls
            e_k[_P] += 0.5 * kx * w_t
            d_mk[m, _P] += 0.5 * kx * (-bsp * (1.0 + p * ls) / r + w_t * x1_r)
            w_t = -sq * ls
            e_k[_Q] += 0.5 * kx * w_t
            d_mk[m, _Q] += 0.5 * kx * (sq * (1.0 + q * ls) / r + w_t * x1_r)
            # the leg h = exp(gamma sigma / u)
            xg = gamma * x1
            xg_r = -xg * iu
            h = math.exp(xg)
            h_m[m] = h
            hr_m[m] = h * xg_r
            for j, (x_t, x_rt) in enumerate(((gamma * xs, gamma * xs_r), (gamma * xa, gamma * xa_r),
                                             (sigma * iu, -sigma * iu * iu))):
                hs_mj[m, j] = h * x_t
                hrs_mj[m, j] = h * (x_t * xg_r + x_rt)
        # --- per triplet of kept pairs: the legs' and the angle's parameters
        for a in range(n_m):
            ka = k_m[a]
            ux, uy, uz = u_kc[ka, 0], u_kc[ka, 1], u_kc[ka, 2]
            ia = 1.0 / r_k[ka]
            ha, har = h_m[a], hr_m[a]
            for c in range(a + 1, n_m):
                kc = k_m[c]
                vx, vy, vz = u_kc[kc, 0], u_kc[kc, 1], u_kc[kc, 2]
                ic = 1.0 / r_k[kc]
                cs = ux * vx + uy * vy + uz * vz
                dc = cs - cos0
                big_w = le * dc * dc
                dw = 2.0 * le * dc
                hc, hcr = h_m[c], hr_m[c]
                # dcos/dd_ij and dcos/dd_ik
                wax, way, waz = (vx - cs * ux) * ia, (vy - cs * uy) * ia, (vz - cs * uz) * ia
                wcx, wcy, wcz = (ux - cs * vx) * ic, (uy - cs * vy) * ic, (uz - cs * vz) * ic
                for j in range(3):
                    col = legs[j]
                    s = hs_mj[a, j] * hc + ha * hs_mj[c, j]
                    e_k[col] += s * big_w
                    d_mk[a, col] += (hrs_mj[a, j] * hc + har * hs_mj[c, j]) * big_w
                    d_mk[c, col] += (hs_mj[a, j] * hcr + ha * hrs_mj[c, j]) * big_w
                    _angle_forces(g_mxk, a, c, col, s * dw, wax, way, waz, wcx, wcy, wcz)
                hh, hha, hhc = ha * hc, har * hc, ha * hcr
                for col, w_m, dw_m in ((_EPS, lam * dc * dc, 2.0 * lam * dc),
                                       (_LAM, eps * dc * dc, 2.0 * eps * dc),
                                       (_COS0, -2.0 * le * dc, -2.0 * le)):
                    e_k[col] += hh * w_m
                    d_mk[a, col] += hha * w_m
                    d_mk[c, col] += hhc * w_m
                    _angle_forces(g_mxk, a, c, col, hh * dw_m, wax, way, waz, wcx, wcy, wcz)
        # --- each kept pair's d(dE/dd_ij)/dθ into the forces of i and j and the virial
        s = s_n[i]
        for col in range(N_PARAMS):
            energy_sk[s, col] += e_k[col]
        for m in range(n_m):
            kk = k_m[m]
            jj = j_k[kk]
            ux, uy, uz = u_kc[kk, 0], u_kc[kk, 1], u_kc[kk, 2]
            r = r_k[kk]
            for col in range(N_PARAMS):
                gr = d_mk[m, col]
                gx = g_mxk[m, 0, col] + gr * ux
                gy = g_mxk[m, 1, col] + gr * uy
                gz = g_mxk[m, 2, col] + gr * uz
                forces_nxk[jj, 0, col] -= gx
                forces_nxk[jj, 1, col] -= gy
                forces_nxk[jj, 2, col] -= gz
                forces_nxk[i, 0, col] += gx
                forces_nxk[i, 1, col] += gy
                forces_nxk[i, 2, col] += gz
                w0, w1, w2, w3, w4, w5 = pair_virial(r, ux, uy, uz, gx, gy, gz)
                virial_svk[s, 0, col] += w0
                virial_svk[s, 1, col] += w1
                virial_svk[s, 2, col] += w2
                virial_svk[s, 3, col] += w3
                virial_svk[s, 4, col] += w4
                virial_svk[s, 5, col] += w5


def fused_derivatives(geo: KernelGeometry, values: np.ndarray, cut: float,
                      n_structures: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """d(energy)/dθ (11, S) eV per unit, d(forces)/dθ (11, 3N) and d(virial)/dθ (11, S, 6) of
    the one entry's parameters ``values`` (11,) with reach ``cut`` (Å), on ``geo``; the row of
    tol is zero."""
    n_atoms = len(geo.s_n)
    energy = np.zeros((n_structures, N_PARAMS))
    forces = np.zeros((n_atoms, 3, N_PARAMS))
    virial = np.zeros((n_structures, 6, N_PARAMS))
    _kernel(geo.ptr_n, geo.r_k, geo.u_kc, geo.j_k, geo.s_n, np.ascontiguousarray(values, float),
            float(cut), energy, forces, virial)
    return (np.ascontiguousarray(energy.T), np.ascontiguousarray(forces.reshape(-1, N_PARAMS).T),
            np.ascontiguousarray(virial.transpose(2, 0, 1)))
