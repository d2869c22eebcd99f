"""Analytic derivatives of ``tersoff/zbl`` energies, forces and virials with respect to its
parameters (:mod:`gafit.forms.tersoff.zbl`), in forward (tangent) mode.

The quantities are those of :func:`gafit.forms.tersoff.zbl.evaluate_zbl`: per ordered pair p = i->j
(parameters of (i, j, j)), with the Fermi switch F, f_C, f_R, f_A, V_ZBL and b(zeta_p),

    e_p = 1/2 [(1 - F) V + F f_C f_R + F f_C f_A b]       (eV)
    u_p = d e_p / dr at fixed zeta                          (eV/Å)
    w_p = 1/2 F f_C f_A db/dzeta                            (eV, dE/dzeta_p)

and per triplet t = (ij, ik) (parameters of (i, j, k)) the zeta term z_t = f_C(r_ik) g(cos) exp_t
with its derivatives a_t, c_t, s_t by r_ij, r_ik and cos. dE/dr_p = u_p + sum_{p_t = p} w_p a_t +
sum_{q_t = p} w_{p_t} c_t and dE/dcos_t = w_{p_t} s_t, mapped to energies, forces and virials by the
table's linear maps, so the derivative by a parameter is those maps applied to the tangents of e, u,
w, a, c, s. A parameter of entry (i, j, k) moves the zeta terms of that entry's triplets (gamma, c,
d, h, lambda3 and the R, D of f_C(r_ik)), hence zeta of the pairs of (i, j, j); a parameter of a pair
entry (i, j, j) also moves e, u, w of its pairs directly (R, D, A, lambda1, B, lambda2, beta, n,
ZBLcut, ZBLexpscale). The physical functions' parameter derivatives are those of
:mod:`gafit.forms.tersoff.derivatives`. Rows of parameters that are not fitted (m, Z_i, Z_j) or that
LAMMPS never reads are zero.

One pass over the pairs and triplets per parameter: about the cost of one evaluation each (the
same as forward differences), but exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gafit.forms.base import Prediction
from gafit.forms.tersoff.derivatives import (
    angular_params,
    attraction_params,
    bond_order_params,
    cutoff_fc_params,
    radial_params,
    repulsion_params,
)
from gafit.forms.tersoff.evaluate import (
    BETA,
    BIG_A,
    BIG_B,
    BIG_D,
    BIG_R,
    GAMMA,
    LAM1,
    LAM2,
    LAM3,
    SMALL_D,
    C,
    H,
    M,
    N,
)
from gafit.forms.tersoff.table import TersoffTable
from gafit.forms.tersoff.zbl_evaluate import (
    TERSOFF_ZBL,
    Z_I,
    Z_J,
    ZBL_CUT,
    ZBL_SCALE,
    fermi_switch,
)
from gafit.forms.zbl import zbl_raw
from gafit.structures import GafitInputError

#: columns that move the zeta terms of their own entry's triplets
TRIPLET_COLUMNS = (GAMMA, C, SMALL_D, H, LAM3, BIG_R, BIG_D)
#: parameter columns per chunk of derivative rows (the work arrays are (pairs + triplets) x chunk)
CHUNK = 16


@dataclass
class _State:
    """The pair and triplet quantities at one parameter vector, and their parameter derivatives."""

    pair: dict[str, np.ndarray]  # per pair (P,)
    trip: dict[str, np.ndarray]  # per triplet (T,)


def _rows(slices: list[tuple[int, int, int]], n_rows: int) -> np.ndarray:
    ent = np.zeros(n_rows, np.int64)
    for e, s0, s1 in slices:
        ent[s0:s1] = e
    return ent


def _state(form, par: np.ndarray, tab: TersoffTable) -> _State:  # noqa: ANN001 - a TersoffZBL
    qt = par[_rows(tab.trip_slices, len(tab.cos_t))]
    fc, dfc, fc_r, fc_d, dfc_r, dfc_d = cutoff_fc_params(tab.rik_t, qt[:, BIG_R], qt[:, BIG_D])
    g, dg, g_kt, dg_kt = angular_params(tab.cos_t, qt[:, GAMMA], qt[:, C], qt[:, SMALL_D], qt[:, H])
    ex, dex, ex_l, dex_l = radial_params(tab.dr_t, qt[:, LAM3], qt[:, M])
    trip = dict(fc=fc, dfc=dfc, fc_r=fc_r, fc_d=fc_d, dfc_r=dfc_r, dfc_d=dfc_d, g=g, dg=dg,
                ex=ex, dex=dex, ex_l=ex_l, dex_l=dex_l, a=fc * g * dex,
                c=dfc * g * ex - fc * g * dex, s=fc * dg * ex)
    for k, col in enumerate((GAMMA, C, SMALL_D, H)):
        trip[f"g{col}"], trip[f"dg{col}"] = g_kt[k], dg_kt[k]
    zeta = tab.zeta_pt @ (fc * g * ex)

    qp = par[_rows(tab.pair_slices, len(tab.r_p))]
    r = tab.r_p
    fc, dfc, fc_r, fc_d, dfc_r, dfc_d = cutoff_fc_params(r, qp[:, BIG_R], qp[:, BIG_D])
    fr, dfr, fr_a, dfr_a, fr_l, dfr_l = repulsion_params(r, qp[:, BIG_A], qp[:, LAM1])
    fa, dfa, fa_b, dfa_b, fa_l, dfa_l = attraction_params(r, qp[:, BIG_B], qp[:, LAM2])
    b, b1, b2, b_beta, b1_beta, b_n, b1_n = bond_order_params(zeta, qp[:, BETA], qp[:, N])
    sw, dsw = fermi_switch(r, qp[:, ZBL_CUT], qp[:, ZBL_SCALE])
    v, dv, _ = zbl_raw(r, qp[:, Z_I], qp[:, Z_J], TERSOFF_ZBL)
    scale, cut = qp[:, ZBL_SCALE], qp[:, ZBL_CUT]
    # F = 1 / (1 + exp(-s (r - c))): dF/dr = s F (1 - F); by c: -dF/dr; by s: (r - c) F (1 - F)
    f1f = sw * (1.0 - sw)
    sw_c, sw_s = -dsw, (r - cut) * f1f
    att = sw * fc * fa
    datt = dsw * fc * fa + sw * (dfc * fa + fc * dfa)
    pair = dict(inside=(r < qp[:, BIG_R] + qp[:, BIG_D]).astype(float), fc=fc, dfc=dfc, fc_r=fc_r,
                fc_d=fc_d, dfc_r=dfc_r, dfc_d=dfc_d, fr=fr, dfr=dfr, fr_a=fr_a, dfr_a=dfr_a,
                fr_l=fr_l, dfr_l=dfr_l, fa=fa, dfa=dfa, fa_b=fa_b, dfa_b=dfa_b, fa_l=fa_l,
                dfa_l=dfa_l, b=b, b1=b1, b2=b2, b_beta=b_beta, b1_beta=b1_beta, b_n=b_n,
                b1_n=b1_n, sw=sw, dsw=dsw, sw_c=sw_c, dsw_c=scale * (1.0 - 2.0 * sw) * sw_c,
                sw_s=sw_s, dsw_s=f1f + scale * (1.0 - 2.0 * sw) * sw_s, v=v, dv=dv, att=att,
                datt=datt)
    pair["w"] = 0.5 * pair["inside"] * att * b1
    return _State(pair=pair, trip=trip)


def _triplet_tangent(t: dict[str, np.ndarray], rows: slice, col: int
                     ) -> tuple[np.ndarray, ...]:
    """Tangents of z, a, c, s on ``rows`` for parameter column ``col`` of their entry."""
    fc, dfc, g, dg, ex, dex = (t[k][rows] for k in ("fc", "dfc", "g", "dg", "ex", "dex"))
    tfc = tdfc = tg = tdg = tex = tdex = 0.0
    if col in (BIG_R, BIG_D):
        x = "r" if col == BIG_R else "d"
        tfc, tdfc = t[f"fc_{x}"][rows], t[f"dfc_{x}"][rows]
    elif col == LAM3:
        tex, tdex = t["ex_l"][rows], t["dex_l"][rows]
    else:
        tg, tdg = t[f"g{col}"][rows], t[f"dg{col}"][rows]
    tz = tfc * g * ex + fc * tg * ex + fc * g * tex
    ta = tfc * g * dex + fc * tg * dex + fc * g * tdex
    tc = tdfc * g * ex + dfc * tg * ex + dfc * g * tex - ta
    ts = tfc * dg * ex + fc * tdg * ex + fc * dg * tex
    return tz, ta, tc, ts


def _pair_tangent(p: dict[str, np.ndarray], rows: slice, col: int | None, tzeta: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tangents of e, u, w on ``rows`` for parameter column ``col`` of their pair entry (None: only
    through zeta, whose tangent is ``tzeta``)."""
    def get(name: str) -> np.ndarray:
        return p[name][rows]

    fc, dfc, fr, dfr, fa, dfa = (get(k) for k in ("fc", "dfc", "fr", "dfr", "fa", "dfa"))
    sw, dsw, v, dv, att, datt = (get(k) for k in ("sw", "dsw", "v", "dv", "att", "datt"))
    b, b1, b2 = get("b"), get("b1"), get("b2")
    zero = 0.0
    tsw = tdsw = tfc = tdfc = tfr = tdfr = tfa = tdfa = tb_x = tb1_x = zero
    if col in (BIG_R, BIG_D):
        x = "r" if col == BIG_R else "d"
        tfc, tdfc = get(f"fc_{x}"), get(f"dfc_{x}")
    elif col in (BIG_A, LAM1):
        x = "a" if col == BIG_A else "l"
        tfr, tdfr = get(f"fr_{x}"), get(f"dfr_{x}")
    elif col in (BIG_B, LAM2):
        x = "b" if col == BIG_B else "l"
        tfa, tdfa = get(f"fa_{x}"), get(f"dfa_{x}")
    elif col in (BETA, N):
        x = "beta" if col == BETA else "n"
        tb_x, tb1_x = get(f"b_{x}"), get(f"b1_{x}")
    elif col in (ZBL_CUT, ZBL_SCALE):
        x = "c" if col == ZBL_CUT else "s"
        tsw, tdsw = get(f"sw_{x}"), get(f"dsw_{x}")
    tb = b1 * tzeta + tb_x
    tb1 = b2 * tzeta + tb1_x
    trep = -tsw * v + tsw * fc * fr + sw * tfc * fr + sw * fc * tfr
    tdrep = (-tdsw * v - tsw * dv + tdsw * fc * fr + dsw * (tfc * fr + fc * tfr)
             + tsw * (dfc * fr + fc * dfr) + sw * (tdfc * fr + dfc * tfr + tfc * dfr + fc * tdfr))
    tatt = tsw * fc * fa + sw * tfc * fa + sw * fc * tfa
    tdatt = (tdsw * fc * fa + dsw * (tfc * fa + fc * tfa) + tsw * (dfc * fa + fc * dfa)
             + sw * (tdfc * fa + dfc * tfa + tfc * dfa + fc * tdfa))
    inside = 0.5 * get("inside")
    te = inside * (trep + tatt * b + att * tb)
    tu = inside * (tdrep + tdatt * b + datt * tb)
    tw = inside * (tatt * b1 + att * tb1)
    return te, tu, tw


def tersoff_zbl_parameter_derivatives(form, theta: np.ndarray, tab: TersoffTable  # noqa: ANN001
                                      ) -> Prediction:
    """d(energy, forces, virial)/d(parameter) at one vector ``theta`` (n_params,), the parameter
    index as batch axis (energy (n_params, S), forces (n_params, 3N), virial (n_params, S, 6))."""
    theta = np.asarray(theta, float)
    if form.interaction_range(theta) > tab.cutoff:
        raise GafitInputError(f"tersoff_zbl: parameters need a neighbour cutoff of "
                              f"{form.interaction_range(theta):g} Å (max R + D) but the tables "
                              f"were built with {tab.cutoff:g} Å")
    ne, npar = len(form.entries()), len(form.params)
    par = theta.reshape(ne, npar)
    st = _state(form, par, tab)
    n_p, n_t, n_sp = len(tab.r_p), len(tab.cos_t), len(form.species)
    pair_rows = {e: slice(s0, s1) for e, s0, s1 in tab.pair_slices}
    trip_rows = {e: slice(s0, s1) for e, s0, s1 in tab.trip_slices}
    pair_cols = (BIG_R, BIG_D, BIG_A, LAM1, BIG_B, LAM2, BETA, N, ZBL_CUT, ZBL_SCALE)
    unused = set(form.unused_parameters())
    names = form.parameter_names()
    fittable = form.fittable()
    w_t = st.pair["w"][tab.p_t]
    jobs = []  # (parameter index, entry, column, pair rows, triplet rows)
    for e in range(ne):
        a, b = e // (n_sp * n_sp), e // n_sp % n_sp
        pe = (a * n_sp + b) * n_sp + b  # the pair entry (i, j, j) of (i, j, k)
        for col in range(npar):
            k = e * npar + col
            if not fittable[k] or names[k] in unused:
                continue
            moves_trip = col in TRIPLET_COLUMNS and e in trip_rows
            moves_pair = e == pe and col in pair_cols and pe in pair_rows
            if (moves_trip or moves_pair) and pe in pair_rows:
                jobs.append((k, e, col, pair_rows[pe], moves_trip, moves_pair))

    n_s, n3 = tab.n_structures, 3 * tab.n_atoms
    energy = np.zeros((len(theta), n_s))
    fw = np.zeros((len(theta), n3 + 6 * n_s))
    for start in range(0, len(jobs), CHUNK):
        chunk = jobs[start : start + CHUNK]
        de_pk = np.zeros((n_p, len(chunk)))
        grad_qk = np.zeros((n_p + n_t, len(chunk)))
        for m, (_, e, col, prow, moves_trip, moves_pair) in enumerate(chunk):
            tz_t, ta_t, tc_t, ts_t = (np.zeros(n_t) for _ in range(4))
            tzeta = np.zeros(prow.stop - prow.start)
            if moves_trip:
                trow = trip_rows[e]
                tz_t[trow], ta_t[trow], tc_t[trow], ts_t[trow] = _triplet_tangent(
                    st.trip, trow, col)
                tzeta = (tab.zeta_pt @ tz_t)[prow]
            te, tu, tw = _pair_tangent(st.pair, prow, col if moves_pair else None, tzeta)
            tw_p = np.zeros(n_p)
            tw_p[prow] = tw
            de_pk[prow, m] = te
            tw_t = tw_p[tab.p_t]
            rad = np.concatenate([tw_t * st.trip["a"] + w_t * ta_t,
                                  tw_t * st.trip["c"] + w_t * tc_t])
            grad_qk[:n_p, m] = tab.radial_pq @ rad
            grad_qk[prow, m] += tu
            grad_qk[n_p:, m] = tw_t * st.trip["s"] + w_t * ts_t
        idx = [job[0] for job in chunk]
        energy[idx] = (tab.energy_sp @ de_pk).T
        fw[idx] = (tab.deriv_xq @ grad_qk).T
    return Prediction(energy=energy, forces=np.ascontiguousarray(fw[:, :n3]),
                      virial=np.ascontiguousarray(fw[:, n3:]).reshape(len(theta), n_s, 6))
