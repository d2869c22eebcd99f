"""Stability guards: flags for properties that say a potential is unphysical where it is used.

Pure functions, no side effects; the CLI and the report print their ``flags`` as ``! ...`` lines.

- :func:`mechanical_stability`: Born criteria of an elastic tensor (GPa, 6x6 Voigt) for its crystal
  class (necessary and sufficient, Mouhat & Coudert, Phys. Rev. B 90, 224104 (2014)), and the general
  criterion that is always valid: every eigenvalue of the symmetric 6x6 tensor positive.
- :func:`bulk_modulus_consistency`: the EOS bulk modulus against the Voigt and Reuss bounds of the
  same tensor.
- :func:`imaginary_modes`: phonon frequencies (THz, negative = imaginary) below ``-tolerance``, the
  three acoustic modes at Γ excepted.
- :func:`e0_plausibility`: whether fitted energy offsets E0 leave the form a plausible cohesive
  energy (see its docstring for the definition).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "COHESIVE_MAX",
    "E0Check",
    "ImaginaryModes",
    "MechanicalStability",
    "bulk_modulus_consistency",
    "cohesive_range",
    "crystal_system",
    "e0_check_of",
    "e0_plausibility",
    "imaginary_modes",
    "mechanical_stability",
    "property_flags",
    "stability_line",
    "tensor_from_properties",
]

#: the data's energies are on a cohesive scale (referenced to free atoms, as VASP's are) when the
#: lowest energy per atom lies between -COHESIVE_MAX and this, eV/atom (data referenced to the crystal,
#: as EMT's, sit near 0 and are not)
COHESIVE_SCALE_TOP = -1.0
#: tolerance (THz) below which a phonon frequency counts as imaginary
IMAGINARY_TOL = 0.05
#: relative slack of the EOS bulk modulus beyond the Reuss (below) and Voigt (above) bounds
B_TOL = 0.10
#: largest plausible cohesive energy of the form alone, eV/atom (the largest of the elements is
#: tungsten's 8.90 eV/atom; carbon's 7.37)
COHESIVE_MAX = 10.0
#: an off-pattern elastic constant above this fraction of the largest |Cij| (plus 0.5 GPa) means the
#: tensor is not on the crystal class's standard axes: only the general criterion is applied there
FORM_TOL = 0.02


# --------------------------------------------------------------------------- mechanical stability


def crystal_system(spacegroup: int) -> str:
    """Crystal system of an international space group number (1-230); 'tetragonal-II' for the
    classes 4, -4, 4/m (C16 allowed) and 'trigonal-II' for 3, -3 (C15 allowed)."""
    n = int(spacegroup)
    if not 1 <= n <= 230:
        raise ValueError(f"space group number {n} is not in 1-230")
    for last, name in ((2, "triclinic"), (15, "monoclinic"), (74, "orthorhombic"), (88, "tetragonal-II"),
                       (142, "tetragonal"), (148, "trigonal-II"), (167, "trigonal"), (194, "hexagonal")):
        if n <= last:
            return name
    return "cubic"


#: Voigt entries (1-based ij) allowed to be nonzero on the class's standard axes, beyond the
#: normal-stress block C11..C33 and the diagonal C44, C55, C66
_OFF_PATTERN_ALLOWED = {
    "cubic": set(), "hexagonal": set(), "tetragonal": set(), "orthorhombic": set(),
    "tetragonal-II": {(1, 6), (2, 6)},
    "trigonal": {(1, 4), (2, 4), (1, 5), (2, 5), (4, 6), (5, 6)},
    "trigonal-II": {(1, 4), (2, 4), (1, 5), (2, 5), (4, 6), (5, 6)},
}


@dataclass
class Criterion:
    """One Born condition: ``text`` (e.g. 'C44 > 0'), the quantity that must be positive (GPa or
    GPa²), and how to state a failure."""

    text: str
    margin: float
    failure: str

    @property
    def holds(self) -> bool:
        return bool(self.margin > 0)


@dataclass
class MechanicalStability:
    """Born stability of an elastic tensor (GPa). ``stable``: every eigenvalue of the symmetric tensor
    > 0 (the general criterion, always valid); ``criteria``: the class's Born conditions when the
    tensor has the class's form on its axes (else empty, ``system`` then says 'general')."""

    system: str
    stable: bool
    eigenvalues: list[float]
    criteria: list[Criterion] = field(default_factory=list)

    @property
    def flags(self) -> list[str]:
        """'! ...' lines naming each failed condition; empty when stable."""
        if self.stable:
            return []
        failed = [c for c in self.criteria if not c.holds]
        if failed:
            return [f"! {c.failure}: mechanically unstable ({self.system} Born criterion {c.text})"
                    for c in failed]
        return [f"! smallest eigenvalue of the 6x6 elastic tensor {min(self.eigenvalues):.4g} GPa <= 0: "
                "mechanically unstable (general Born criterion: all eigenvalues > 0)"]

    def to_dict(self) -> dict[str, Any]:
        return {"system": self.system, "stable": self.stable, "eigenvalues_GPa": self.eigenvalues,
                "criteria": [{"criterion": c.text, "margin": c.margin, "holds": c.holds}
                             for c in self.criteria],
                "flags": self.flags}


def _greater(name_a: str, a: float, b: float, text_b: str = "0") -> Criterion:
    """a > b, stated as 'C44 = -3 GPa <= 0'."""
    return Criterion(f"{name_a} > {text_b}", a - b, f"{name_a} = {a:.4g} GPa <= {text_b}"
                     + (f" = {b:.4g} GPa" if text_b != "0" else ""))


def _born_criteria(c: np.ndarray, system: str) -> list[Criterion]:
    """The necessary and sufficient Born conditions of ``system`` for a tensor of its form (GPa)."""
    def C(i: int, j: int) -> float:  # noqa: N802 - the usual name of elastic constants
        return float(c[i - 1, j - 1])

    out: list[Criterion] = []
    if system == "cubic":
        out.append(_greater("C11", C(1, 1), abs(C(1, 2)), "|C12|"))
        out.append(Criterion("C11 + 2 C12 > 0", C(1, 1) + 2 * C(1, 2),
                             f"C11 + 2 C12 = {C(1, 1) + 2 * C(1, 2):.4g} GPa <= 0"))
        out.append(_greater("C44", C(4, 4), 0.0))
        return out
    if system in ("hexagonal", "tetragonal", "tetragonal-II", "trigonal", "trigonal-II"):
        out.append(_greater("C11", C(1, 1), abs(C(1, 2)), "|C12|"))
        m = C(3, 3) * (C(1, 1) + C(1, 2)) - 2 * C(1, 3) ** 2
        out.append(Criterion("2 C13² < C33 (C11 + C12)", m,
                             f"C33 (C11 + C12) - 2 C13² = {m:.4g} GPa² <= 0"))
        out.append(_greater("C44", C(4, 4), 0.0))
        if system == "hexagonal":
            out.append(_greater("C66", C(6, 6), 0.0))  # = (C11 - C12)/2 on this class's tensor
        elif system.startswith("tetragonal"):
            out.append(_greater("C66", C(6, 6), 0.0))
            if system == "tetragonal-II":
                m = C(6, 6) * (C(1, 1) - C(1, 2)) - 2 * C(1, 6) ** 2
                out.append(Criterion("2 C16² < C66 (C11 - C12)", m,
                                     f"C66 (C11 - C12) - 2 C16² = {m:.4g} GPa² <= 0"))
        else:
            m = 0.5 * C(4, 4) * (C(1, 1) - C(1, 2)) - C(1, 4) ** 2 - C(1, 5) ** 2
            out.append(Criterion("C14² + C15² < C44 (C11 - C12)/2", m,
                                 f"C44 (C11 - C12)/2 - C14² - C15² = {m:.4g} GPa² <= 0"))
        return out
    if system == "orthorhombic":
        out.append(_greater("C11", C(1, 1), 0.0))
        m = C(1, 1) * C(2, 2) - C(1, 2) ** 2
        out.append(Criterion("C11 C22 > C12²", m, f"C11 C22 - C12² = {m:.4g} GPa² <= 0"))
        d = float(np.linalg.det(c[:3, :3]))
        out.append(Criterion("det(C11..C33 block) > 0", d, f"det(C11..C33 block) = {d:.4g} GPa³ <= 0"))
        for k in (4, 5, 6):
            out.append(_greater(f"C{k}{k}", C(k, k), 0.0))
        return out
    return out


def _has_class_form(c: np.ndarray, system: str) -> bool:
    """Whether the off-pattern entries of ``c`` vanish (within FORM_TOL) for ``system``."""
    allowed = _OFF_PATTERN_ALLOWED.get(system)
    if allowed is None:
        return False
    tol = FORM_TOL * float(np.abs(c).max()) + 0.5
    for i in range(1, 7):
        for j in range(i + 1, 7):
            if (i <= 3 and j <= 3) or (i, j) in allowed:
                continue
            if abs(c[i - 1, j - 1]) > tol:
                return False
    return True


def mechanical_stability(c: np.ndarray, spacegroup: int | None = None) -> MechanicalStability:
    """Born stability of the elastic tensor ``c`` (6x6 Voigt, GPa) of a crystal of space group
    ``spacegroup`` (None: the general criterion only).

    The class's criteria are used when ``c`` has the class's form on its own axes (the standard
    setting: c along z for hexagonal, tetragonal and trigonal crystals); otherwise, and for monoclinic
    and triclinic crystals, the general criterion names the failure."""
    c = np.asarray(c, float)
    if c.shape != (6, 6) or not np.isfinite(c).all():
        raise ValueError("an elastic tensor must be a finite 6x6 array")
    c = (c + c.T) / 2
    eig = np.linalg.eigvalsh(c)
    system = crystal_system(spacegroup) if spacegroup is not None else "general"
    criteria = _born_criteria(c, system) if _has_class_form(c, system) else []
    if not criteria:
        system = "general"
    return MechanicalStability(system, bool(eig.min() > 0), [float(x) for x in eig], criteria)


def voigt_reuss_bulk(c: np.ndarray) -> tuple[float, float]:
    """Voigt (uniform strain) and Reuss (uniform stress) bulk moduli (GPa) of the tensor ``c``;
    Reuss is NaN for a singular tensor."""
    c = np.asarray(c, float)
    bv = float(c[:3, :3].sum() / 9)
    try:
        s = np.linalg.inv(c)
    except np.linalg.LinAlgError:
        return bv, float("nan")
    return bv, float(1.0 / s[:3, :3].sum())


def bulk_modulus_consistency(b_eos: float, c: np.ndarray, tol: float = B_TOL) -> list[str]:
    """'! ...' lines when the EOS bulk modulus ``b_eos`` (GPa) lies outside [B_Reuss (1 - tol),
    B_Voigt (1 + tol)] of the (mechanically stable) tensor ``c``, or is not positive.

    The EOS of :func:`gafit.properties.equation_of_state` scales the cell isotropically with the atoms
    relaxed, so it measures about the Voigt bound of the relaxed-ion tensor; a true bulk modulus lies
    between Reuss and Voigt. An unstable tensor has no meaningful bounds: flagged by
    :func:`mechanical_stability` instead."""
    flags = []
    if not b_eos > 0:
        flags.append(f"! B = {b_eos:.4g} GPa <= 0: the crystal does not resist compression")
        return flags
    c = (np.asarray(c, float) + np.asarray(c, float).T) / 2
    if np.linalg.eigvalsh(c).min() <= 0:
        return flags
    bv, br = voigt_reuss_bulk(c)
    if b_eos < br * (1 - tol) or b_eos > bv * (1 + tol):
        flags.append(f"! B = {b_eos:.4g} GPa (EOS) is outside the bounds of the elastic tensor, "
                     f"Reuss {br:.4g} to Voigt {bv:.4g} GPa (±{100 * tol:g} %): implausible "
                     "(a failed EOS fit, or a structure that changes under compression)")
    return flags


def tensor_from_properties(props: Mapping[str, Any]) -> np.ndarray | None:
    """The relaxed-ion 6x6 tensor (GPa) of a :func:`gafit.properties.properties` result: the cubic
    form from C11, C12, C44, else the upper triangle Cij; None when they are missing."""
    c = np.zeros((6, 6))
    if props.get("cubic"):
        try:
            c11, c12, c44 = (float(props[k]) for k in ("C11", "C12", "C44"))
        except (KeyError, TypeError, ValueError):
            return None
        c[:3, :3] = c12
        c[np.arange(3), np.arange(3)] = c11
        c[np.arange(3, 6), np.arange(3, 6)] = c44
        return c
    for i in range(6):
        for j in range(i, 6):
            v = props.get(f"C{i + 1}{j + 1}")
            if v is None:
                return None
            c[i, j] = c[j, i] = float(v)
    return c


def _spacegroup_number(text: Any) -> int | None:
    """'Fd-3m (227)' -> 227."""
    s = str(text or "")
    if "(" in s and s.endswith(")"):
        try:
            return int(s[s.rindex("(") + 1:-1])
        except ValueError:
            return None
    return None


def property_flags(props: Mapping[str, Any]) -> dict[str, Any]:
    """Stability of a :func:`gafit.properties.properties` result: ``mechanical`` (see
    :class:`MechanicalStability`), ``bulk_modulus`` (Voigt and Reuss bounds, GPa) and ``flags``
    ('! ...' lines, empty when nothing is wrong)."""
    c = tensor_from_properties(props)
    if c is None:
        return {"flags": []}
    mech = mechanical_stability(c, _spacegroup_number(props.get("spacegroup")))
    bv, br = voigt_reuss_bulk(c)
    flags = list(mech.flags)
    if props.get("B") is not None:
        flags += bulk_modulus_consistency(float(props["B"]), c)
    return {"mechanical": mech.to_dict(),
            "bulk_modulus": {"eos_GPa": props.get("B"), "voigt_GPa": bv, "reuss_GPa": br},
            "flags": flags}


def stability_line(stability: Mapping[str, Any]) -> str:
    """The line printed when :func:`property_flags` found nothing: which criterion held and B's bounds."""
    mech = stability.get("mechanical")
    if not mech:
        return ""
    bulk = stability.get("bulk_modulus") or {}
    which = "general" if mech["system"] == "general" else f"{mech['system']} Born criteria"
    text = (f"stable: elastic tensor positive definite ({which} hold; smallest eigenvalue "
            f"{min(mech['eigenvalues_GPa']):.4g} GPa)")
    if bulk.get("eos_GPa") is not None:
        text += (f"; B within the Reuss-Voigt bounds {bulk['reuss_GPa']:.4g}-{bulk['voigt_GPa']:.4g} GPa"
                 f" (±{100 * B_TOL:g} %)")
    return text


# --------------------------------------------------------------------------- phonons


@dataclass
class ImaginaryModes:
    """Phonon modes below ``-tolerance`` THz (the three acoustic modes at Γ excepted)."""

    count: int  # modes over all q-points
    n_qpoints: int  # q-points with at least one
    lowest: float  # THz (negative), NaN when none
    where: str  # label or reduced q of the lowest
    tolerance: float

    @property
    def flags(self) -> list[str]:
        if not self.count:
            return []
        return [f"! {self.count} imaginary mode{'s' if self.count > 1 else ''} at {self.n_qpoints} "
                f"q-point{'s' if self.n_qpoints > 1 else ''} (down to {self.lowest:.3f} THz at {self.where};"
                f" negative = imaginary, tolerance {self.tolerance:g} THz): dynamically unstable"]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lowest"] = None if not self.count else self.lowest
        d["flags"] = self.flags
        return d


def imaginary_modes(frequencies: np.ndarray, gamma: Sequence[bool] | np.ndarray,
                    labels: Sequence[str] | None = None, qpoints: np.ndarray | None = None,
                    tolerance: float = IMAGINARY_TOL) -> ImaginaryModes:
    """Imaginary modes of sorted frequencies (n_q, n_modes) THz: those below ``-tolerance``, except the
    three lowest at q-points where ``gamma`` is true (the acoustic modes, zero up to numerical noise).
    ``labels``/``qpoints`` name the q-point of the lowest."""
    f = np.array(frequencies, float, ndmin=2)
    g = np.asarray(gamma, bool).reshape(-1)
    if g.shape[0] != f.shape[0]:
        raise ValueError("gamma needs one entry per q-point")
    f[g, : min(3, f.shape[1])] = np.inf
    f[~np.isfinite(f)] = np.inf
    bad = f < -tolerance
    if not bad.any():
        return ImaginaryModes(0, 0, float("nan"), "", tolerance)
    k, m = np.unravel_index(np.argmin(f), f.shape)
    where = labels[k] if labels is not None and labels[k] else ""
    if not where and qpoints is not None:
        where = "q = (" + ", ".join(f"{x:.3g}" for x in np.asarray(qpoints)[k]) + ")"
    return ImaginaryModes(int(bad.sum()), int(bad.any(axis=1).sum()), float(f[k, m]),
                          where or f"q-point {k + 1}", tolerance)


# --------------------------------------------------------------------------- energy offsets


@dataclass
class E0Check:
    """Plausibility of the energy offsets (eV/atom), at the data's lowest-energy structure ('ground')."""

    data_energy: float  # reference energy per atom of the ground structure
    form_energy: float  # the form's own energy per atom there (prediction without E0)
    e0_energy: float  # Σ n_s E0_s / N there
    coulomb: bool
    flags: list[str]

    @property
    def plausible(self) -> bool:
        return not self.flags

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "plausible": self.plausible, "cohesive_max_eV_per_atom": COHESIVE_MAX}


def e0_plausibility(data_energy: np.ndarray, form_energy: np.ndarray, e0_energy: np.ndarray,
                    coulomb: bool = False) -> E0Check | None:
    """Whether fitted offsets E0 leave the potential a plausible energy scale.

    Per structure (eV/atom): the reference energy, the form's own energy (the prediction minus the
    E0 of its atoms) and the E0 part. The form's energy is zero for separated atoms (ions, for a form
    with Coulomb charges), so minus the form's energy per atom is the potential's own cohesive energy,
    and E0_s is the energy of an isolated atom s in the data's reference. At the data's lowest-energy
    structure per atom ('ground') E0 is implausible when:

    1. the form's own energy is > 0: the form does not bind the data's most stable structure and the
       E0 carry all of the binding;
    2. (not with Coulomb charges, whose reference is separated ions) the form's own energy is below
       -COHESIVE_MAX eV/atom: deeper than any element's cohesive energy (W 8.90, C 7.37 eV/atom);
    3. (not with Coulomb charges) the data's energies are themselves on a cohesive scale (ground
       between -COHESIVE_MAX and COHESIVE_SCALE_TOP eV/atom, e.g. VASP energies) and |E0 part|
       exceeds the data's own |energy per atom|: an isolated atom is then put farther from the
       reference than the crystal.

    Large E0 of codes with all-electron total energies (ground far below -COHESIVE_MAX) pass rule 3
    by design. Returns None when no structure has a finite reference energy."""
    d = np.asarray(data_energy, float)
    ok = np.isfinite(d)
    if not ok.any():
        return None
    k = int(np.flatnonzero(ok)[np.argmin(d[ok])])
    de, fe, ee = float(d[k]), float(np.asarray(form_energy, float)[k]), float(np.asarray(e0_energy, float)[k])
    flags = []
    scale = f"(data {de:.4g} eV/atom, E0 part {ee:+.4g} eV/atom)"
    if fe > 0:
        flags.append(f"! the form's own energy is {fe:+.4g} eV/atom at the data's lowest-energy structure "
                     f"{scale}: it does not bind it, E0 carries the binding: implausible E0")
    if not coulomb and fe < -COHESIVE_MAX:
        flags.append(f"! the form's own energy is {fe:.4g} eV/atom at the data's lowest-energy structure "
                     f"{scale}: a cohesive energy beyond {COHESIVE_MAX:g} eV/atom (W 8.90): implausible E0")
    if not coulomb and -COHESIVE_MAX <= de <= COHESIVE_SCALE_TOP and abs(ee) > abs(de):
        flags.append(f"! E0 part {ee:+.4g} eV/atom exceeds the data's own energy per atom {de:.4g} "
                     f"(cohesive-scale data; form's own {fe:.4g} eV/atom): implausible E0")
    return E0Check(de, fe, ee, coulomb, flags)


def cohesive_range(data_energy: float, coulomb: bool = False) -> tuple[float, float]:
    """The plausible range (low, high) of the form's own cohesive energy (eV/atom, minus its energy
    per atom without E0) at the data's lowest-energy structure, whose reference energy per atom is
    ``data_energy``: the rules of :func:`e0_plausibility` restated on the form's energy alone, as
    ``[constraints] e0_range = "data"`` enforces them (gafit.guards).

    Rule 1 gives low = 0; rule 2 (not with Coulomb charges) high = COHESIVE_MAX; rule 3 (not with
    Coulomb charges, cohesive-scale data) |E0 part| <= |data| with E0 part = data - form energy (what
    the offsets are when the ground structure's energy is fitted exactly) gives high = 2 |data|."""
    if coulomb:
        return 0.0, float("inf")
    high = COHESIVE_MAX
    if -COHESIVE_MAX <= data_energy <= COHESIVE_SCALE_TOP:
        high = min(high, 2 * abs(float(data_energy)))
    return 0.0, float(high)


def e0_check_of(potential: Any, data: Any, energy: np.ndarray, e0: Mapping[str, float]) -> E0Check | None:
    """:func:`e0_plausibility` of a :class:`~gafit.potential.Potential` on a
    :class:`~gafit.structures.ReferenceSet` with predicted energies ``energy`` (S,) eV including the
    offsets ``e0`` (species -> eV/atom)."""
    from gafit.nac import coulomb_charges

    n = np.array([st.n_atoms for st in data], float)
    ref = np.array([np.nan if st.energy is None else st.energy for st in data], float) / n
    offs = np.array([sum(e0.get(s, 0.0) for s in st.atoms.get_chemical_symbols()) for st in data]) / n
    form = np.asarray(energy, float) / n - offs
    return e0_plausibility(ref, form, offs, coulomb_charges(potential) is not None)
