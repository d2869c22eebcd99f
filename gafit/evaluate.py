"""Predictions of a fixed potential on reference data, and its errors against the reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gafit.forms import Prediction
from gafit.objective import PROPERTIES, UNITS, Objective, Targets, rmse_by_config_type, rmse_of
from gafit.parameters import build_space
from gafit.potential import Potential, PotentialTables
from gafit.structures import ReferenceSet, Structure


@dataclass
class Evaluation:
    """Energies (S,) eV with E0, forces (N, 3) eV/Å, stresses (S, 6) eV/Å³ (NaN if not periodic)."""

    energy: np.ndarray
    forces: np.ndarray
    stress: np.ndarray
    rmse: dict[str, float]  # per property, in objective.UNITS
    by_config_type: dict[str, dict[str, float]]
    e0: dict[str, float]  # the offsets used, eV/atom

    def table(self) -> str:
        """Plain-text RMSE table per config_type."""
        head = f"{'config_type':24s}" + "".join(f"{p + ' (' + UNITS[p] + ')':>22s}"
                                                  for p in PROPERTIES)
        rows = [head]
        for group, row in self.by_config_type.items():
            rows.append(f"{group:24s}" + "".join(f"{row[p]:22.6g}" for p in PROPERTIES))
        return "\n".join(rows)


def evaluate(potential: Potential, data: ReferenceSet, best_e0: bool = False) -> Evaluation:
    """Predict ``data`` with ``potential``; ``best_e0`` uses the E0 that minimise the energy RMSE."""
    obj = Objective.fixed(potential, data, best_e0=best_e0)
    theta, pred = obj.evaluate(np.zeros((1, 0)))
    return _evaluation(potential, theta, pred, obj.tables, obj.targets)


def evaluate_on(potential: Potential, tables: PotentialTables, targets: Targets) -> Evaluation:
    """:func:`evaluate` (E0 as given) on geometry tables and targets already built for the data
    (an :class:`Objective`'s, of a potential with the same forms): no geometry is rebuilt."""
    space = build_space(potential, potential.named_values())
    theta = space.expand(np.zeros((1, 0)))
    with np.errstate(all="ignore"):
        pred = potential.evaluate(theta, tables)
    return _evaluation(potential, theta, pred, tables, targets)


def _evaluation(potential: Potential, theta: np.ndarray, pred: Prediction,
                tables: PotentialTables, targets: Targets) -> Evaluation:
    diff = targets.differences(pred)
    e0 = theta[0, potential.e0_slice]
    return Evaluation(
        energy=pred.energy[0],
        forces=pred.forces[0].reshape(-1, 3),
        stress=pred.virial[0] / tables.volume_s[:, None],
        rmse=rmse_of(diff)[0],
        by_config_type=rmse_by_config_type(targets, diff),
        e0=dict(zip(potential.species, map(float, e0), strict=True)),
    )


def predict(potential: Potential, data: ReferenceSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energies (S,) eV with E0, forces (N, 3) eV/Å, stresses (S, 6) eV/Å³ (NaN if not periodic)."""
    ev = evaluate(potential, data)
    return ev.energy, ev.forces, ev.stress


def predicted_structures(data: ReferenceSet, ev: Evaluation) -> ReferenceSet:
    """Copies of the structures of ``data`` carrying the predicted energy, forces and stress."""
    out, start = [], 0
    for k, st in enumerate(data):
        n = st.n_atoms
        out.append(Structure(
            atoms=st.atoms.copy(), energy=float(ev.energy[k]),
            forces=ev.forces[start:start + n].copy(),
            stress=ev.stress[k].copy() if np.isfinite(ev.stress[k]).all() else None,
            weight=st.weight, config_type=st.config_type, name=st.name, info=dict(st.info),
        ))
        start += n
    return ReferenceSet(out, data.source)


def evaluate_potential(
    potential: Potential, data: ReferenceSet, best_e0: bool = False
) -> tuple[ReferenceSet, dict[str, float]]:
    """Structures with predicted targets, and RMSEs against the reference values present."""
    ev = evaluate(potential, data, best_e0)
    return predicted_structures(data, ev), ev.rmse
