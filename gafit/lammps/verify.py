"""Compare gafit's energies, forces and stresses with LAMMPS running gafit's exported files."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gafit.evaluate import predict
from gafit.lammps.files import atom_style, write_lammps
from gafit.lammps.runner import LammpsEvaluator
from gafit.potential import Potential
from gafit.structures import ReferenceSet

#: energies are compared relative to ``max(|E|, ENERGY_FLOOR x n_atoms)``, eV
ENERGY_FLOOR = 1e-3


@dataclass
class VerifyReport:
    """Largest differences gafit - LAMMPS per quantity over all structures.

    Energies are compared per structure relative to ``|E|`` (at least 1 meV per atom). Forces and
    stresses are compared relative to the largest ``|F_ic|`` and ``|σ_v|`` LAMMPS gives over the whole data
    set: a perfect crystal's forces are zero by symmetry, and its rounding noise (1e-14 eV/Å) has no
    meaningful scale of its own. For a potential of several terms the stress scale is at least the
    largest ``|σ_v|`` any one term gives (:func:`term_stress_scale`): at a fitted equilibrium cell
    Buckingham and Coulomb stresses of ~1 eV/Å³ cancel to ~1e-5, and the rounding is relative to
    the terms, not to what is left of their sum.
    """

    max_abs: dict[str, float] = field(default_factory=dict)
    max_rel: dict[str, float] = field(default_factory=dict)
    worst: dict[str, str] = field(default_factory=dict)
    n_structures: int = 0

    @property
    def max_relative(self) -> float:
        return max(self.max_rel.values(), default=0.0)

    def text(self) -> str:
        units = {"energy": "eV", "forces": "eV/Å", "stress": "eV/Å³"}
        lines = [f"gafit vs LAMMPS on {self.n_structures} structures:"]
        for q in ("energy", "forces", "stress"):
            if q in self.max_abs:
                lines.append(
                    f"  {q:7s} max |Δ| {self.max_abs[q]:.3e} {units[q]:5s} "
                    f"max relative {self.max_rel[q]:.3e}  (worst: {self.worst[q]})"
                )
        return "\n".join(lines)


def lammps_predictions(
    potential: Potential, data: ReferenceSet, workdir: Path | None = None
) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """LAMMPS (E with E0 added, F, stress) per structure, running the files gafit exports."""
    with tempfile.TemporaryDirectory(prefix="gafit-verify-") as tmp:
        folder = Path(workdir or tmp)
        pair = write_lammps(potential, folder)
        e0 = dict(zip(potential.species, potential.values[potential.e0_slice], strict=True))
        with LammpsEvaluator(potential.species, [f"include {pair.name}"], folder,
                             atom_style(potential)) as lmp:
            results = lmp.compute([s.atoms for s in data])
    out = []
    for st, (e, f, s) in zip(data, results, strict=True):
        out.append((e + sum(e0[x] for x in st.atoms.get_chemical_symbols()), f, s))
    return out


def term_stress_scale(potential: Potential, data: ReferenceSet) -> float:
    """Largest ``|σ_v|`` (eV/Å³) that any single form of ``potential`` gives over ``data``; 0 for a
    potential of one form (its stress is its only term)."""
    if len(potential.forms) < 2:
        return 0.0
    e0 = np.zeros(len(potential.species))
    largest = 0.0
    for form, sl in zip(potential.forms, potential.form_slices(), strict=True):
        alone = Potential(potential.species, [form], np.concatenate([potential.values[sl], e0]))
        _, _, stress = predict(alone, data)
        finite = stress[np.isfinite(stress).all(axis=1)]
        if finite.size:
            largest = max(largest, float(np.abs(finite).max()))
    return largest


def verify(potential: Potential, data: ReferenceSet) -> VerifyReport:
    """Run LAMMPS and gafit on every structure of ``data`` and report the largest differences."""
    energy, forces, stress = predict(potential, data)
    lmp = lammps_predictions(potential, data)
    report = VerifyReport(n_structures=len(data))
    scale = {
        "forces": max((float(np.abs(f).max()) for _, f, _ in lmp if f.size), default=0.0),
        "stress": max((float(np.abs(s).max()) for _, _, s in lmp if np.isfinite(s).all()),
                      default=0.0),
    }
    scale["stress"] = max(scale["stress"], term_stress_scale(potential, data))
    start = 0
    for k, (st, (e_l, f_l, s_l)) in enumerate(zip(data, lmp, strict=True)):
        n = st.n_atoms
        diffs = {
            "energy": abs(energy[k] - e_l),
            "forces": float(np.abs(forces[start : start + n] - f_l).max()) if n else 0.0,
        }
        if np.isfinite(stress[k]).all() and np.isfinite(s_l).all():
            diffs["stress"] = float(np.abs(stress[k] - s_l).max())
        start += n
        for q, diff in diffs.items():
            ref = max(abs(e_l), ENERGY_FLOOR * n) if q == "energy" else scale[q]
            rel = diff / ref if ref > 0 else (0.0 if diff == 0 else np.inf)
            if rel >= report.max_rel.get(q, -1.0):
                report.max_rel[q] = rel
                report.worst[q] = st.name or f"structure {k}"
            report.max_abs[q] = max(report.max_abs.get(q, 0.0), diff)
    return report
