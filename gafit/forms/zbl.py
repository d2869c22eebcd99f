"""Ziegler–Biersack–Littmark screened nuclear repulsion, as LAMMPS's ``pair_style zbl inner outer``.

A term that adds to any form (``[potential] zbl = {inner = R1, outer = R2}``): the universal ZBL
pair energy of the nuclear charges Z (from the species' element symbols),

    E_ZBL(r) = Z_a Z_b e²/(4πε₀) / r · Σ_k c_k exp(-d_k r / a),  a = 0.46850 Å / (Z_a^0.23 + Z_b^0.23),

plus LAMMPS's switching polynomial: for inner < r < outer, with t = r - inner,
S(t) = A/3 t³ + B/4 t⁴, and a constant C for every r < outer, chosen so that E, dE/dr and d²E/dr²
all vanish at the outer cutoff (A, B, C from E_ZBL and its first two derivatives at ``outer``).
e²/(4πε₀) is LAMMPS's ``qqr2e`` in metal units. The constants c_k, d_k and a are ZBL's (Ziegler,
Biersack, Littmark, "The Stopping and Range of Ions in Matter", 1985), as LAMMPS uses them.

R1 and R2 are parameters per species pair (``Cu-Ni.zbl_inner``, ``Cu-Ni.zbl_outer``, Å), kept at
their values (``[potential] zbl`` gives every pair the same) unless the config gives them bounds.
The unswitched energies are computed once per structure; a fixed switch is applied once per set of
tables, a fitted one per individual, with its parameter derivatives (LAMMPS's A, B, C depend on R1
and R2 through the ZBL energy at R2). Exported as ``hybrid/overlay <the other styles> zbl R1 R2``
with ``pair_coeff I J zbl Z_I Z_J`` when every pair shares R1 and R2, else with one ``zbl R1 R2``
per distinct switching region and ``pair_coeff I J zbl M Z_I Z_J`` (M: the instance).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gafit.forms.base import Form, ParamSpec, Prediction, number
from gafit.forms.pair import PairForm, PairTable, apply_maps
from gafit.structures import GafitInputError, ReferenceSet

#: e²/(4πε₀) in eV Å, LAMMPS's qqr2e in metal units
QQR2E = 14.399645
#: the universal screening length a = A_ZBL / (Z_a^P_ZBL + Z_b^P_ZBL), Å
A_ZBL = 0.46850
P_ZBL = 0.23
#: the universal screening function Σ_k c_k exp(-d_k r / a)
C_K = np.array([0.02817, 0.28022, 0.50986, 0.18175])
D_K = np.array([0.20162, 0.40290, 0.94229, 3.19980])


@dataclass(frozen=True)
class Screening:
    """The constants of a ZBL screened Coulomb energy Z_a Z_b e²/(4πε₀) / r · Σ_k c_k exp(-d_k r/a),
    a = length / (Z_a^0.23 + Z_b^0.23): LAMMPS's ``zbl`` and ``tersoff/zbl`` round them differently."""

    c_k: np.ndarray
    d_k: np.ndarray
    length: float  # Å
    qqr2e: float  # e²/(4πε₀), eV Å


#: LAMMPS ``pair_style zbl``
PAIR_ZBL = Screening(C_K, D_K, A_ZBL, QQR2E)


def zbl_raw(r: np.ndarray, z_a: float | np.ndarray, z_b: float | np.ndarray,
            screening: Screening = PAIR_ZBL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unswitched ZBL energy (eV) and its first and second r-derivatives at r (Å, any shape);
    Z may be arrays that broadcast with r (e.g. r (rows, 1), Z (B,))."""
    inv_a = (np.power(z_a, P_ZBL) + np.power(z_b, P_ZBL)) / screening.length
    zze = np.multiply(z_a, z_b) * screening.qqr2e
    r = np.asarray(r, float)
    ex = np.exp(-r[..., None] * np.multiply.outer(inv_a, screening.d_k))  # (..., 4)
    c_k, d_k = screening.c_k, screening.d_k
    phi = ex @ c_k
    dphi = -(ex @ (c_k * d_k)) * inv_a
    d2phi = (ex @ (c_k * d_k**2)) * inv_a**2
    e = zze * phi / r
    de = zze * (dphi / r - phi / r**2)
    d2e = zze * (d2phi / r - 2.0 * dphi / r**2 + 2.0 * phi / r**3)
    return e, de, d2e


def zbl_third(r: np.ndarray, z_a: float, z_b: float, screening: Screening = PAIR_ZBL
              ) -> np.ndarray:
    """Third r-derivative of the unswitched ZBL energy (eV/Å³) at r (Å, any shape): the switching
    coefficients' derivative with respect to the outer radius needs it."""
    inv_a = (z_a**P_ZBL + z_b**P_ZBL) / screening.length
    r = np.asarray(r, float)
    ex = np.exp(-r[..., None] * (inv_a * screening.d_k))
    kd = screening.d_k * inv_a
    phi, d1, d2, d3 = (ex @ (screening.c_k * (-kd) ** m) for m in range(4))
    return z_a * z_b * screening.qqr2e * (d3 / r - 3.0 * d2 / r**2 + 6.0 * d1 / r**3
                                         - 6.0 * phi / r**4)


def switch_terms(z_a: float, z_b: float, inner: np.ndarray, outer: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LAMMPS's switching coefficients (A, B, C) for the switching regions ``inner``-``outer`` (Å,
    arrays of one shape), as its set_coeff: E' gets A t² + B t³ and E gets A/3 t³ + B/4 t⁴ + C for
    t = r - inner > 0 (C for any r < outer), so that E, E' and E'' vanish at ``outer``."""
    outer = np.asarray(outer, float)
    tc = outer - inner
    fc, fcp, fcpp = zbl_raw(outer, z_a, z_b)
    a = (-3.0 * fcp + tc * fcpp) / tc**2
    b = (2.0 * fcp - tc * fcpp) / tc**3
    c = -fc + 0.5 * tc * fcp - tc**2 / 12.0 * fcpp
    return a, b, c


def switch_coefficients(z_a: float, z_b: float, inner: float, outer: float
                        ) -> tuple[float, float, float]:
    """:func:`switch_terms` of one switching region, as floats."""
    a, b, c = switch_terms(z_a, z_b, np.array(inner, float), np.array(outer, float))
    return float(a), float(b), float(c)


def switch_term_derivatives(z_a: float, z_b: float, inner: float, outer: float
                            ) -> tuple[np.ndarray, np.ndarray]:
    """d(A, B, C)/d(inner) and d(A, B, C)/d(outer) of :func:`switch_terms`, each (3,).

    A, B and C depend on the width tc = outer - inner and on the ZBL energy and its first two
    derivatives at the outer radius, which move with it (so the third derivative enters)."""
    tc = outer - inner
    fc_k = [float(x) for x in zbl_raw(np.array(outer, float), z_a, z_b)]
    fcp, fcpp = fc_k[1], fc_k[2]
    fcppp = float(zbl_third(np.array(outer, float), z_a, z_b))
    d_tc = np.array([6.0 * fcp / tc**3 - fcpp / tc**2,  # partial derivatives in tc
                     -6.0 * fcp / tc**4 + 2.0 * fcpp / tc**3,
                     0.5 * fcp - tc * fcpp / 6.0])
    d_f = np.array([[0.0, -3.0 / tc**2, 1.0 / tc],  # in fc, fc', fc'' (rows A, B, C)
                    [0.0, 2.0 / tc**3, -1.0 / tc**2],
                    [-1.0, 0.5 * tc, -tc**2 / 12.0]])
    return -d_tc, d_tc + d_f @ np.array([fcp, fcpp, fcppp])


def switched_pairs(r_p: np.ndarray, e_p: np.ndarray, g_p: np.ndarray, z_a: float, z_b: float,
                   inner_u: np.ndarray, outer_u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Switched ZBL energy (eV) and dE/dr (eV/Å), each (P, U), of the pairs at r_p (Å, (P,))
    whose unswitched values are e_p, g_p, for U switching regions ``inner_u``-``outer_u`` (Å,
    (U,)); 0 from the outer radius on."""
    a, b, c = switch_terms(z_a, z_b, inner_u, outer_u)
    r = r_p[:, None]
    t = np.maximum(r - inner_u, 0.0)
    inside = r < outer_u
    e = np.where(inside, e_p[:, None] + c + t**3 * (a / 3.0 + b / 4.0 * t), 0.0)
    g = np.where(inside, g_p[:, None] + t**2 * (a + b * t), 0.0)
    return e, g


def switched_pair_derivatives(r_p: np.ndarray, z_a: float, z_b: float, inner: float, outer: float
                              ) -> list[np.ndarray]:
    """d(E)/d(inner), d(dE/dr)/d(inner), d(E)/d(outer), d(dE/dr)/d(outer) of the switched ZBL of
    pairs at r_p (Å, (P,)), each (P,). E is smooth in both radii (the switch starts as t³; E, E'
    and E'' vanish at the outer radius), so a pair that a boundary crosses adds no jump."""
    a, b, _ = switch_coefficients(z_a, z_b, inner, outer)
    (da1, db1, dc1), (da2, db2, dc2) = switch_term_derivatives(z_a, z_b, inner, outer)
    t = np.maximum(r_p - inner, 0.0)  # dt/d(inner) = -1 where t > 0; its terms vanish at t = 0
    de_in = dc1 + t**3 * (da1 / 3.0 + db1 / 4.0 * t) - t**2 * (a + b * t)
    dg_in = t**2 * (da1 + db1 * t) - t * (2.0 * a + 3.0 * b * t)
    de_out = dc2 + t**3 * (da2 / 3.0 + db2 / 4.0 * t)
    dg_out = t**2 * (da2 + db2 * t)
    inside = r_p < outer
    return [np.where(inside, x, 0.0) for x in (de_in, dg_in, de_out, dg_out)]


def zbl_energy(r: np.ndarray, z_a: float, z_b: float, inner: float, outer: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Switched ZBL pair energy (eV) and dE/dr (eV/Å) at r (Å, any shape); 0 from ``outer`` on."""
    r = np.asarray(r, float)
    e, de, _ = zbl_raw(r.ravel(), z_a, z_b)
    es, gs = switched_pairs(r.ravel(), e, de, z_a, z_b, np.array([inner], float),
                            np.array([outer], float))
    return es[:, 0].reshape(r.shape), gs[:, 0].reshape(r.shape)


def atomic_number(species: str) -> int:
    """Z of a species named by its element symbol (``Si``, also ``Si(D)``-style LAMMPS names)."""
    from ase.data import atomic_numbers

    from gafit.lammps.files import element_species

    sym = element_species(species)
    if sym not in atomic_numbers or atomic_numbers[sym] == 0:
        raise GafitInputError(f"zbl: species '{species}' is not an element symbol, so its nuclear "
                              "charge Z is unknown")
    return atomic_numbers[sym]


#: the smallest switching region repair leaves: inner <= outer (1 - MIN_SWITCH)
MIN_SWITCH = 1e-3
#: R1 and R2 of every species pair: kept at their values unless the config gives bounds
INNER = ParamSpec("zbl_inner", "Å", (0.3, 1.5), 1.0, "where the switching polynomial starts "
                  "(LAMMPS's inner cutoff R1)", lower_limit=0.01, fitted_by_default=False)
OUTER = ParamSpec("zbl_outer", "Å", (1.0, 3.0), 2.0, "where the ZBL energy and its first two "
                  "derivatives reach zero (LAMMPS's outer cutoff R2)", lower_limit=0.01,
                  fitted_by_default=False)


@dataclass
class ZBLTable:
    """The pairs within the form's reach (sorted by species pair) with their unswitched ZBL energy
    and dE/dr, and the last single evaluation (a fixed switch is computed once)."""

    pairs: PairTable
    e_p: np.ndarray  # eV
    g_p: np.ndarray  # eV/Å
    z_k: list[tuple[int, int]]  # Z of each entry's two species
    cutoff: float  # Å, the reach the pairs were found with
    last: tuple[bytes, Prediction] | None = None

    @property
    def work_per_individual(self) -> int:
        n_s = self.pairs.n_structures
        return 5 * len(self.r_p) + 3 * self.pairs.n_atoms + 7 * n_s

    @property
    def r_p(self) -> np.ndarray:
        return self.pairs.r_p


class ZBL(Form):
    """LAMMPS ``pair_style zbl inner outer`` with Z from the species, R1 and R2 per species pair
    (``A-B.zbl_inner``, ``A-B.zbl_outer``); several ``zbl`` in hybrid/overlay when they differ."""

    name = "zbl"
    lammps_style = "zbl"
    params = (INNER, OUTER)
    #: pair_style hybrid/overlay may hold several zbl, one per switching region
    lammps_instances = True

    # one entry per unordered species pair, as pair forms
    entries = PairForm.entries
    canonical_entry = PairForm.canonical_entry
    entry_index = PairForm.entry_index

    def __init__(self, species: list[str], cutoff: float, inner: float | None = None) -> None:
        super().__init__(species, cutoff)
        # Å: every pair's default R1 (the cutoff is the default R2); a potential.json of gafit
        # before per-pair radii stored R1 as this setting
        self.inner = inner

    @classmethod
    def example(cls, species: list[str]) -> tuple[ZBL, np.ndarray]:
        """Switching regions of 1.4-2.9, 1.5-3.0 and 1.6-3.1 Å by entry (nearest neighbours at
        2.2-3 Å are in them; several regions export as several zbl)."""
        form = cls(list(species), 3.0)
        shift = 0.1 * (np.arange(len(form.entries())) % 3)
        values = np.column_stack([1.4 + shift, 2.9 + shift]).ravel()
        form.cutoff = form.interaction_range(values)
        return form, values

    def default_values(self) -> np.ndarray:
        inner = INNER.default if self.inner is None else self.inner
        return np.tile([inner, self.cutoff], len(self.entries())).astype(float)

    def legacy_parameters(self) -> dict[str, float]:
        """A file with the ``inner`` setting (gafit before per-pair radii): every pair's R1 is
        it and R2 the cutoff."""
        if self.inner is None:
            return {}
        return dict(zip(self.parameter_names(), map(float, self.default_values()), strict=True))

    def apply_settings(self, settings: dict[str, float]) -> None:
        super().apply_settings({k: v for k, v in settings.items() if k != "inner"})
        if "inner" in settings:
            self.inner = float(settings["inner"])
            if not 0.0 < self.inner < self.cutoff:
                raise GafitInputError(f"zbl: needs 0 < inner < outer, got inner = "
                                      f"{self.inner:g} Å, outer = {self.cutoff:g} Å")

    def interaction_range(self, values: np.ndarray) -> float:
        """The largest R2 (Å) of ``values`` (n_params,) or of a batch (B, n_params)."""
        outer = np.asarray(values, float)[..., 1::2]
        return float(outer.max()) if outer.size else self.cutoff

    def cutoff_setting(self, values: np.ndarray) -> str | None:
        outer = np.asarray(values, float)[1::2]
        return self.parameter_names()[2 * int(np.argmax(outer)) + 1] if outer.size else None

    def check(self, values: np.ndarray) -> list[str]:
        """LAMMPS's rule 0 < R1 <= R2, and gafit's R1 < R2 (a switching region)."""
        names = self.parameter_names()
        return [f"{names[2 * k]} = {values[2 * k]:g} Å and {names[2 * k + 1]} = "
                f"{values[2 * k + 1]:g} Å: zbl needs 0 < inner < outer"
                for k in range(len(self.entries()))
                if not 0.0 < values[2 * k] < values[2 * k + 1] < np.inf]

    def repair(self, theta: np.ndarray) -> np.ndarray:
        """R2 at most the cutoff (the tables' reach, as Tersoff's R + D), R1 at most
        R2 (1 - :data:`MIN_SWITCH`)."""
        theta[..., 1::2] = np.minimum(theta[..., 1::2], self.cutoff)
        theta[..., 0::2] = np.minimum(theta[..., 0::2], theta[..., 1::2] * (1.0 - MIN_SWITCH))
        return theta

    def dimer_energy(self, values: np.ndarray, a: int, b: int
                     ) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """E(r), dE/dr (B, K) of the isolated pair of species indices a, b, eV and eV/Å, for the B
        vectors ``values`` (B, n_params)."""
        z_a, z_b = atomic_number(self.species[a]), atomic_number(self.species[b])
        k = self.entry_index(a, b)
        values = np.asarray(values, float)
        inner_b, outer_b = values[:, 2 * k], values[:, 2 * k + 1]

        def energy(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            r = np.asarray(r, float)
            e, g, _ = zbl_raw(r, z_a, z_b)
            e_kb, g_kb = switched_pairs(r, e, g, z_a, z_b, inner_b, outer_b)
            return e_kb.T, g_kb.T

        return energy

    # --- evaluation ----------------------------------------------------------------------------
    def build_tables(self, refset: ReferenceSet) -> ZBLTable:
        pairs = PairForm.build_tables(self, refset)  # type: ignore[arg-type]
        z = [atomic_number(s) for s in self.species]
        z_k = [(z[self.species.index(a)], z[self.species.index(b)]) for a, b in self.entries()]
        e_p, g_p = np.zeros(len(pairs.r_p)), np.zeros(len(pairs.r_p))
        for (z_a, z_b), sl in zip(z_k, pairs.slices, strict=True):
            e_p[sl], g_p[sl], _ = zbl_raw(pairs.r_p[sl], z_a, z_b)
        return ZBLTable(pairs, e_p, g_p, z_k, self.cutoff)

    def _check_reach(self, theta: np.ndarray, tables: ZBLTable) -> None:
        need = self.interaction_range(theta)
        if theta.size and need > tables.cutoff:
            raise GafitInputError(f"zbl: parameters need a neighbour cutoff of {need:g} Å (the "
                                  f"largest zbl_outer) but the tables were built with "
                                  f"{tables.cutoff:g} Å")

    def evaluate(self, theta: np.ndarray, tables: ZBLTable) -> Prediction:
        """Each distinct row of ``theta`` once (a fixed switch: once per set of tables)."""
        theta = np.asarray(theta, float)
        self._check_reach(theta, tables)
        rows, inverse = np.unique(theta, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        key = rows.tobytes()
        if len(rows) == 1 and tables.last is not None and tables.last[0] == key:
            pred = tables.last[1]
        else:
            pair = tables.pairs
            e_pu = np.zeros((len(pair.r_p), len(rows)))
            g_pu = np.zeros_like(e_pu)
            for k, ((z_a, z_b), sl) in enumerate(zip(tables.z_k, pair.slices, strict=True)):
                if sl.stop > sl.start:
                    e_pu[sl], g_pu[sl] = switched_pairs(pair.r_p[sl], tables.e_p[sl],
                                                        tables.g_p[sl], z_a, z_b, rows[:, 2 * k],
                                                        rows[:, 2 * k + 1])
            pred = apply_maps(e_pu, g_pu, *pair.maps(), pair.n_atoms, pair.n_structures)
            if len(rows) == 1:
                tables.last = (key, pred)
        # indexing copies: the cached arrays are never handed out (Potential adds in place)
        return Prediction(energy=pred.energy[inverse], forces=pred.forces[inverse],
                          virial=pred.virial[inverse])

    def parameter_derivatives(self, theta: np.ndarray, tables: ZBLTable) -> Prediction:
        """d(E, F, virial)/d(R1, R2) of every species pair at one vector ``theta`` (n_params,)."""
        theta = np.asarray(theta, float)
        self._check_reach(theta, tables)
        pair = tables.pairs
        de_pk = np.zeros((len(pair.r_p), self.n_params))
        dg_pk = np.zeros_like(de_pk)
        for k, ((z_a, z_b), sl) in enumerate(zip(tables.z_k, pair.slices, strict=True)):
            if sl.stop > sl.start:
                (de_pk[sl, 2 * k], dg_pk[sl, 2 * k], de_pk[sl, 2 * k + 1],
                 dg_pk[sl, 2 * k + 1]) = switched_pair_derivatives(
                    pair.r_p[sl], z_a, z_b, theta[2 * k], theta[2 * k + 1])
        return apply_maps(de_pk, dg_pk, *pair.maps(), pair.n_atoms, pair.n_structures)

    # --- LAMMPS --------------------------------------------------------------------------------
    def switch_groups(self, values: np.ndarray) -> dict[tuple[float, float], list[int]]:
        """The entries of each distinct switching region (R1, R2), in entry order."""
        groups: dict[tuple[float, float], list[int]] = {}
        for k in range(len(self.entries())):
            groups.setdefault((float(values[2 * k]), float(values[2 * k + 1])), []).append(k)
        return groups

    def lammps_lines(self, values: np.ndarray, outdir: Path | None = None, header: str = ""
                     ) -> list[str]:
        """``pair_style zbl R1 R2`` and ``pair_coeff I J Z_I Z_J`` for every type pair when all
        pairs share R1 and R2; else ``pair_style hybrid/overlay zbl R1 R2 zbl R1' R2' ...`` and
        ``pair_coeff I J zbl M Z_I Z_J``, each type pair in the instance M of its radii."""
        problems = self.check(values)
        if problems:
            raise GafitInputError(f"cannot export: {problems[0]}")
        z = [atomic_number(s) for s in self.species]
        groups = self.switch_groups(values)
        types = [(self.species.index(a), self.species.index(b)) for a, b in self.entries()]
        styles = [f"zbl {number(r1)} {number(r2)}" for r1, r2 in groups]
        if len(groups) == 1:
            return [f"pair_style {styles[0]}"] + [f"pair_coeff {a + 1} {b + 1} {z[a]} {z[b]}"
                                                  for a, b in types]
        lines = ["pair_style hybrid/overlay " + " ".join(styles)]
        for m, ks in enumerate(groups.values(), 1):
            lines += [f"pair_coeff {types[k][0] + 1} {types[k][1] + 1} zbl {m} "
                      f"{z[types[k][0]]} {z[types[k][1]]}" for k in ks]
        return lines

    @classmethod
    def from_lammps(cls, style_args: list[str], coeffs: list[tuple[int, list[str]]],
                    species: list[str], where: str, base: Path | None = None
                    ) -> tuple[Form, dict[str, float]]:
        """``pair_style zbl INNER OUTER``, or several zbl of hybrid/overlay (``style_args`` then
        holds each instance's radii, the instances separated by ``zbl``, and each pair_coeff
        starts I J M with M the instance). Every pair_coeff's Z must be its species' (gafit takes
        Z from the element symbols)."""
        from gafit.forms.pair import _number, _types

        cuts, start = [], 0
        for k in [i for i, w in enumerate(style_args) if w == cls.lammps_style] + [len(style_args)]:
            cuts.append(style_args[start:k])
            start = k + 1
        for args in cuts:
            if len(args) != 2:
                raise GafitInputError(f"{where}: expected 'pair_style zbl INNER OUTER', got {args}")
        radii = [(_number(a[0], where, "zbl inner cutoff"), _number(a[1], where,
                                                                    "zbl outer cutoff"))
                 for a in cuts]
        for r1, r2 in radii:
            if not 0.0 < r1 < r2 < np.inf:
                raise GafitInputError(f"{where}: zbl needs 0 < inner < outer, got inner = "
                                      f"{r1:g} Å, outer = {r2:g} Å")
        several = len(radii) > 1
        form = cls(species, max(r2 for _, r2 in radii))
        z = [atomic_number(s) for s in species]
        seen: dict[tuple[int, int], int] = {}
        for line, args in coeffs:
            at = f"{where} line {line}"
            if len(args) != 4 + several:
                raise GafitInputError(f"{at}: pair_coeff {' '.join(args)}: expected I J "
                                      + ("zbl M " if several else "") + "Z_I Z_J")
            m = 0
            if several:
                m = int(_number(args[2], at, "zbl instance")) - 1
                if not 0 <= m < len(radii) or args[2] != str(m + 1):
                    raise GafitInputError(f"{at}: zbl instance {args[2]} is not one of 1 to "
                                          f"{len(radii)}")
            zi, zj = _number(args[-2], at, "Z_I"), _number(args[-1], at, "Z_J")
            for ti in _types(args[0], len(species), at):
                for tj in _types(args[1], len(species), at):
                    if ti > tj:  # LAMMPS sets only I <= J
                        continue
                    if (zi, zj) != (z[ti], z[tj]):
                        raise GafitInputError(
                            f"{at}: zbl Z {zi:g} {zj:g} for types {ti + 1} {tj + 1} ({species[ti]} "
                            f"{species[tj]}) are not their atomic numbers {z[ti]} {z[tj]}; gafit "
                            "takes Z from the element symbols")
                    if seen.get((ti, tj), m) != m:
                        raise GafitInputError(f"{at}: types {ti + 1} {tj + 1} are in two zbl "
                                              "instances (overlay would add both); gafit reads "
                                              "one switching region per type pair")
                    seen[(ti, tj)] = m
        if several:  # hybrid/overlay mixes no I-J pair here: each must be given
            missing = [f"{a}-{b}" for a, b in form.entries()
                       if (species.index(a), species.index(b)) not in seen]
        else:  # LAMMPS mixes I-J from the I-I and J-J entries, which it needs
            missing = [f"{s}-{s}" for a, s in enumerate(species) if (a, a) not in seen]
        if missing:
            raise GafitInputError(f"{where}: zbl has no pair_coeff for {missing[0]}")
        values: dict[str, float] = {}
        for a, b in form.entries():
            r1, r2 = radii[seen.get((species.index(a), species.index(b)), 0)]
            values[f"{a}-{b}.zbl_inner"], values[f"{a}-{b}.zbl_outer"] = r1, r2
        return form, values


def unseen_switches(potential: Any, space: Any, data: ReferenceSet) -> str | None:
    """A one-line note for a fit (``potential``: a Potential, ``space``: its ParameterSpace):
    the species pairs with a fitted switching radius that have no pair in ``data`` shorter than
    the largest R2 the bounds allow. The ZBL term is 0 on every one of their training pairs
    whatever R1 and R2 are, so the loss cannot see them. None when every fitted radius is seen."""
    from gafit.walls import shortest_distances

    hi, free = space.upper_values(), (space.source >= 0)[space.tie]
    unseen = []
    for form, sl in zip(potential.forms, potential.form_slices(), strict=True):
        if not isinstance(form, ZBL):
            continue
        outer_k = hi[sl][1::2]
        free_k = free[sl].reshape(-1, 2).any(axis=1)
        if not free_k.any():
            continue
        shortest = shortest_distances(data, float(outer_k[free_k].max()))
        for k in np.flatnonzero(free_k):
            a, b = form.entries()[k]
            if shortest.get(tuple(sorted((a, b))), np.inf) >= outer_k[k]:
                unseen.append(f"{a}-{b} pair shorter than {outer_k[k]:g} Å")
    if not unseen:
        return None
    return ("zbl: the training data has no " + ", no ".join(unseen) + " (the largest zbl_outer "
            "the bounds allow): the loss cannot see those fitted switching radii")
