"""Stability guards as constraints in the fit (``[constraints] stable`` and ``e0_range``).

The flags of :mod:`gafit.stability` say after a fit that a potential is unphysical where it is used;
these guards keep the fit from getting there. Each is a set of channels whose breach (in the
channel's natural unit, 0 exactly when the condition holds) the objective turns into one penalty
residual per channel, PENALTY x breach, as it does the wall constraint's (:mod:`gafit.walls`):

- :class:`StabilityGuard` (``stable``): the Born criteria of every property structure's relaxed-ion
  elastic constants at its own relaxed lattice (cubic: C11 - C12 > 0, C11 + 2 C12 > 0, C44 > 0;
  breach in GPa), from the batched :class:`gafit.property_target.PropertyTargets` cells (tabulated
  with their strained and displaced cells when the guard is on, whether or not a Cij is a target);
  and per phonon target, the imaginary modes of its reference crystal at the target's q-points plus Γ
  (breach: the sum over modes of how far ω² lies below -tolerance², THz²; Γ's three acoustic modes
  excepted). The Born margins must reach BORN_MARGIN, not just 0.
- :class:`E0Guard` (``e0_range``): the form's own cohesive energy (the isolated atoms' energy minus
  the energy, the E0 offsets cancel) of the most bound of the data's lowest-energy training frame and
  the property structures lies within a range (eV/atom): "data" is the rule of
  :func:`gafit.stability.e0_plausibility` (see :func:`gafit.stability.cohesive_range`).

The breaches are margins of smooth functions of the parameters (hinges max(0, -margin)), so the GA
and the least squares both see how far a candidate is from holding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gafit.stability import IMAGINARY_TOL, cohesive_range
from gafit.structures import GafitInputError, ReferenceSet, Structure

if TYPE_CHECKING:
    from gafit.phonons import PhononBatch
    from gafit.phonons.target import PhononTarget
    from gafit.potential import Potential
    from gafit.property_target import PropertyTargets

__all__ = ["E0Guard", "StabilityGuard", "e0_default", "e0_guard", "guard_table", "phonon_flags",
           "property_stability_flags", "stability_guard", "stable_default"]

#: the Born margins must reach this much (GPa), not just 0: the batched Cij (strain 0.001, cubic
#: interpolation to the relaxed lattice) agree with gafit.properties' (strain 0.005, ASE relaxation)
#: to about 1 %, so a fit that ends on the boundary would otherwise flip either way when judged there
BORN_MARGIN = 1.0
#: the cubic Born criteria: (channel suffix, coefficients of C11, C12, C44 in the margin)
BORN_CUBIC = (("C11-C12", (1.0, -1.0, 0.0)), ("C11+2C12", (1.0, 2.0, 0.0)), ("C44", (0.0, 0.0, 1.0)))


def _elastic(configs: list[Any]) -> bool:
    return any(c.property.startswith("C") for c in configs)


def stable_default(setting: bool | None, properties: list[Any], phonons: list[Any]) -> bool:
    """Whether ``[constraints] stable`` is on: the setting, or (None) on when an elastic constant is
    a [[properties]] target or there are [phonons] targets (then the cells it needs are tabulated
    anyway, so it costs little)."""
    if setting is not None:
        if setting and not properties and not phonons:
            raise GafitInputError("[constraints] stable = true: nothing to guard (the Born criteria "
                                  "need [[properties]] structures, the imaginary modes [phonons] "
                                  "targets); remove it or add targets")
        return bool(setting)
    return _elastic(properties) or bool(phonons)


def e0_default(setting: object, properties: list[Any], phonons: list[Any]) -> object:
    """``[constraints] e0_range``: the setting, or (None) "data" when there are [[properties]] or
    [phonons] targets, else "off". Those targets pull the form away from the frames' energies
    (issue 13: a Si Tersoff fitted to phonons ended at E0 = +8.41 eV/atom); on a fit to frames alone
    a penalty on the GA's wild early candidates reorders them and changes where a seed's search
    goes (tests/fit/test_fit.py's two-species Morse then misses its known minimum), for flags that the
    summary prints anyway."""
    if setting is not None:
        return setting
    return "data" if properties or phonons else "off"


# --------------------------------------------------------------------------- mechanical + dynamical


@dataclass
class StabilityGuard:
    """Born criteria of the property structures and imaginary modes of the phonon targets."""

    properties: PropertyTargets | None  # every cell tabulated with its elastic cells
    phonons: list[PhononTarget]
    gamma: list[PhononBatch | None]  # per phonon target: a Γ batch where Γ is not among its q-points
    channels: list[str]
    units: list[str]
    tolerance: float = IMAGINARY_TOL  # THz
    margin: float = BORN_MARGIN  # GPa

    def violation(self, theta: np.ndarray) -> np.ndarray:
        """Breach (B, C) per channel for full vectors theta (B, n): GPa for a Born criterion (how far
        its margin is below ``margin``), THz²
        for a phonon target; NaN where the values are not finite."""
        theta = np.atleast_2d(theta)
        cols = []
        with np.errstate(all="ignore"):
            if self.properties is not None:
                for v in self.properties.cell_values(theta):
                    if "C11" not in v:  # a hexagonal or tetragonal cell: no Born criteria yet
                        continue
                    for _, (a, b, c) in BORN_CUBIC:
                        margin = a * v["C11"] + b * v["C12"] + c * v["C44"]
                        cols.append(np.where(np.isfinite(margin),
                                             np.maximum(self.margin - margin, 0.0), np.nan))
            for target, gamma in zip(self.phonons, self.gamma, strict=True):
                f = target.frequencies(theta)  # (B, n_q, n_modes) THz
                is_g = np.all(np.abs(target.qpoints) < 1e-9, axis=1)
                if gamma is not None:
                    f = np.concatenate([f, gamma.frequencies(theta)], axis=1)
                    is_g = np.append(is_g, True)
                cols.append(imaginary_breach(f, is_g, self.tolerance))
        return np.stack(cols, axis=1) if cols else np.zeros((len(theta), 0))


def imaginary_breach(f: np.ndarray, gamma: np.ndarray, tolerance: float = IMAGINARY_TOL) -> np.ndarray:
    """Σ max(0, -ω² - tolerance²) (B,) THz² over sorted frequencies f (B, n_q, n_modes) THz
    (negative = imaginary), the three lowest at q-points where ``gamma`` is true left out (the
    acoustic modes); NaN where a frequency is NaN."""
    w2 = f * np.abs(f)
    w2[:, np.asarray(gamma, bool), : min(3, f.shape[2])] = 0.0
    return np.maximum(-w2 - tolerance**2, 0.0).sum(axis=(1, 2))


def stability_guard(properties: PropertyTargets | None, phonons: list[PhononTarget]
                    ) -> StabilityGuard | None:
    """The guard of the property cells (which must have their elastic cells) and phonon targets;
    None when there is nothing to guard."""
    from gafit.phonons import PhononBatch, to_ase_atoms

    channels, units = [], []
    if properties is not None:
        cubic = [getattr(cell, "elastic", None) is not None for cell in properties.cells]
        for cell, is_cubic in zip(properties.cells, cubic, strict=True):
            if is_cubic and not cell.elastic:
                raise ValueError("the stability guard needs the property cells' elastic cells")
        names = [n for n, is_cubic in zip(_cell_names(properties), cubic, strict=True) if is_cubic]
        for name in names:
            channels += [f"{name} {suffix}" for suffix, _ in BORN_CUBIC]
            units += ["GPa"] * len(BORN_CUBIC)
    gamma: list[PhononBatch | None] = []
    for t in phonons:
        channels.append(f"phonons {t.config.reference.name}")
        units.append("THz²")
        if np.any(np.all(np.abs(t.qpoints) < 1e-9, axis=1)):
            gamma.append(None)
        else:  # Γ at the reference geometry, without the non-analytic term (it only raises the LO)
            ph = t.batch.phonopy
            gamma.append(PhononBatch(t.batch.potential, to_ase_atoms(ph.unitcell),
                                     np.asarray(ph.supercell_matrix), np.zeros((1, 3)),
                                     t.config.displacement))
    if not channels:
        return None
    return StabilityGuard(properties if properties is not None and properties.cells else None,
                          list(phonons), gamma, channels, units)


def _cell_names(properties: PropertyTargets) -> list[str]:
    """A name per property cell: its structure (with species for a lattice name)."""
    specs: dict[int, tuple[str, list[str] | None]] = {}
    relative_of = properties.relative_of or [-1] * len(properties.configs)
    for c, k, r in zip(properties.configs, properties.cell_of, relative_of, strict=True):
        specs.setdefault(k, (c.structure, c.species))
        if r >= 0:  # a structure only a dE target's relative_to names
            specs.setdefault(r, (c.relative_to.structure, c.relative_to.species))
    return [s + (f" {'-'.join(sp)}" if sp else "")
            for s, sp in (specs[k] for k in range(len(properties.cells)))]


# --------------------------------------------------------------------------- energy offsets


@dataclass
class E0Guard:
    """The form's own cohesive energy (eV/atom) of the most bound of the ground training frame and
    the property structures within [low, high]."""

    potential: Potential
    tables: Any  # the ground training frame's tables
    n_atoms: int
    low: float  # eV/atom
    high: float  # eV/atom (inf: no upper bound)
    setting: object
    ground: str  # name of the ground frame
    data_energy: float  # its reference energy per atom
    properties: PropertyTargets | None = None
    channels: list[str] = field(default_factory=lambda: ["E_coh low", "E_coh high"])
    units: list[str] = field(default_factory=lambda: ["eV/atom", "eV/atom"])

    def cohesive(self, theta: np.ndarray) -> np.ndarray:
        """The form's own cohesive energy (B,) eV/atom: minus its energy per atom without E0 at the
        ground frame, or a property structure's E_coh at its relaxed lattice where larger."""
        theta = np.atleast_2d(theta)
        form = np.array(theta, float)
        form[:, self.potential.e0_slice] = 0.0  # the form's own energy: E0 cancels
        with np.errstate(all="ignore"):
            coh = -self.potential.evaluate(form, self.tables).energy[:, 0] / self.n_atoms
            if self.properties is not None:
                for v in self.properties.cell_values(theta):
                    coh = np.fmax(coh, v["E_coh"])
        return coh

    def violation(self, theta: np.ndarray) -> np.ndarray:
        """Breach (B, 2) eV/atom: how far below ``low`` and above ``high`` the cohesive energy is;
        NaN where it is not finite."""
        coh = self.cohesive(theta)
        with np.errstate(invalid="ignore"):
            low = np.where(np.isfinite(coh), np.maximum(self.low - coh, 0.0), np.nan)
            high = np.where(np.isfinite(coh), np.maximum(coh - self.high, 0.0), np.nan)
        return np.stack([low, high], axis=1)


def e0_guard(potential: Potential, refset: ReferenceSet, setting: object,
             properties: PropertyTargets | None = None) -> E0Guard | None:
    """The guard of ``[constraints] e0_range``: "data" (:func:`gafit.stability.cohesive_range` of
    the data's lowest energy per atom), [low, high] eV/atom, or "off"; None when off or when no
    training frame has an energy."""
    from gafit.nac import coulomb_charges

    if setting == "off":
        return None
    frames = [(st.energy / st.n_atoms, k) for k, st in enumerate(refset)
              if st.energy is not None and np.isfinite(st.energy)]
    if not frames:
        return None
    de, k = min(frames)
    ground = refset[k]
    if setting == "data":
        low, high = cohesive_range(de, coulomb_charges(potential) is not None)
    else:
        low, high = (float(x) for x in setting)  # type: ignore[union-attr]
    tables = potential.build_tables(ReferenceSet([Structure(ground.atoms)], "E0 guard frame"))
    name = ground.name or f"frame {k + 1}"
    return E0Guard(potential, tables, ground.n_atoms, low, high, setting, name, float(de),
                   properties if properties is not None and properties.cells else None)


# --------------------------------------------------------------------------- summary


def guard_table(guard: StabilityGuard | E0Guard, theta: np.ndarray, what: str) -> dict:
    """The summary's record of one guard for one full vector: ``what`` ("stability" or "e0"),
    ``held``, per channel its breach (in its unit) and whether it held; for "e0" also the range and
    the cohesive energy."""
    v = guard.violation(np.atleast_2d(theta))[0]
    rows = [{"channel": ch, "violation": float(x), "unit": u, "held": bool(x == 0.0)}
            for ch, x, u in zip(guard.channels, v, guard.units, strict=True)]
    out: dict[str, Any] = {"guard": what, "held": all(r["held"] for r in rows), "channels": rows}
    if isinstance(guard, E0Guard):
        out |= {"setting": guard.setting, "low": guard.low,
                "high": guard.high if np.isfinite(guard.high) else None,
                "cohesive": float(guard.cohesive(np.atleast_2d(theta))[0]), "ground": guard.ground,
                "data_energy": guard.data_energy}
    return out


def guard_line(rows: list[dict]) -> str:
    """'e0 held (E_coh 4.63 eV/atom in 0-9.26); stability NOT held: diamond Si C44 (3.2 GPa)'."""
    parts = []
    for g in rows:
        broken = [f"{c['channel']} ({c['violation']:.3g} {c['unit']})" for c in g["channels"]
                  if not c["held"]]
        text = g["guard"] + (" held" if g["held"] else " NOT held: " + ", ".join(broken))
        if g["guard"] == "e0":
            hi = "∞" if g["high"] is None else f"{g['high']:.4g}"
            text += f" (form's E_coh {g['cohesive']:.4g} eV/atom, range {g['low']:.4g}-{hi})"
        parts.append(text)
    return "; ".join(parts)


def property_stability_flags(properties: PropertyTargets, theta: np.ndarray) -> list[str]:
    """'! NAME: ...' Born flags (:func:`gafit.stability.mechanical_stability`) of every property
    structure whose elastic cells are tabulated, at one full vector theta; empty when all hold."""
    from gafit.properties import symmetry
    from gafit.stability import mechanical_stability

    out = []
    values = properties.cell_values(np.atleast_2d(theta))
    for name, cell, v in zip(_cell_names(properties), properties.cells, values, strict=True):
        if not getattr(cell, "elastic", False):  # hexagonal cells have no Cij yet
            continue
        c11, c12, c44 = (float(v[k][0]) for k in ("C11", "C12", "C44"))
        c = np.zeros((6, 6))
        c[:3, :3] = c12
        c[np.arange(3), np.arange(3)] = c11
        c[np.arange(3, 6), np.arange(3, 6)] = c44
        if not np.isfinite(c).all():
            out.append(f"! {name}: elastic constants not finite")
            continue
        out += [f"! {name}: {f.removeprefix('! ')}"
                for f in mechanical_stability(c, symmetry(cell.atoms)[1]).flags]
    return out


def phonon_flags(tables: list[list[dict]]) -> list[str]:
    """'! phonon target k: ...' imaginary-mode flags (:func:`gafit.stability.imaginary_modes`) of
    the fit summary's phonon tables (per target, per q-point: label, gafit frequencies)."""
    from gafit.stability import imaginary_modes

    out = []
    for k, rows in enumerate(tables):
        if not rows:
            continue
        freq = np.array([r["gafit"] for r in rows], float)
        labels = [r["label"] for r in rows]
        res = imaginary_modes(freq, [lab == "Γ" for lab in labels], labels)
        out += [f"! phonon target {k + 1}: {f.removeprefix('! ')}" for f in res.flags]
    return out
