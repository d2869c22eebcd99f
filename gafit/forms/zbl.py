"""Ziegler–Biersack–Littmark screened nuclear repulsion, as LAMMPS's ``pair_style zbl inner outer``.

A term that adds to any form (``[potential] zbl = {inner = R1, outer = R2}``): the universal ZBL
pair energy of the nuclear charges Z (from the species' element symbols),

    E_ZBL(r) = Z_a Z_b e²/(4πε₀) / r · Σ_k c_k exp(-d_k r / a),  a = 0.46850 Å / (Z_a^0.23 + Z_b^0.23),

plus LAMMPS's switching polynomial: for inner < r < outer, with t = r - inner,
S(t) = A/3 t³ + B/4 t⁴, and a constant C for every r < outer, chosen so that E, dE/dr and d²E/dr²
all vanish at the outer cutoff (A, B, C from E_ZBL and its first two derivatives at ``outer``).
e²/(4πε₀) is LAMMPS's ``qqr2e`` in metal units. The constants c_k, d_k and a are ZBL's (Ziegler,
Biersack, Littmark, "The Stopping and Range of Ions in Matter", 1985), as LAMMPS uses them.

The term has no fitted parameters: inner and outer are form settings (saved in potential.json),
so its energies, forces and virials are computed once per structure when the tables are built.
Exported as ``hybrid/overlay <the other styles> zbl inner outer`` with ``pair_coeff I J zbl Z_I Z_J``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gafit.forms.base import Form, Prediction, number
from gafit.geometry import index_atoms, neighbour_pairs
from gafit.structures import GafitInputError, ReferenceSet

#: e²/(4πε₀) in eV Å, LAMMPS's qqr2e in metal units
QQR2E = 14.399645
#: the universal screening length a = A_ZBL / (Z_a^P_ZBL + Z_b^P_ZBL), Å
A_ZBL = 0.46850
P_ZBL = 0.23
#: the universal screening function Σ_k c_k exp(-d_k r / a)
C_K = np.array([0.02817, 0.28022, 0.50986, 0.18175])
D_K = np.array([0.20162, 0.40290, 0.94229, 3.19980])


def zbl_raw(r: np.ndarray, z_a: float, z_b: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unswitched ZBL energy (eV) and its first and second r-derivatives at r (Å, any shape)."""
    inv_a = (z_a**P_ZBL + z_b**P_ZBL) / A_ZBL
    zze = z_a * z_b * QQR2E
    r = np.asarray(r, float)
    ex = np.exp(-np.multiply.outer(r, D_K * inv_a))  # (..., 4)
    phi = ex @ C_K
    dphi = -ex @ (C_K * D_K * inv_a)
    d2phi = ex @ (C_K * (D_K * inv_a) ** 2)
    e = zze * phi / r
    de = zze * (dphi / r - phi / r**2)
    d2e = zze * (d2phi / r - 2.0 * dphi / r**2 + 2.0 * phi / r**3)
    return e, de, d2e


def switch_coefficients(z_a: float, z_b: float, inner: float, outer: float
                        ) -> tuple[float, float, float]:
    """LAMMPS's switching coefficients (A, B, C) that make E, E' and E'' vanish at ``outer``:
    E' gets A t² + B t³ and E gets A/3 t³ + B/4 t⁴ + C for t = r - inner > 0 (C for any r < outer)."""
    tc = outer - inner
    fc, fcp, fcpp = (float(x) for x in zbl_raw(np.array(outer), z_a, z_b))
    a = (-3.0 * fcp + tc * fcpp) / tc**2
    b = (2.0 * fcp - tc * fcpp) / tc**3
    c = -fc + 0.5 * tc * fcp - tc**2 / 12.0 * fcpp
    return a, b, c


def zbl_energy(r: np.ndarray, z_a: float, z_b: float, inner: float, outer: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Switched ZBL pair energy (eV) and dE/dr (eV/Å) at r (Å, any shape); 0 from ``outer`` on."""
    r = np.asarray(r, float)
    a, b, c = switch_coefficients(z_a, z_b, inner, outer)
    e, de, _ = zbl_raw(r, z_a, z_b)
    t = np.where(r > inner, r - inner, 0.0)
    e = e + c + t**3 * (a / 3.0 + b / 4.0 * t)
    de = de + t**2 * (a + b * t)
    inside = r < outer
    return np.where(inside, e, 0.0), np.where(inside, de, 0.0)


def atomic_number(species: str) -> int:
    """Z of a species named by its element symbol (``Si``, also ``Si(D)``-style LAMMPS names)."""
    from ase.data import atomic_numbers

    from gafit.lammps.files import element_species

    sym = element_species(species)
    if sym not in atomic_numbers or atomic_numbers[sym] == 0:
        raise GafitInputError(f"zbl: species '{species}' is not an element symbol, so its nuclear "
                              "charge Z is unknown")
    return atomic_numbers[sym]


@dataclass
class ZBLTable:
    """The ZBL term's energies (S,), forces (3N,) and virials (S, 6) of a reference set: constant."""

    energy_s: np.ndarray
    forces_x: np.ndarray
    virial_sv: np.ndarray
    work_per_individual: int = 1  # FormTables: a constant, repeated per individual


class ZBL(Form):
    """LAMMPS ``pair_style zbl inner outer`` with Z from the species; no fitted parameters."""

    name = "zbl"
    lammps_style = "zbl"
    params = ()

    def __init__(self, species: list[str], cutoff: float, inner: float | None = None) -> None:
        super().__init__(species, cutoff)
        self.inner = inner  # Å, where the switching starts; the cutoff is LAMMPS's outer

    @classmethod
    def example(cls, species: list[str]) -> tuple[ZBL, np.ndarray]:
        """Switching from 1.5 to 3 Å (nearest neighbours at 2.2-3 Å are in the switching region)."""
        return cls(list(species), 3.0, inner=1.5), np.zeros(0)

    @property
    def outer(self) -> float:
        return self.cutoff

    def settings(self) -> dict[str, float]:
        return {} if self.inner is None else {"inner": float(self.inner)}

    def apply_settings(self, settings: dict[str, float]) -> None:
        super().apply_settings({k: v for k, v in settings.items() if k != "inner"})
        if "inner" in settings:
            self.inner = float(settings["inner"])
        self.check_switch()

    def check_switch(self, where: str = "zbl") -> None:
        """LAMMPS's rule: 0 < inner <= outer (and gafit's: inner < outer, a switching region)."""
        if self.inner is None:
            raise GafitInputError(f"{where}: needs inner (Å), where the switching starts")
        if not 0.0 < self.inner < self.outer < np.inf:
            raise GafitInputError(f"{where}: needs 0 < inner < outer, got inner = {self.inner:g} Å, "
                                  f"outer = {self.outer:g} Å")

    # --- parameters: none ----------------------------------------------------------------------
    def entries(self) -> list[tuple[str, ...]]:
        return []

    def canonical_entry(self, entry: tuple[str, ...]) -> tuple[str, ...]:
        raise ValueError("the zbl term has no parameters (inner and outer are settings)")

    def default_bounds(self) -> np.ndarray:
        return np.zeros((0, 2))

    def hard_limits(self) -> np.ndarray:
        return np.zeros((0, 2))

    def fittable(self) -> np.ndarray:
        return np.zeros(0, bool)

    def log_scale(self) -> np.ndarray:
        return np.zeros(0, bool)

    def dimer_energy(self, values: np.ndarray, a: int, b: int
                     ) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """E(r), dE/dr (B, K) of the isolated pair of species indices a, b, eV and eV/Å: the same
        for each of the B (empty) vectors ``values`` (B, 0)."""
        z_a, z_b = atomic_number(self.species[a]), atomic_number(self.species[b])
        self.check_switch()
        n = len(values)

        def energy(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            e, g = zbl_energy(r, z_a, z_b, float(self.inner), self.outer)  # type: ignore[arg-type]
            return np.broadcast_to(e, (n, len(r))), np.broadcast_to(g, (n, len(r)))

        return energy

    # --- evaluation ----------------------------------------------------------------------------
    def build_tables(self, refset: ReferenceSet) -> ZBLTable:
        from gafit.geometry import pair_maps

        self.check_switch()
        idx = index_atoms(refset, self.species)
        pairs = neighbour_pairs(refset, self.cutoff, half=True, what="zbl outer cutoff")
        z_n = np.array([atomic_number(s) for s in self.species])[idx.species_n]
        e_p = np.zeros(len(pairs.r_p))
        g_p = np.zeros(len(pairs.r_p))
        za_p, zb_p = z_n[pairs.i_p], z_n[pairs.j_p]
        key_p = np.minimum(za_p, zb_p) * 1000 + np.maximum(za_p, zb_p)
        for key in np.unique(key_p):
            sel = key_p == key
            e_p[sel], g_p[sel] = zbl_energy(pairs.r_p[sel], key // 1000, key % 1000,
                                            float(self.inner), self.outer)  # type: ignore[arg-type]
        energy_sp, deriv_xp = pair_maps(pairs, idx.n_atoms, idx.n_structures)
        fw = deriv_xp @ g_p
        return ZBLTable(energy_s=energy_sp @ e_p, forces_x=fw[: 3 * idx.n_atoms],
                        virial_sv=fw[3 * idx.n_atoms :].reshape(idx.n_structures, 6))

    def evaluate(self, theta: np.ndarray, tables: ZBLTable) -> Prediction:
        b = theta.shape[0]
        return Prediction(energy=np.repeat(tables.energy_s[None], b, axis=0),
                          forces=np.repeat(tables.forces_x[None], b, axis=0),
                          virial=np.repeat(tables.virial_sv[None], b, axis=0))

    def parameter_derivatives(self, theta: np.ndarray, tables: ZBLTable) -> Prediction:
        """No parameters: empty derivative rows."""
        return Prediction(energy=np.zeros((0, len(tables.energy_s))),
                          forces=np.zeros((0, len(tables.forces_x))),
                          virial=np.zeros((0, len(tables.energy_s), 6)))

    # --- LAMMPS --------------------------------------------------------------------------------
    def lammps_lines(self, values: np.ndarray, outdir: Path | None = None, header: str = ""
                     ) -> list[str]:
        """``pair_style zbl inner outer`` and ``pair_coeff I J Z_I Z_J`` for every type pair."""
        self.check_switch()
        z = [atomic_number(s) for s in self.species]
        lines = [f"pair_style zbl {number(self.inner)} {number(self.outer)}"]  # type: ignore[arg-type]
        for a in range(len(z)):
            for b in range(a, len(z)):
                lines.append(f"pair_coeff {a + 1} {b + 1} {z[a]} {z[b]}")
        return lines

    @classmethod
    def from_lammps(cls, style_args: list[str], coeffs: list[tuple[int, list[str]]],
                    species: list[str], where: str, base: Path | None = None
                    ) -> tuple[Form, dict[str, float]]:
        """``pair_style zbl INNER OUTER``; every pair_coeff's Z must be its species' (gafit takes Z
        from the element symbols)."""
        from gafit.forms.pair import _number, _types

        if len(style_args) != 2:
            raise GafitInputError(f"{where}: expected 'pair_style zbl INNER OUTER', got {style_args}")
        form = cls(species, _number(style_args[1], where, "zbl outer cutoff"),
                   _number(style_args[0], where, "zbl inner cutoff"))
        form.check_switch(where)
        z = [atomic_number(s) for s in species]
        seen = set()
        for line, args in coeffs:
            at = f"{where} line {line}"
            if len(args) != 4:
                raise GafitInputError(f"{at}: pair_coeff {' '.join(args)}: expected I J Z_I Z_J")
            zi, zj = _number(args[2], at, "Z_I"), _number(args[3], at, "Z_J")
            for ti in _types(args[0], len(species), at):
                for tj in _types(args[1], len(species), at):
                    if ti > tj:  # LAMMPS sets only I <= J
                        continue
                    if (zi, zj) != (z[ti], z[tj]):
                        raise GafitInputError(
                            f"{at}: zbl Z {zi:g} {zj:g} for types {ti + 1} {tj + 1} ({species[ti]} "
                            f"{species[tj]}) are not their atomic numbers {z[ti]} {z[tj]}; gafit "
                            "takes Z from the element symbols")
                    seen.add((ti, tj))
        missing = [f"{species[a]}-{species[a]}" for a in range(len(species)) if (a, a) not in seen]
        if missing:  # LAMMPS mixes I-J from the I-I and J-J entries, which it needs
            raise GafitInputError(f"{where}: zbl has no pair_coeff for {missing[0]}")
        return form, {}
