"""The refinement's share of a fit's wall time (issue 17): per config, the GA and the least squares
timed apart (wall and this process's CPU), the GA's and the refinement's best losses, and where the
refinement's time goes (residual vectors, Jacobians, the rest: scipy's own arithmetic).

The profile is taken in this process, so it is exact only with ``[ga] workers = 1`` (with workers
the refinement's starts run there and only their wall time shows here).

Run: python benchmarks/refine_share.py potentials/MgO_buck_coul.toml [more.toml ...]
         [--generations N] [--population N] [--workers N] [--seed N] [--starts N]
         [--max-evaluations N]
         [--jacobian auto|analytic|finite-difference] [--method trf|lm]
         [--per-start] [--json out.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from gafit.config import JACOBIANS, load_config  # noqa: E402
from gafit.fitting import Fit  # noqa: E402
from gafit.refine import METHODS  # noqa: E402


class Timed:
    """A callable that adds its calls' wall time up."""

    def __init__(self, fn):
        self.fn, self.calls, self.seconds = fn, 0, 0.0

    def __call__(self, *args, **kw):
        t = time.perf_counter()
        try:
            return self.fn(*args, **kw)
        finally:
            self.seconds += time.perf_counter() - t
            self.calls += 1


#: the command-line options that override a config setting: option -> its [section]
OVERRIDES = {"generations": "ga", "population": "ga", "workers": "ga", "seed": "ga", "starts": "refine",
             "max_evaluations": "refine", "jacobian": "refine", "method": "refine"}


def measure(path: Path, by_start: bool = False, **overrides: int | str | None) -> dict:
    """GA then refinement of the fit ``path`` describes, with the settings of :data:`OVERRIDES`
    given (not None) in ``overrides`` replaced; ``by_start``: each start refined on its own and
    its loss at the start and the end and its wall time reported (``per_start``)."""
    config = load_config(path)
    for key, value in overrides.items():
        if value is not None:
            setattr(getattr(config, OVERRIDES[key]), key, value)
    t_setup = time.perf_counter()
    fit = Fit.from_config(config)
    setup_s = time.perf_counter() - t_setup
    res = fit.objective.residuals = Timed(fit.objective.residuals)
    jac = fit.objective.jacobian = Timed(fit.objective.jacobian)
    w0, c0 = time.perf_counter(), time.process_time()
    ga = fit.run_ga(progress=False)
    w1, c1 = time.perf_counter(), time.process_time()
    res.calls, res.seconds = 0, 0.0  # the memetic steps' calls are the GA's
    jac.calls, jac.seconds = 0, 0.0
    per_start = []
    if not config.refine.enabled:
        refined = []
    elif by_start:  # one start at a time (the same ends: the starts are independent)
        refined = []
        for x0 in fit.refine_starts(ga):
            t = time.perf_counter()
            refined += fit.refine([x0], progress=False)
            per_start.append({"start_loss": float(fit.objective.loss(x0[None])[0]),
                              "end_loss": refined[-1].loss,
                              "wall_s": round(time.perf_counter() - t, 2)})
    else:
        refined = fit.refine(progress=False)
    w2, c2 = time.perf_counter(), time.process_time()
    result = fit.finish(ga, refined)
    refine_s = w2 - w1
    return {
        "config": str(path), "generations": config.ga.generations,
        "population": config.ga.population, "workers": config.ga.workers,
        "starts": len(refined), "max_evaluations": config.refine.max_evaluations,
        "jacobian": config.refine.jacobian, "method": config.refine.method,
        "setup_s": round(setup_s, 2),
        "ga_wall_s": round(w1 - w0, 2), "ga_cpu_s": round(c1 - c0, 2),
        "refine_wall_s": round(refine_s, 2), "refine_cpu_s": round(c2 - c1, 2),
        "refine_share": round(refine_s / (w2 - w0), 3),
        "ga_loss": ga.best_loss,
        "refined_loss": min((r.loss for r in refined), default=None),
        "final_loss": result.loss,
        "residual_calls": res.calls, "residual_s": round(res.seconds, 2),
        "jacobian_calls": jac.calls, "jacobian_s": round(jac.seconds, 2),
        "other_s": round(refine_s - res.seconds - jac.seconds, 2),
        "load": os.getloadavg()[0],
        **({"per_start": per_start} if by_start else {}),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("configs", nargs="+", type=Path)
    ap.add_argument("--generations", type=int)
    ap.add_argument("--population", type=int)
    ap.add_argument("--workers", type=int)
    ap.add_argument("--seed", type=int, help="[ga] seed")
    ap.add_argument("--starts", type=int, help="[refine] starts")
    ap.add_argument("--max-evaluations", type=int, help="[refine] max_evaluations")
    ap.add_argument("--jacobian", choices=JACOBIANS, help="[refine] jacobian")
    ap.add_argument("--method", choices=METHODS, help="[refine] method")
    ap.add_argument("--json", type=Path, help="append one JSON line per config here")
    ap.add_argument("--per-start", action="store_true",
                    help="refine the starts one at a time and report each one's losses and time")
    args = ap.parse_args()
    for path in args.configs:
        row = measure(path, args.per_start, **{key: getattr(args, key) for key in OVERRIDES})
        line = json.dumps(row)
        print(line, flush=True)
        if args.json is not None:
            with args.json.open("a") as f:
                f.write(line + "\n")


if __name__ == "__main__":
    sys.exit(main())
