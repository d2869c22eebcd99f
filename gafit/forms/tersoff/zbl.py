"""Tersoff with ZBL at short range, exactly LAMMPS ``pair_style tersoff/zbl``.

Each entry has the 14 Tersoff parameters and 4 more, in LAMMPS file order: ``Z_i Z_j ZBLcut
ZBLexpscale`` (nuclear charges, and the centre (Å) and steepness (1/Å) of the Fermi switch
F(r) = 1 / (1 + exp(-ZBLexpscale (r - ZBLcut)))). For an ordered pair i->j with r < R + D of its
entry (i, j, j), LAMMPS replaces

    repulsion   f_C f_R                  by   (1 - F) V_ZBL + F f_C f_R
    attraction  f_C b_ij f_A             by   F f_C b_ij f_A

so the switch also scales the bond-order term (LAMMPS's ``ters_fa``), and V_ZBL is not multiplied
by f_C (it stops at R + D). zeta and the angular terms are Tersoff's. V_ZBL is the screened Coulomb
energy of :func:`gafit.forms.zbl.zbl_raw` with the constants ``tersoff/zbl`` hard-wires
(:data:`TERSOFF_ZBL`: rounded coefficients, a = 0.8854 a_0 / (Z_i^0.23 + Z_j^0.23) with
a_0 = 0.529 Å, e²/(4πε₀) from ε₀ = 0.00552635 e²/(eV Å)), which differ from ``pair_style zbl``'s
in the fourth digit.

Z_i, Z_j, ZBLcut and ZBLexpscale are read, like A and lambda1, from the pair entry (i, j, j) only;
ZBLcut and ZBLexpscale are fitted like any parameter (Z_i, Z_j are fixed). The switch changes the
bond-order term, so the evaluation here runs its own loop over the Tersoff tables with the
physical functions of :mod:`gafit.forms.tersoff.evaluate`; its analytic parameter derivatives are
:mod:`gafit.forms.tersoff.zbl_derivatives`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from gafit.forms.base import ParamSpec, Prediction
from gafit.forms.tersoff import Tersoff
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
    angular_g,
    attraction_fa,
    bond_order,
    cutoff_fc,
    radial_exp,
    repulsion_fr,
)
from gafit.forms.tersoff.table import TersoffTable, build_table
from gafit.forms.zbl import Screening, atomic_number, zbl_raw
from gafit.structures import GafitInputError, ReferenceSet

# the columns after Tersoff's 14
Z_I, Z_J, ZBL_CUT, ZBL_SCALE = range(14, 18)

#: the ZBL constants of LAMMPS's pair_tersoff_zbl.cpp (metal units)
_A0 = 0.529  # Bohr radius, Å
_EPS0 = 0.00552635  # e² / (eV Å)
TERSOFF_ZBL = Screening(c_k=np.array([0.1818, 0.5099, 0.2802, 0.02817]),
                        d_k=np.array([3.2, 0.9423, 0.4029, 0.2016]),
                        length=0.8854 * _A0, qqr2e=1.0 / (4.0 * np.pi * _EPS0))


@dataclass
class TersoffZBLTable(TersoffTable):
    """Tersoff's tables; :func:`evaluate_zbl` keeps whole per-pair and per-triplet arrays per
    individual (about 5 per triplet and 6 per pair, and up to 10 and 20 more for one entry's rows
    at a time), so a batch is cut into smaller chunks than plain Tersoff's."""

    @property
    def work_per_individual(self) -> int:
        return 15 * len(self.cos_t) + 26 * len(self.r_p)


def fermi_switch(r: np.ndarray, cut: np.ndarray, scale: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """F = 1 / (1 + exp(-scale (r - cut))) and dF/dr (1/Å), as LAMMPS writes them."""
    ex = np.exp(-scale * (r - cut))
    return 1.0 / (1.0 + ex), scale * ex / (1.0 + ex) ** 2


class TersoffZBL(Tersoff):
    """LAMMPS ``pair_style tersoff/zbl``: 18 parameters per ordered species triplet."""

    name = "tersoff_zbl"
    lammps_style = "tersoff/zbl"
    parameter_file_suffix = ".tersoff.zbl"
    params = Tersoff.params + (
        ParamSpec("Z_i", "e", (1.0, 118.0), 14.0, "nuclear charge of the centre (ZBL)",
                  lower_limit=1.0, fittable=False),
        ParamSpec("Z_j", "e", (1.0, 118.0), 14.0, "nuclear charge of the neighbour (ZBL)",
                  lower_limit=1.0, fittable=False),
        ParamSpec("ZBLcut", "Å", (0.5, 2.0), 0.95, "centre of the Fermi switch to ZBL",
                  lower_limit=0.0),
        ParamSpec("ZBLexpscale", "1/Å", (2.0, 30.0), 14.0, "steepness of the Fermi switch",
                  lower_limit=0.0),
    )
    pair_columns = Tersoff.pair_columns + (Z_I, Z_J, ZBL_CUT, ZBL_SCALE)
    symmetric_columns = Tersoff.symmetric_columns + (ZBL_CUT, ZBL_SCALE)
    units_comment = (Tersoff.units_comment + " Z_i, Z_j in e; ZBLcut in Angstrom; ZBLexpscale "
                     "in 1/Angstrom.")

    def default_values(self) -> np.ndarray:
        """The declared defaults, with Z_i, Z_j the atomic numbers of each entry's species (their
        element symbols; ``Si(D)`` counts as Si)."""
        v = super().default_values().reshape(len(self.entries()), len(self.params))
        z = [atomic_number(s) for s in self.species]
        for e, (a, b, _) in enumerate(self.entries()):
            v[e, Z_I], v[e, Z_J] = z[self.species.index(a)], z[self.species.index(b)]
        return v.ravel()

    @classmethod
    def example(cls, species: list[str]) -> tuple[TersoffZBL, np.ndarray]:
        """Tersoff's silicon defaults with the species' nuclear charges and a switch at 2 Å,
        4/Å wide, so that neighbours at 2.2-3 Å feel both parts."""
        form, values = super().example(species)
        v = values.reshape(len(form.entries()), len(form.params))
        v[:, ZBL_CUT], v[:, ZBL_SCALE] = 2.0, 4.0
        return form, v.ravel()  # type: ignore[return-value]

    @classmethod
    def lammps_rejects(cls, row: np.ndarray) -> list[str]:
        """Tersoff's rules, and Z >= 1, ZBLcut >= 0, ZBLexpscale >= 0."""
        out = super().lammps_rejects(row)
        out += [f"{cls.params[k].name} = {row[k]:g} < 1" for k in (Z_I, Z_J) if row[k] < 1.0]
        out += [f"{cls.params[k].name} = {row[k]:g} < 0" for k in (ZBL_CUT, ZBL_SCALE)
                if row[k] < 0.0]
        return out

    def check(self, values: np.ndarray) -> list[str]:
        """Tersoff's problems, and Z of (j, i, i) not those of (i, j, j) swapped (LAMMPS's ZBL then
        depends on atom order)."""
        out = super().check(values)
        v = np.asarray(values, float).reshape(len(self.entries()), len(self.params))
        n = len(self.species)
        for a in range(n):
            for b in range(a + 1, n):
                e1, e2 = self.entry_index(a, b, b), self.entry_index(b, a, a)
                if sorted(v[e1, [Z_I, Z_J]]) != sorted(v[e2, [Z_I, Z_J]]):
                    s1, s2 = "-".join(self.entries()[e1]), "-".join(self.entries()[e2])
                    out.append(f"{s1}.Z_i, Z_j = {v[e1, Z_I]:g}, {v[e1, Z_J]:g} are not "
                               f"{s2}.Z_j, Z_i = {v[e2, Z_J]:g}, {v[e2, Z_I]:g}")
        return out

    def repair(self, theta: np.ndarray) -> np.ndarray:
        """Tersoff's repair, then Z_i, Z_j of (j, i, i) set to Z_j, Z_i of (i, j, j) (i before j in
        the species list). In place (also returned)."""
        theta = super().repair(theta)
        v = theta.reshape(theta.shape[0], len(self.entries()), len(self.params))
        n = len(self.species)
        for a in range(n):
            for b in range(a + 1, n):
                e1, e2 = self.entry_index(a, b, b), self.entry_index(b, a, a)
                v[:, e2, Z_I], v[:, e2, Z_J] = v[:, e1, Z_J], v[:, e1, Z_I]
        if not np.shares_memory(v, theta):
            theta[...] = v.reshape(theta.shape)
        return theta

    def dimer_energy(self, values: np.ndarray, a: int, b: int
                     ) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """E(r) and dE/dr (B, K), eV and eV/Å, of an isolated a-b dimer for parameter vectors
        ``values`` (B, n_params), for :mod:`gafit.walls`: zeta = 0, so b = 1, and 1/2 of
        :func:`pair_terms` from entry (a, b, b) plus the same from (b, a, a)."""
        v = np.asarray(values, float).reshape(len(values), len(self.entries()), len(self.params))
        rows = [v[:, self.entry_index(a, b, b)], v[:, self.entry_index(b, a, a)]]

        def energy(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            r = np.asarray(r, float)[None, :]
            e = np.zeros((len(v), r.shape[1]))
            g = np.zeros_like(e)
            for row in rows:
                de, dg, _ = pair_terms(r, lambda k, row=row: row[:, k, None], np.zeros_like(e))
                e += 0.5 * de
                g += 0.5 * dg
            return e, g

        return energy

    # --- evaluation ---------------------------------------------------------------------------
    def build_tables(self, refset: ReferenceSet) -> TersoffZBLTable:
        """Tersoff's tables (:func:`gafit.forms.tersoff.table.build_table`), counted with the work
        arrays of :func:`evaluate_zbl`."""
        tab = build_table(self, refset)
        return TersoffZBLTable(**{f.name: getattr(tab, f.name) for f in fields(tab)})

    def evaluate(self, theta: np.ndarray, tables: TersoffTable) -> Prediction:
        """Energies, forces, virials for a batch (B, n_params) (:func:`evaluate_zbl`)."""
        return evaluate_zbl(self, theta, tables)

    def parameter_derivatives(self, theta: np.ndarray, tables: TersoffTable) -> Prediction:
        """Analytic d(energy, forces, virial)/d(parameter) at one vector ``theta`` (n_params,)
        (:mod:`gafit.forms.tersoff.zbl_derivatives`)."""
        from gafit.forms.tersoff.zbl_derivatives import tersoff_zbl_parameter_derivatives

        return tersoff_zbl_parameter_derivatives(self, theta, tables)


def pair_terms(r: np.ndarray, col: Callable[[int], np.ndarray], zeta: np.ndarray,
               fc_dfc: tuple[np.ndarray, np.ndarray] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of ordered pairs at r (Å) with the parameters ``col(k)`` of their entry (i, j, j) (arrays
    that broadcast with r) and bond-order argument ``zeta``: (1 - F) V_ZBL + F f_C (f_R + b f_A)
    (eV), its r-derivative at fixed zeta (eV/Å) and F f_C f_A db/dzeta (eV), all 0 from R + D on
    (LAMMPS skips those pairs). ``fc_dfc``: f_C and df_C/dr when already known."""
    fc, dfc = cutoff_fc(r.copy(), col(BIG_R), col(BIG_D)) if fc_dfc is None else fc_dfc
    inside = r < col(BIG_R) + col(BIG_D)
    sw, dsw = fermi_switch(r, col(ZBL_CUT), col(ZBL_SCALE))
    vz, dvz, _ = zbl_raw(r, col(Z_I), col(Z_J), TERSOFF_ZBL)
    fr, dfr = repulsion_fr(r, col(BIG_A), col(LAM1))
    fa, dfa = attraction_fa(r, col(BIG_B), col(LAM2))
    bo, dbo = bond_order(zeta, col(BETA), col(N))
    rep = (1.0 - sw) * vz + sw * fc * fr
    drep = -dsw * vz + (1.0 - sw) * dvz + dsw * fc * fr + sw * (dfc * fr + fc * dfr)
    att = sw * fc * fa  # LAMMPS's ters_fa of tersoff/zbl
    datt = dsw * fc * fa + sw * (dfc * fa + fc * dfa)
    return (np.where(inside, rep + att * bo, 0.0), np.where(inside, drep + datt * bo, 0.0),
            np.where(inside, att * dbo, 0.0))


def evaluate_zbl(form: TersoffZBL, theta: np.ndarray, tab: TersoffTable) -> Prediction:
    """Energies (B, S), forces (B, 3N) and virials (B, S, 6) of a batch (B, n_params).

    Per ordered pair p = i->j (parameters of (i, j, j)), with f_C, F and r < R + D:
    e_p = 1/2 [(1 - F) V_ZBL + F f_C f_R + F f_C f_A b(zeta_p)]; per triplet t = (ij, ik) the zeta
    term z_t = f_C(r_ik) g(cos) exp(...) with the parameters of (i, j, k). Forces and virials from
    dE/dr per pair and dE/dcos per triplet through the table's maps, dE/dzeta_p = 1/2 F f_C f_A b'.
    """
    theta = np.asarray(theta, float)
    nb = theta.shape[0]
    need = form.interaction_range(theta) if theta.size else 0.0
    if need > tab.cutoff:
        raise GafitInputError(f"tersoff_zbl: parameters need a neighbour cutoff of {need:g} Å "
                              f"(max R + D) but the tables were built with {tab.cutoff:g} Å")
    par = theta.reshape(nb, len(form.entries()), len(form.params))
    n_p, n_t = len(tab.r_p), len(tab.cos_t)

    # f_C(r_ij) of every pair with the R, D of (i, j, j)
    fc_pb, dfc_pb = np.zeros((n_p, nb)), np.zeros((n_p, nb))
    for e, s0, s1 in tab.pair_slices:
        q = par[:, e]
        fc_pb[s0:s1], dfc_pb[s0:s1] = cutoff_fc(tab.r_p[s0:s1, None], q[:, BIG_R], q[:, BIG_D])

    # zeta terms per triplet and their derivatives by r_ij, r_ik, cos
    z_tb = np.zeros((n_t, nb))
    rad_qb = np.zeros((2 * n_t, nb))  # [dz/dr_ij ; dz/dr_ik]
    dcos_tb = np.zeros((n_t, nb))
    for e, s0, s1 in tab.trip_slices:
        q = par[:, e]
        fc, dfc = cutoff_fc(tab.rik_t[s0:s1, None], q[:, BIG_R], q[:, BIG_D])
        g, dg = angular_g(tab.cos_t[s0:s1, None], q[:, GAMMA], q[:, C], q[:, SMALL_D], q[:, H])
        ex, dex = radial_exp(tab.dr_t[s0:s1, None], q[:, LAM3], q[:, M])
        z_tb[s0:s1] = fc * g * ex
        rad_qb[s0:s1] = fc * g * dex
        rad_qb[n_t + s0 : n_t + s1] = dfc * g * ex - fc * g * dex
        dcos_tb[s0:s1] = fc * dg * ex
    zeta_pb = tab.zeta_pt @ z_tb

    # pairs: energies, dE/dr at fixed zeta, dE/dzeta
    e_pb, dedr_pb, w_pb = np.zeros((n_p, nb)), np.zeros((n_p, nb)), np.zeros((n_p, nb))
    for e, s0, s1 in tab.pair_slices:
        q = par[:, e]
        e_pb[s0:s1], dedr_pb[s0:s1], w_pb[s0:s1] = pair_terms(
            tab.r_p[s0:s1, None], lambda k, q=q: q[:, k], zeta_pb[s0:s1],
            (fc_pb[s0:s1], dfc_pb[s0:s1]))
    e_pb *= 0.5
    dedr_pb *= 0.5
    w_pb *= 0.5

    # chain rule through zeta, then scatter to energies, forces and virials
    w_tb = w_pb[tab.p_t]
    rad_qb[:n_t] *= w_tb
    rad_qb[n_t:] *= w_tb
    dcos_tb *= w_tb
    dedr_pb += tab.radial_pq @ rad_qb
    fw = tab.deriv_xq @ np.concatenate([dedr_pb, dcos_tb])
    n3 = 3 * tab.n_atoms
    return Prediction(energy=np.ascontiguousarray((tab.energy_sp @ e_pb).T),
                      forces=np.ascontiguousarray(fw[:n3].T),
                      virial=np.ascontiguousarray(fw[n3:].T).reshape(nb, tab.n_structures, 6))
