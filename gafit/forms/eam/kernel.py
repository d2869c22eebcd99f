"""A fused EAM kernel (numba): energies, forces and virials of a batch of tabulated potentials in two
passes over the half neighbour list per individual, with no per-pair work arrays and no sparse
products.

Per individual, the kernel builds LAMMPS's spline coefficients of its r tables (rho(r), r phi(r))
and of its F(rho) table (:func:`gafit.forms.eam.spline.spline_coefficients`, the same operations),
then one pass over the pairs sums each atom's density, a pass over the atoms gives F and F'
(linear beyond the table, as LAMMPS), and a second pass over the pairs, in centre-atom order
(:class:`KernelGeometry`), adds the pair energies and dE/dr into the structure energies, forces and
virials. The physics is that of :mod:`gafit.forms.eam.evaluate`, which keeps the numpy path: with
``ENABLED = False`` or without numba, :func:`gafit.forms.eam.evaluate.evaluate_grid` takes it.

The kernel is serial, as the pair and Tersoff kernels: a fit's parallelism is its worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gafit.forms.tersoff.kernel import centre_csr

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
def _coefficients(f_xn, delta, out):
    """LAMMPS's cubic per interval of each table f_xn[x] (n >= 5), as
    :func:`gafit.forms.eam.spline.spline_coefficients` (same operations, same order): columns
    c3 c2 c1 c0 of the value, then 3 c3/delta, 2 c2/delta, c1/delta of the slope, into out[x]."""
    n = f_xn.shape[1]
    for x in range(f_xn.shape[0]):
        f = f_xn[x]  # views, once per table (not per knot)
        o = out[x]
        for k in range(n):  # the knot slopes (times delta) first, in column 2
            if k == 0:
                s = f[1] - f[0]
            elif k == 1:
                s = 0.5 * (f[2] - f[0])
            elif k == n - 2:
                s = 0.5 * (f[n - 1] - f[n - 3])
            elif k == n - 1:
                s = f[n - 1] - f[n - 2]
            else:
                s = ((f[k - 2] - f[k + 2]) + 8.0 * (f[k + 1] - f[k - 1])) / 12.0
            o[k, 2] = s
            o[k, 3] = f[k]
        for k in range(n - 1):
            step = f[k + 1] - f[k]
            o[k, 1] = 3.0 * step - 2.0 * o[k, 2] - o[k + 1, 2]
            o[k, 0] = o[k, 2] + o[k + 1, 2] - 2.0 * step
        o[n - 1, 0] = 0.0
        o[n - 1, 1] = 0.0
        for k in range(n):
            o[k, 4] = 3.0 * o[k, 0] / delta
            o[k, 5] = 2.0 * o[k, 1] / delta
            o[k, 6] = o[k, 2] / delta


@_njit
def _kernel(ptr_n, r_k, recip_k, u_kc, j_k, m_k, frac_k, at_i_k, at_j_k, pair_k, species_n, s_n, dr,
            rhor_bxr, z2r_bxr, frho_ber, drho_b, energy, forces, virial):
    # rhor_bxr, z2r_bxr (B, E*E, nr) flattened tables; frho_ber (B, E, nrho); energy (B, S),
    # forces (B, N, 3), virial (B, S, 6) in Voigt order, all added to.
    n_b, n_x, nr = rhor_bxr.shape
    n_e, nrho = frho_ber.shape[1], frho_ber.shape[2]
    n_atoms = ptr_n.shape[0] - 1
    one_species = n_e == 1
    c_rho = np.empty((n_x, nr, 7))
    c_z2r = np.empty((n_x, nr, 7))
    c_f = np.empty((n_e, nrho, 7))
    rho_n = np.empty(n_atoms)
    fp_n = np.empty(n_atoms)
    for b in range(n_b):
        _coefficients(rhor_bxr[b], dr, c_rho)
        _coefficients(z2r_bxr[b], dr, c_z2r)
        drho = drho_b[b]
        _coefficients(frho_ber[b], drho, c_f)
        # --- densities
        rho_n[:] = 0.0
        for i in range(n_atoms):
            acc = 0.0
            for k in range(ptr_n[i], ptr_n[i + 1]):
                m, p = m_k[k], frac_k[k]
                x = 0 if one_species else at_i_k[k]
                v = ((c_rho[x, m, 0] * p + c_rho[x, m, 1]) * p + c_rho[x, m, 2]) * p + c_rho[x, m, 3]
                acc += v
                if not one_species:
                    x = at_j_k[k]
                    v = (((c_rho[x, m, 0] * p + c_rho[x, m, 1]) * p + c_rho[x, m, 2]) * p
                         + c_rho[x, m, 3])
                rho_n[j_k[k]] += v
            rho_n[i] += acc
        # --- F and F' per atom (LAMMPS's lookup: the first interval below the table, the end of
        # the last beyond it, then F extended linearly)
        rhomax = (nrho - 1) * drho
        inv = 1.0 / drho
        for i in range(n_atoms):
            rho = rho_n[i]
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
            x, m = species_n[i], m - 1
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


def fused_eam(geo: KernelGeometry, dr: float, rhor_bsdr: np.ndarray, z2r_bstr: np.ndarray,
              frho_ber: np.ndarray, drho_b: np.ndarray, n_structures: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energies (B, S) eV, forces (B, 3N) eV/Å and virials (B, S, 6) eV of the tables of an
    :class:`gafit.forms.eam.evaluate.EAMGrid` on r knots spaced ``dr`` (Å)."""
    n_b, n_atoms = frho_ber.shape[0], len(geo.s_n)
    energy = np.zeros((n_b, n_structures))
    forces = np.zeros((n_b, n_atoms, 3))
    virial = np.zeros((n_b, n_structures, 6))

    def flat(t: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(t.reshape(n_b, -1, t.shape[-1]), dtype=float)

    _kernel(geo.ptr_n, geo.r_k, geo.recip_k, geo.u_kc, geo.j_k, geo.m_k, geo.frac_k, geo.at_i_k, geo.at_j_k,
            geo.pair_k, geo.species_n, geo.s_n, float(dr), flat(rhor_bsdr), flat(z2r_bstr),
            np.ascontiguousarray(frho_ber, dtype=float),
            np.ascontiguousarray(drho_b, dtype=float), energy, forces, virial)
    return energy, forces.reshape(n_b, 3 * n_atoms), virial
