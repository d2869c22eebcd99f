"""Predictions of a fixed potential on reference data, as structures carrying the predicted values."""

from __future__ import annotations

import numpy as np

from gafit.objective import Objective, rmse_of
from gafit.potential import Potential
from gafit.structures import ReferenceSet, Structure


def predict(potential: Potential, data: ReferenceSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energies (S,) eV with E0, forces (N, 3) eV/Å, stresses (S, 6) eV/Å³ (NaN if not periodic)."""
    energy, forces, stress, _ = _predict(potential, data)
    return energy, forces, stress


def _predict(potential: Potential, data: ReferenceSet):
    obj = Objective.fixed(potential, data)
    _, pred = obj.evaluate(np.zeros((1, 0)))
    stress = pred.virial[0] / obj.tables.volume_s[:, None]
    rmse = rmse_of(obj.targets.differences(pred))[0]
    return pred.energy[0], pred.forces[0].reshape(-1, 3), stress, rmse


def evaluate_potential(
    potential: Potential, data: ReferenceSet
) -> tuple[ReferenceSet, dict[str, float]]:
    """Structures with predicted targets, and RMSEs against the reference values present."""
    energy, forces, stress, rmse = _predict(potential, data)
    out, start = [], 0
    for k, st in enumerate(data):
        n = st.n_atoms
        out.append(Structure(
            atoms=st.atoms.copy(), energy=float(energy[k]),
            forces=forces[start:start + n].copy(),
            stress=stress[k].copy() if np.isfinite(stress[k]).all() else None,
            weight=st.weight, config_type=st.config_type, name=st.name, info=dict(st.info),
        ))
        start += n
    return ReferenceSet(out, data.source), rmse
