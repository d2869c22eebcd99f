"""A fused Tersoff Jacobian kernel (numba): the derivatives of energies, forces and virials with
respect to every parameter, at one parameter vector, in one pass over the atoms.

The same physics and chain rule as :mod:`gafit.forms.tersoff.derivatives` (the numpy path, which
stays as the tested reference): forward mode, each per-pair and per-triplet intermediate carried
with its derivatives by the parameters that move it. It reads the centre-atom geometry of the
evaluation's kernel (:class:`gafit.forms.tersoff.kernel.KernelGeometry`): per atom i, its pairs
ij, every triplet (ij, ik) as a pair of its rows, with no per-triplet tables and no sparse
products.

A parameter belongs to one *group* (i, j) of species: the triplet parameters (gamma, c, d, h,
lambda3, R, D) of the entries (i, j, k), every k, move zeta_ij; the pair parameters (n, beta,
lambda2, B, lambda1, A) and R, D of (i, j, j) move the pair terms of i->j. So the derivatives of
pair ij's terms are a vector over its group's L = 7 n_species + 6 *local* parameters: 7 columns
per third species k (gamma c d h lambda3 R D of (i, j, k)), then n beta lambda2 B lambda1 A of
(i, j, j). The R, D of (i, j, j) are one parameter in its two roles (f_C(r_ij) and f_C(r_ik) with
k of species j), so both add into the same column. Outputs are per group with the local parameter
innermost, (groups, ..., L), so that each scatter is a contiguous, vectorised loop over the
parameters; :func:`fused_parameter_derivatives` lays them out as rows of the full vector.

Per atom i, over its pairs within some entry's R + D:
1. each triplet (ij, ik): z = f_C(r_ik) g(cos) exp(...) and a, c, s = dz/dr_ij, dz/dr_ik,
   dz/dcos, with their derivatives by the 7 parameters of its entry (i, j, k); zeta_ij and
   dzeta_ij summed;
2. each pair ij: the energy e, u = dE/dr at fixed zeta, w = dE/dzeta and their derivatives by the
   group's parameters (direct, plus through dzeta);
3. the derivatives of each triplet's forces on j and k, -(a u_ij + s dcos/dd_ij) dw -
   (da u_ij + ds dcos/dd_ij) w on j and likewise with c on k: dw_ij times the triplet's force
   per unit w on k (3 L per triplet), the same on j summed over the pair's triplets first and
   multiplied by dw_ij once per pair, and w times the force derivatives by the triplet's own 7
   parameters; then per pair du u_ij and the sums scattered to the forces and virial.

Set ``ENABLED = False`` (or run without numba) for the numpy path.
"""

from __future__ import annotations

import math

import numpy as np

from gafit.forms.tersoff.kernel import KernelGeometry

try:
    import numba
except ImportError:  # pragma: no cover - numba is optional
    numba = None

#: set False to force the numpy path (tests compare the two)
ENABLED = numba is not None

# the parameter columns of an entry (as gafit.forms.tersoff.evaluate; repeated so that the compiled
# functions see them as constants)
_M, _GAMMA, _LAM3, _C, _SMALL_D, _H, _N, _BETA, _LAM2, _BIG_B, _BIG_R, _BIG_D, _LAM1, _BIG_A = range(14)
_EXP_CLAMP = 69.0776

#: the local columns of a third species k: these parameters of entry (i, j, k), at 7 k + position
TRIPLET_COLUMNS = (_GAMMA, _C, _SMALL_D, _H, _LAM3, _BIG_R, _BIG_D)
#: then these of entry (i, j, j), at 7 n_species + position
PAIR_COLUMNS = (_N, _BETA, _LAM2, _BIG_B, _LAM1, _BIG_A)
_NT = len(TRIPLET_COLUMNS)


def available() -> bool:
    return ENABLED and numba is not None


#: fused multiply-adds only (no reassociation, no assumptions on inf and NaN): the derivatives
#: equal to rounding
_FASTMATH = {"contract"}


def _njit(fn=None, inline="never", cache=False):
    # error_model="numpy": a division by zero gives inf/nan, as in numpy
    if fn is None:
        return lambda f: _njit(f, inline, cache)
    if numba is None:
        return fn
    try:
        return numba.njit(error_model="numpy", fastmath=_FASTMATH, inline=inline, cache=cache)(fn)
    except RuntimeError:  # no writable place for the cache: compile in each process
        return numba.njit(error_model="numpy", fastmath=_FASTMATH, inline=inline)(fn)


def local_width(n_species: int) -> int:
    """L: the number of local parameters of a group (i, j)."""
    return _NT * n_species + len(PAIR_COLUMNS)


# --------------------------------------------------------------------------- scalar functions
# Values and parameter derivatives, as the elementwise functions of gafit.forms.tersoff.derivatives


@_njit(inline="always")
def _cutoff_p(r, big_r, big_d):
    """f_C, df_C/dr, df_C/dR, df_C/dD, d²f_C/dr dR, d²f_C/dr dD (all 0 but f_C outside the band)."""
    x = (r - big_r) / big_d
    if x <= -1.0:
        return 1.0, 0.0, 0.0, 0.0, 0.0, 0.0
    if x >= 1.0:
        return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    phase = 0.5 * math.pi * x
    sn, cs = math.sin(phase), math.cos(phase)
    k1 = 0.25 * math.pi / big_d
    dfc = -k1 * cs
    d2fc = k1 * 0.5 * math.pi / big_d * sn
    return 0.5 - 0.5 * sn, dfc, -dfc, -x * dfc, -d2fc, -x * d2fc - dfc / big_d


@_njit(inline="always")
def _radial_p(dr, lam3, m):
    """exp((lambda3 dr)^m) with LAMMPS's clamp, its dr-derivative, and their lambda3-derivatives."""
    t = lam3 * dr
    if m == 3.0:
        t2 = t * t
        arg, arg_l = t2 * t, 3.0 * t2 * dr
        darg, darg_l = 3.0 * lam3 * t2, 9.0 * t2
    else:
        arg, arg_l, darg, darg_l = t, dr, lam3, 1.0
    if arg > _EXP_CLAMP:
        ex, ex_l = 1e30, 0.0
    elif arg < -_EXP_CLAMP:
        ex, ex_l = 0.0, 0.0
    else:
        ex = math.exp(arg)
        ex_l = arg_l * ex
    return ex, darg * ex, ex_l, darg_l * ex + darg * ex_l


@_njit(inline="always")
def _angular_p(cs, q, e, out):
    """g and dg/dcos of entry e at cos theta; the derivatives of g by gamma, c, d, h into out[0]
    and those of dg/dcos into out[1]."""
    gamma, c, d = q[e, _GAMMA], q[e, _C], q[e, _SMALL_D]
    u = q[e, _H] - cs
    inv = 1.0 / (d * d + u * u)
    inv2 = inv * inv
    c2 = c * c
    g0 = 1.0 + c2 / (d * d) - c2 * inv
    dg0 = -2.0 * c2 * u * inv2
    out[0, 0] = g0
    out[0, 1] = gamma * 2.0 * c * (1.0 / (d * d) - inv)
    out[0, 2] = gamma * 2.0 * c2 * (d * inv2 - 1.0 / (d * d * d))
    out[0, 3] = dg0 * -gamma
    out[1, 0] = dg0
    out[1, 1] = gamma * -4.0 * c * u * inv2
    out[1, 2] = gamma * 8.0 * c2 * u * d * inv2 * inv
    out[1, 3] = gamma * -2.0 * c2 * inv2 * (1.0 - 4.0 * u * u * inv)
    return gamma * g0, gamma * dg0


@_njit(inline="always")
def _bond_order_p(zeta, beta, n, c1, c2, c3, c4):
    """b, db/dzeta, d²b/dzeta², db/dbeta, d²b/dzeta dbeta, db/dn, d²b/dzeta dn with LAMMPS's
    branches (t = beta zeta; f = db/dt, f1 = df/dt, f_n = df/dn)."""
    t = zeta * beta
    if t > c1:
        rs = 1.0 / math.sqrt(t)
        b, f, f1, b_n, f_n = rs, -0.5 * rs / t, 0.75 * rs / (t * t), 0.0, 0.0
    elif t > c2:
        lt = math.log(t)
        rs = math.exp(-0.5 * lt)
        tmn = 1.0 / math.exp(n * lt)
        k = 1.0 + 0.5 / n
        b = (1.0 - tmn / (2.0 * n)) * rs
        f = -0.5 * rs / t * (1.0 - k * tmn)
        f1 = rs / (t * t) * (0.75 - 0.5 * k * (n + 1.5) * tmn)
        b_n = rs * tmn * (0.5 * lt / n + 0.5 / (n * n))
        f_n = 0.5 * rs / t * tmn * (-0.5 / (n * n) - k * lt)
    elif t < c4:
        b, f, f1, b_n, f_n = 1.0, 0.0, 0.0, 0.0, 0.0
    elif t < c3:
        lt = math.log(t)
        tn = math.exp(n * lt)
        b = 1.0 - tn / (2.0 * n)
        f = -0.5 * tn / t
        f1 = -0.5 * (n - 1.0) * tn / (t * t)
        b_n = tn * (0.5 / (n * n) - 0.5 * lt / n)
        f_n = -0.5 * tn * lt / t
    else:
        lt = math.log(t)
        tn = math.exp(n * lt)
        l1p = math.log1p(tn)
        b = math.exp(l1p * (-0.5 / n))
        qq = tn / (1.0 + tn)
        f = -0.5 * b * qq / t
        f1 = f / t * (n * (1.0 - qq) - 1.0 - 0.5 * qq)
        b_n = b * (0.5 * l1p / (n * n) - 0.5 * qq * lt / n)
        f_n = -0.5 / t * (b_n * qq + b * qq * (1.0 - qq) * lt)
    return b, beta * f, beta * beta * f1, zeta * f, f + t * f1, b_n, beta * f_n


@_njit(inline="always")
def _triplet_rest(rij, rik, q, e, g, dg, ang, fc, dfc, fc_r, fc_d, dfc_r, dfc_d, z_acx, dz_acxp, a,
                  c):
    """Triplet (ij, ik) of entry e from f_C(r_ik) and its derivatives, g(cos), dg/dcos and their
    parameter derivatives ``ang`` (2, 4): z, dz/dr_ij, dz/dr_ik, dz/dcos into z_acx[a, c], and
    their derivatives by gamma c d h lambda3 R D of e into dz_acxp[a, c] (4, 7). (Arrays are
    indexed, not sliced: a slice is an array object, with reference counting.)"""
    ex, dex, ex_l, dex_l = _radial_p(rij - rik, q[e, _LAM3], q[e, _M])
    fex, fdex = fc * ex, fc * dex
    cex = dfc * ex - fdex
    z_acx[a, c, 0] = fex * g
    z_acx[a, c, 1] = fdex * g
    z_acx[a, c, 2] = cex * g
    z_acx[a, c, 3] = fex * dg
    for p in range(4):  # gamma, c, d, h: through g
        gp = ang[0, p]
        dz_acxp[a, c, 0, p] = gp * fex
        dz_acxp[a, c, 1, p] = gp * fdex
        dz_acxp[a, c, 2, p] = gp * cex
        dz_acxp[a, c, 3, p] = ang[1, p] * fex
    fg = fc * g
    dz_acxp[a, c, 0, 4] = fg * ex_l  # lambda3
    dz_acxp[a, c, 1, 4] = fg * dex_l
    dz_acxp[a, c, 2, 4] = dfc * g * ex_l - dz_acxp[a, c, 1, 4]
    dz_acxp[a, c, 3, 4] = fc * dg * ex_l
    dz_acxp[a, c, 0, 5] = fc_r * g * ex  # R, D: through f_C(r_ik)
    dz_acxp[a, c, 1, 5] = fc_r * g * dex
    dz_acxp[a, c, 2, 5] = dfc_r * g * ex - dz_acxp[a, c, 1, 5]
    dz_acxp[a, c, 3, 5] = fc_r * dg * ex
    dz_acxp[a, c, 0, 6] = fc_d * g * ex
    dz_acxp[a, c, 1, 6] = fc_d * g * dex
    dz_acxp[a, c, 2, 6] = dfc_d * g * ex - dz_acxp[a, c, 1, 6]
    dz_acxp[a, c, 3, 6] = fc_d * dg * ex


# --------------------------------------------------------------------------- the kernel


@_njit
def _triplet_pair(ra, rc, cs, q, ea, ec, fwd, bwd, ang, z_acx, dz_acxp, a, c):
    """Triplet (a, c) = (ij, ik) of entry ea when ``fwd`` and its mirror (c, a) of entry ec when
    ``bwd``, sharing g and its derivatives when the entries are equal; see _triplet_rest."""
    if fwd:
        fc, dfc, fc_r, fc_d, dfc_r, dfc_d = _cutoff_p(rc, q[ea, _BIG_R], q[ea, _BIG_D])
        g, dg = _angular_p(cs, q, ea, ang)
        _triplet_rest(ra, rc, q, ea, g, dg, ang, fc, dfc, fc_r, fc_d, dfc_r, dfc_d, z_acx,
                      dz_acxp, a, c)
    if bwd:
        if not (fwd and ec == ea):
            g, dg = _angular_p(cs, q, ec, ang)
        fc, dfc, fc_r, fc_d, dfc_r, dfc_d = _cutoff_p(ra, q[ec, _BIG_R], q[ec, _BIG_D])
        _triplet_rest(rc, ra, q, ec, g, dg, ang, fc, dfc, fc_r, fc_d, dfc_r, dfc_d, z_acx,
                      dz_acxp, c, a)


@_njit(cache=True)
def _jacobian_kernel(ptr_n, r_k, u_kc, j_k, species_n, s_n, n_sp, q, thr, reach_sp, energy,
                     forces, virial):
    # q (entries, 14) the parameters, thr (entries, 4) the bond-order switch points, reach_sp the
    # largest R + D of the entries of each centre species; energy (G, S, L), forces (G, N, 3, L),
    # virial (G, S, 6, L) per group g = s_i n_sp + s_j and local parameter, all added to.
    n_l = _NT * n_sp + 6
    p0 = _NT * n_sp  # first pair column
    n_atoms = ptr_n.shape[0] - 1
    nn_max = 1
    for i in range(n_atoms):
        nn_max = max(nn_max, ptr_n[i + 1] - ptr_n[i])
    k_a = np.empty(nn_max, np.int64)  # the atom's pairs within reach: their rows
    sj_a = np.empty(nn_max, np.int64)
    live_ac = np.zeros((nn_max, nn_max), np.bool_)  # triplet (a, c) within its cutoffs
    z_acx = np.empty((nn_max, nn_max, 4))  # z, a, c, s of triplet (a, c)
    dz_acxp = np.empty((nn_max, nn_max, 4, _NT))  # their derivatives by the entry's parameters
    ang = np.empty((2, 4))
    live_a = np.empty(nn_max, np.bool_)
    zeta_a = np.empty(nn_max)
    w_a = np.empty(nn_max)
    dzeta_al = np.empty((nn_max, n_l))
    dw_al = np.empty((nn_max, n_l))
    # d(dE/dr) of pair a and d(force on its atom j) from the triplets, per group (species of the
    # pair whose dE/dzeta carries them)
    dedr_asl = np.empty((nn_max, n_sp, n_l))
    fj_asxl = np.empty((nn_max, n_sp, 3, n_l))
    de_sl = np.empty((n_sp, n_l))  # the atom's energy, force and virial, per group
    fi_sxl = np.empty((n_sp, 3, n_l))
    vi_svl = np.empty((n_sp, 6, n_l))
    sj_ax = np.empty((nn_max, 3))  # force on pair a's atom per unit w_a, from its triplets
    for i in range(n_atoms):
        si, s = species_n[i], s_n[i]
        nn = 0
        for k in range(ptr_n[i], ptr_n[i + 1]):
            if r_k[k] < reach_sp[si]:
                k_a[nn] = k
                sj_a[nn] = species_n[j_k[k]]
                nn += 1
        if nn == 0:
            continue
        # --- 1. triplets and mirrors: z, a, c, s and their derivatives; zeta and dzeta
        for a in range(nn):
            e2 = (si * n_sp + sj_a[a]) * n_sp + sj_a[a]
            live_a[a] = r_k[k_a[a]] < q[e2, _BIG_R] + q[e2, _BIG_D]
            zeta_a[a] = 0.0
            for lp in range(n_l):
                dzeta_al[a, lp] = 0.0
        for a in range(nn):
            ka = k_a[a]
            ra = r_k[ka]
            for c in range(a + 1, nn):
                kc = k_a[c]
                rc = r_k[kc]
                ea = (si * n_sp + sj_a[a]) * n_sp + sj_a[c]
                ec = (si * n_sp + sj_a[c]) * n_sp + sj_a[a]
                fwd = live_a[a] and rc < q[ea, _BIG_R] + q[ea, _BIG_D]
                bwd = live_a[c] and ra < q[ec, _BIG_R] + q[ec, _BIG_D]
                live_ac[a, c], live_ac[c, a] = fwd, bwd
                if not (fwd or bwd):
                    continue
                cs = u_kc[ka, 0] * u_kc[kc, 0] + u_kc[ka, 1] * u_kc[kc, 1] + u_kc[ka, 2] * u_kc[kc, 2]
                _triplet_pair(ra, rc, cs, q, ea, ec, fwd, bwd, ang, z_acx, dz_acxp, a, c)
                if fwd:
                    zeta_a[a] += z_acx[a, c, 0]
                    o = _NT * sj_a[c]
                    for p in range(_NT):
                        dzeta_al[a, o + p] += dz_acxp[a, c, 0, p]
                if bwd:
                    zeta_a[c] += z_acx[c, a, 0]
                    o = _NT * sj_a[a]
                    for p in range(_NT):
                        dzeta_al[c, o + p] += dz_acxp[c, a, 0, p]
        # --- 2. pairs: e, u, w and their derivatives, directly and through zeta
        de_sl[:] = 0.0
        fi_sxl[:] = 0.0
        vi_svl[:] = 0.0
        dedr_asl[:nn] = 0.0
        fj_asxl[:nn] = 0.0
        for a in range(nn):
            w_a[a] = 0.0
            if not live_a[a]:
                for lp in range(n_l):
                    dw_al[a, lp] = 0.0
                continue
            sj = sj_a[a]
            e2 = (si * n_sp + sj) * n_sp + sj
            r = r_k[k_a[a]]
            fc, dfc, fc_r, fc_d, dfc_r, dfc_d = _cutoff_p(r, q[e2, _BIG_R], q[e2, _BIG_D])
            lam1, lam2 = q[e2, _LAM1], q[e2, _LAM2]
            ex1 = math.exp(-lam1 * r)
            fr = q[e2, _BIG_A] * ex1
            dfr = -lam1 * fr
            ex2 = math.exp(-lam2 * r)
            fa = -q[e2, _BIG_B] * ex2
            dfa = -lam2 * fa
            bo, b_z, b_zz, b_b, b_zb, b_n, b_zn = _bond_order_p(
                zeta_a[a], q[e2, _BETA], q[e2, _N], thr[e2, 0], thr[e2, 1], thr[e2, 2], thr[e2, 3])
            v = fr + bo * fa
            dv = dfr + bo * dfa
            hfc, hdfc = 0.5 * fc, 0.5 * dfc
            hfa = hfc * fa
            dfa_fc = hdfc * fa + hfc * dfa  # d(1/2 f_C f_A)/dr
            w = hfa * b_z
            u_z, w_z = dfa_fc * b_z, hfa * b_zz  # du/dzeta, dw/dzeta
            w_a[a] = w
            for lp in range(n_l):
                dz = dzeta_al[a, lp]
                de_sl[sj, lp] += w * dz
                dedr_asl[a, sj, lp] += u_z * dz
                dw_al[a, lp] = w_z * dz
            o = _NT * sj + 5  # R, D of (i, j, j): f_C(r_ij)
            de_sl[sj, o] += 0.5 * fc_r * v
            de_sl[sj, o + 1] += 0.5 * fc_d * v
            dedr_asl[a, sj, o] += 0.5 * (dfc_r * v + fc_r * dv)
            dedr_asl[a, sj, o + 1] += 0.5 * (dfc_d * v + fc_d * dv)
            dw_al[a, o] += 0.5 * fc_r * fa * b_z
            dw_al[a, o + 1] += 0.5 * fc_d * fa * b_z
            de_sl[sj, p0] += hfa * b_n  # n
            dedr_asl[a, sj, p0] += b_n * dfa_fc
            dw_al[a, p0] += hfa * b_zn
            de_sl[sj, p0 + 1] += hfa * b_b  # beta
            dedr_asl[a, sj, p0 + 1] += b_b * dfa_fc
            dw_al[a, p0 + 1] += hfa * b_zb
            fa_l, dfa_l = -r * fa, fa * (lam2 * r - 1.0)  # lambda2
            de_sl[sj, p0 + 2] += hfc * bo * fa_l
            dedr_asl[a, sj, p0 + 2] += bo * (hdfc * fa_l + hfc * dfa_l)
            dw_al[a, p0 + 2] += hfc * fa_l * b_z
            fa_b, dfa_b = -ex2, lam2 * ex2  # B
            de_sl[sj, p0 + 3] += hfc * bo * fa_b
            dedr_asl[a, sj, p0 + 3] += bo * (hdfc * fa_b + hfc * dfa_b)
            dw_al[a, p0 + 3] += hfc * fa_b * b_z
            fr_l, dfr_l = -r * fr, fr * (lam1 * r - 1.0)  # lambda1
            de_sl[sj, p0 + 4] += hfc * fr_l
            dedr_asl[a, sj, p0 + 4] += hdfc * fr_l + hfc * dfr_l
            de_sl[sj, p0 + 5] += hfc * ex1  # A
            dedr_asl[a, sj, p0 + 5] += hdfc * ex1 + hfc * -lam1 * ex1
        # --- 3. triplet and mirror. The part through dw of a triplet (a, c) is dw_a times the
        # triplet's force on each atom per unit w_a: on pair c's atom added per triplet (3 L),
        # on pair a's atom summed over c first into sj_ax[a] and multiplied once per pair
        # (each force -(dz/dr) u - (dz/dcos) dcos/dd); the part w_a d(a, c, s) has the 7
        # columns of the third species only
        for a in range(nn):
            sj_ax[a, 0], sj_ax[a, 1], sj_ax[a, 2] = 0.0, 0.0, 0.0
        for a in range(nn):
            ka = k_a[a]
            ga = sj_a[a]
            ux, uy, uz = u_kc[ka, 0], u_kc[ka, 1], u_kc[ka, 2]
            inv_ra = 1.0 / r_k[ka]
            for c in range(a + 1, nn):
                fwd, bwd = live_ac[a, c], live_ac[c, a]
                if not (fwd or bwd):
                    continue
                kc = k_a[c]
                gc = sj_a[c]
                vx, vy, vz = u_kc[kc, 0], u_kc[kc, 1], u_kc[kc, 2]
                cs = ux * vx + uy * vy + uz * vz
                inv_rc = 1.0 / r_k[kc]
                # dcos/dd_ij and dcos/dd_ik
                gjx, gjy, gjz = (vx - cs * ux) * inv_ra, (vy - cs * uy) * inv_ra, (vz - cs * uz) * inv_ra
                gkx, gky, gkz = (ux - cs * vx) * inv_rc, (uy - cs * vy) * inv_rc, (uz - cs * vz) * inv_rc
                if fwd:  # triplet (a, c): its group is pair a's
                    _triplet_forces(a, c, ga, _NT * gc, w_a[a], dw_al, z_acx, dz_acxp, n_l,
                                    ux, uy, uz, gjx, gjy, gjz, vx, vy, vz, gkx, gky, gkz,
                                    sj_ax, fj_asxl)
                if bwd:  # the mirror (c, a): pair c's group
                    _triplet_forces(c, a, gc, _NT * ga, w_a[c], dw_al, z_acx, dz_acxp, n_l,
                                    vx, vy, vz, gkx, gky, gkz, ux, uy, uz, gjx, gjy, gjz,
                                    sj_ax, fj_asxl)
        # --- each pair: the force on j (the triplets' and -d(dE/dr) u), the opposite on the
        # centre, the virial -r u (x) F_j
        for a in range(nn):
            ka = k_a[a]
            ja = j_k[ka]
            r = r_k[ka]
            ux, uy, uz = u_kc[ka, 0], u_kc[ka, 1], u_kc[ka, 2]
            rx, ry, rz = r * ux, r * uy, r * uz
            ga = sj_a[a]
            tx, ty, tz = sj_ax[a, 0], sj_ax[a, 1], sj_ax[a, 2]
            for lp in range(n_l):  # its own triplets' part through dw
                dwl = dw_al[a, lp]
                fj_asxl[a, ga, 0, lp] += dwl * tx
                fj_asxl[a, ga, 1, lp] += dwl * ty
                fj_asxl[a, ga, 2, lp] += dwl * tz
            for sg in range(n_sp):
                g = si * n_sp + sg
                for lp in range(n_l):
                    d = dedr_asl[a, sg, lp]
                    fx = fj_asxl[a, sg, 0, lp] - d * ux
                    fy = fj_asxl[a, sg, 1, lp] - d * uy
                    fz = fj_asxl[a, sg, 2, lp] - d * uz
                    forces[g, ja, 0, lp] += fx
                    forces[g, ja, 1, lp] += fy
                    forces[g, ja, 2, lp] += fz
                    fi_sxl[sg, 0, lp] -= fx
                    fi_sxl[sg, 1, lp] -= fy
                    fi_sxl[sg, 2, lp] -= fz
                    vi_svl[sg, 0, lp] -= rx * fx
                    vi_svl[sg, 1, lp] -= ry * fy
                    vi_svl[sg, 2, lp] -= rz * fz
                    vi_svl[sg, 3, lp] -= ry * fz
                    vi_svl[sg, 4, lp] -= rx * fz
                    vi_svl[sg, 5, lp] -= rx * fy
        for sg in range(n_sp):
            g = si * n_sp + sg
            for lp in range(n_l):
                energy[g, s, lp] += de_sl[sg, lp]
                for x in range(3):
                    forces[g, i, x, lp] += fi_sxl[sg, x, lp]
                for v in range(6):
                    virial[g, s, v, lp] += vi_svl[sg, v, lp]


@_njit(inline="always")
def _triplet_forces(a, c, g, o, w, dw_al, z_acx, dz_acxp, n_l, ux, uy, uz, gjx, gjy, gjz, vx, vy,
                    vz, gkx, gky, gkz, sj_ax, fj_asxl):
    """Triplet (a, c) of pair a's group g (o: the first local column of its third species; w:
    dE/dzeta of pair a; u, v the unit vectors of pairs a, c and gj, gk dcos/dd along them): its
    force on pair a's atom per unit w into sj_ax[a], dw_a times its force on pair c's atom and w
    times the derivatives of both forces by the triplet's own parameters into fj_asxl[., g]."""
    ra_, rc_, sc = z_acx[a, c, 1], z_acx[a, c, 2], z_acx[a, c, 3]
    sj_ax[a, 0] -= ra_ * ux + sc * gjx
    sj_ax[a, 1] -= ra_ * uy + sc * gjy
    sj_ax[a, 2] -= ra_ * uz + sc * gjz
    kx, ky, kz = -(rc_ * vx + sc * gkx), -(rc_ * vy + sc * gky), -(rc_ * vz + sc * gkz)
    for lp in range(n_l):
        dwl = dw_al[a, lp]
        fj_asxl[c, g, 0, lp] += dwl * kx
        fj_asxl[c, g, 1, lp] += dwl * ky
        fj_asxl[c, g, 2, lp] += dwl * kz
    for p in range(_NT):
        da, dc, ds = w * dz_acxp[a, c, 1, p], w * dz_acxp[a, c, 2, p], w * dz_acxp[a, c, 3, p]
        fj_asxl[a, g, 0, o + p] -= da * ux + ds * gjx
        fj_asxl[a, g, 1, o + p] -= da * uy + ds * gjy
        fj_asxl[a, g, 2, o + p] -= da * uz + ds * gjz
        fj_asxl[c, g, 0, o + p] -= dc * vx + ds * gkx
        fj_asxl[c, g, 1, o + p] -= dc * vy + ds * gky
        fj_asxl[c, g, 2, o + p] -= dc * vz + ds * gkz


# --------------------------------------------------------------------------- the driver


def global_rows(n_species: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, groups, locals): the full-vector row (entry * 14 + column) of every local parameter
    of every group, with its group and local index."""
    rows, groups, locs = [], [], []
    for a in range(n_species):
        for b in range(n_species):
            g = a * n_species + b
            for k in range(n_species):
                e = (g * n_species + k) * 14
                for p, col in enumerate(TRIPLET_COLUMNS):
                    rows.append(e + col)
                    groups.append(g)
                    locs.append(_NT * k + p)
            e = (g * n_species + b) * 14
            for p, col in enumerate(PAIR_COLUMNS):
                rows.append(e + col)
                groups.append(g)
                locs.append(_NT * n_species + p)
    return np.array(rows), np.array(groups), np.array(locs)


def _zeros(work: dict[str, np.ndarray] | None, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A zeroed array of ``shape`` on a buffer kept in ``work`` between calls (a fresh large
    array costs a page fault per 4 kB on every call); a new one without ``work``."""
    size = math.prod(shape)
    buf = None if work is None else work.get(name)
    if buf is None or buf.size < size:
        buf = np.empty(size)
        if work is not None:
            work[name] = buf
    out = buf[:size].reshape(shape)
    out.fill(0.0)
    return out


def fused_parameter_derivatives(geo: KernelGeometry, par: np.ndarray, thresholds: np.ndarray,
                                n_species: int, n_structures: int,
                                work: dict[str, np.ndarray] | None = None,
                                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """d(energy)/dθ (n_params, S) eV, d(forces)/dθ (n_params, 3N) eV/Å and d(virial)/dθ
    (n_params, S, 6) eV, per unit of each parameter, at one vector: ``par`` (entries, 14),
    ``thresholds`` (entries, 4) its bond-order switch points c1..c4. Rows of m and of the pair
    parameters of entries (i, j, k), j != k, are zero. ``work`` (the table's work arrays) keeps
    the kernel's per-group outputs between calls."""
    n_g, n_l = n_species * n_species, local_width(n_species)
    n_atoms = len(geo.s_n)
    par = np.ascontiguousarray(par, dtype=float)
    reach = par[:, _BIG_R] + par[:, _BIG_D]
    reach_sp = np.array([reach[a * n_species * n_species : (a + 1) * n_species * n_species].max()
                         for a in range(n_species)])
    energy = _zeros(work, "jacobian_energy", (n_g, n_structures, n_l))
    forces = _zeros(work, "jacobian_forces", (n_g, n_atoms, 3, n_l))
    virial = _zeros(work, "jacobian_virial", (n_g, n_structures, 6, n_l))
    _jacobian_kernel(geo.ptr_n, geo.r_k, geo.u_kc, geo.j_k, geo.species_n, geo.s_n, n_species,
                     par, np.ascontiguousarray(thresholds, dtype=float), reach_sp, energy, forces,
                     virial)
    n_par = par.size
    rows, groups, locs = global_rows(n_species)
    row_gl = np.full((n_g, n_l), -1)
    row_gl[groups, locs] = rows
    d_energy = np.zeros((n_par, n_structures))
    d_forces = np.zeros((n_par, 3 * n_atoms))
    d_virial = np.zeros((n_par, n_structures, 6))
    _to_rows(energy, row_gl, d_energy)
    _to_rows(forces.reshape(n_g, 3 * n_atoms, n_l), row_gl, d_forces)
    _to_rows(virial.reshape(n_g, 6 * n_structures, n_l), row_gl, d_virial.reshape(n_par, -1))
    return d_energy, d_forces, d_virial


@_njit(cache=True)
def _to_rows(src_gml, row_gl, out_rm):
    # src (G, M, L) per group and local parameter into out (rows, M) at row_gl[g, l] (-1: none):
    # a transposition that reads each (M, L) block once, in order (numpy's gather of
    # src[groups, :, locs] reads it once per row, with stride L)
    n_g, n_m, n_l = src_gml.shape
    for g in range(n_g):
        for m in range(n_m):
            for lp in range(n_l):
                r = row_gl[g, lp]
                if r >= 0:
                    out_rm[r, m] = src_gml[g, m, lp]
