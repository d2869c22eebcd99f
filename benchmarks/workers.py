"""Speed-up of evaluating a population of 200 on ../shared/data/gpuga_Si_diamond with 2 worker
processes against 1, measured in the same run (best of 5 each).

Run: python benchmarks/workers.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from common import fit_of

from gafit.parallel import PopulationEvaluator

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    if not (ROOT.parent / "shared" / "data" / "gpuga_Si_diamond").exists():
        print("skipped: ../shared/data/gpuga_Si_diamond not found")
        return 0
    fit = fit_of(ROOT / "benchmarks" / "gpuga_race.toml")
    objective, space, train = fit.objective, fit.space, fit.train
    x = space.from_unit(np.random.default_rng(0).random((200, space.n_free)))
    times = {}
    for workers in (1, 2):
        with PopulationEvaluator(objective, workers) as pool:
            pool.loss(x)  # warm up (fork, first touch)
            best = np.inf
            for _ in range(5):
                t0 = time.perf_counter()
                losses = pool.loss(x)
                best = min(best, time.perf_counter() - t0)
            times[workers] = (best, losses)
    np.testing.assert_array_equal(times[1][1], times[2][1])
    print(f"population 200 on gpuga_Si_diamond ({train.n_atoms} atoms): 1 worker "
          f"{times[1][0]:.3f} s, 2 workers {times[2][0]:.3f} s per generation; speed-up "
          f"{times[1][0] / times[2][0]:.2f}x (identical losses)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
