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
bond-order term, so :mod:`gafit.forms.tersoff.zbl_evaluate` runs its own loop over the Tersoff
tables with the physical functions of :mod:`gafit.forms.tersoff.evaluate`; its analytic parameter
derivatives are :mod:`gafit.forms.tersoff.zbl_derivatives`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from gafit.forms.base import ParamSpec, Prediction
from gafit.forms.tersoff import Tersoff
from gafit.forms.tersoff.table import TersoffTable, build_table
from gafit.forms.tersoff.zbl_derivatives import tersoff_zbl_parameter_derivatives
from gafit.forms.tersoff.zbl_evaluate import (
    Z_I,
    Z_J,
    ZBL_CUT,
    ZBL_SCALE,
    evaluate_zbl,
    pair_terms,
)
from gafit.forms.zbl import atomic_number
from gafit.structures import ReferenceSet


@dataclass
class TersoffZBLTable(TersoffTable):
    """Tersoff's tables; :func:`evaluate_zbl` keeps whole per-pair and per-triplet arrays per
    individual (about 5 per triplet and 6 per pair, and up to 10 and 20 more for one entry's rows
    at a time), so a batch is cut into smaller chunks than plain Tersoff's."""

    @property
    def work_per_individual(self) -> int:
        return 15 * len(self.cos_t) + 26 * len(self.r_p)


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

    def _dimer_share(self, r: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """1/2 of :func:`pair_terms` (zeta = 0, so b = 1), for :mod:`gafit.walls`."""
        de, dg, _ = pair_terms(r, lambda k: row[:, k, None], np.zeros((len(row), r.shape[1])))
        return 0.5 * de, 0.5 * dg

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
        return tersoff_zbl_parameter_derivatives(self, theta, tables)
