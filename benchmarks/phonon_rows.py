"""What a phonon target's rows cost at one parameter vector (issue 17), per target of a config, at its
start parameters (best of 300 calls, wall time): its dynamical matrices from the supercells' forces
through every product of phonopy's map (``RowMap``) and through the lower triangle the batches take
(``HermitianRowMap``), and the frequencies' slopes (:func:`eigen_frequency_slopes`) that its Jacobian
rows need. Compare versions by running it with ``PYTHONPATH`` at each tree.

Run: python benchmarks/phonon_rows.py potentials/ZnO_buck_coul.toml [more.toml ...]
"""

from __future__ import annotations

import os
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from gafit.config import load_config  # noqa: E402
from gafit.fitting import Fit  # noqa: E402
from gafit.phonons.harmonic import eigen_frequency_slopes  # noqa: E402
from gafit.phonons.linear_map import RowMap  # noqa: E402


def best_us(fn, calls: int = 300) -> float:
    fn()
    best = np.inf
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return round(best * 1e6, 1)


def measure_batch(batch, theta: np.ndarray, dtheta: np.ndarray | None) -> dict:
    """The three timings of one target's batch at the full vector theta."""
    forces = batch.forces(theta[None]).reshape(1, -1)
    full = RowMap(batch.forces_to_dyn)
    dyn = batch.dynamical_matrices(forces, theta[None])[0]
    ddyn = batch.dynamical_slopes(theta, dtheta) if dtheta is not None else None
    return {"qpoints": len(batch.qpoints), "modes": batch.n_modes,
            "map": list(batch.forces_to_dyn.shape),
            "every product us": best_us(lambda: full(forces)),
            "lower triangle us": best_us(lambda: batch.dynamical_matrices(forces, theta[None])),
            "slopes us": (best_us(lambda: eigen_frequency_slopes(dyn, ddyn, batch.factor))
                          if ddyn is not None else None)}


def measure(path: str) -> list[dict]:
    objective = Fit.from_config(load_config(path)).objective
    x = objective.space.start()
    at = objective.linearisation(x)
    theta = objective.space.expand(x[None])[0]
    batches = [getattr(getattr(term, "target", None), "batch", None) for term in objective.terms]
    return [{"config": path} | measure_batch(b, theta, None if at is None else at.dtheta)
            | {"load": round(os.getloadavg()[0], 1)} for b in batches if b is not None]


def main() -> None:
    for path in sys.argv[1:]:
        for row in measure(path):
            print(row, flush=True)


if __name__ == "__main__":
    sys.exit(main())
