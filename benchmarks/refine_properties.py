"""Least-squares refinement of a fit with [[properties]] targets: the mixed Jacobian (analytic rows for
energies, forces and stresses, forward-difference rows for the property targets) against forward
differences of the whole residual vector, from the same start, in the same run.

Case: potentials/Si_mlearn_fit.toml (Tersoff, 12 free parameters, mlearn_Si training set) with the six
diamond-Si targets of benchmarks/property_targets_cost.py; the start is the config's start file
(Tersoff 1988) with every free parameter moved by 2 % (seeded). CPU time (process_time: the machine
is shared): one Jacobian each way and one residual vector (best of 3), and whole refinements with
final loss and residual vectors computed.

Run: python benchmarks/refine_properties.py [--evaluations 60]   (needs ../shared/data)
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from common import fit_of  # noqa: E402
from property_targets_cost import TARGETS  # noqa: E402

from gafit.property_target import PropertyTargetConfig  # noqa: E402
from gafit.refine import batched_jacobian, refine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "potentials/Si_mlearn_fit.toml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evaluations", type=int, default=60, help="max_evaluations of each refinement")
    args = ap.parse_args()
    fit = fit_of(ROOT / CONFIG, properties=[PropertyTargetConfig(k, r, t, "diamond", ["Si"], 5.43)
                                            for k, r, t in TARGETS])
    objective, space, train = fit.objective, fit.space, fit.train
    rng = np.random.default_rng(0)
    x0 = np.clip(space.start() * (1 + 0.02 * rng.standard_normal(space.n_free)),
                 space.lower, space.upper)
    print(f"{CONFIG} + {len(TARGETS)} diamond-Si property targets: {len(train)} structures, "
          f"{space.n_free} free parameters, start loss {objective.loss(x0[None])[0]:.6g}; "
          f"load average {os.getloadavg()[0]:.1f}")
    fd = batched_jacobian(objective.residuals, space.lower, space.upper)
    for name, jac in (("mixed Jacobian", objective.jacobian), ("forward differences", fd),
                      ("residual vector", lambda x: objective.residuals(x[None]))):
        times = []
        for _ in range(3):
            t0 = time.process_time()
            jac(x0)
            times.append(time.process_time() - t0)
        print(f"  one {name:<20} CPU {min(times):.3f} s (best of 3); load average "
              f"{os.getloadavg()[0]:.1f}")
    for name, analytic in (("mixed Jacobian", objective.jacobian), ("forward differences", None)):
        t0 = time.process_time()
        res = refine(objective.residuals, x0, space.lower, space.upper, args.evaluations,
                     analytic=analytic)
        cpu = time.process_time() - t0
        print(f"  {name:<20} CPU {cpu:7.1f} s, loss {res.loss:.6g}, {res.evaluations} residual "
              f"vectors ({res.analytic_jacobians} mixed Jacobians); load average "
              f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
