"""The refinement's share of a fit's wall time (issue 17): per config, the GA and the least squares
timed apart (wall and this process's CPU), the GA's and the refinement's best losses, and where the
refinement's time goes (residual vectors, Jacobians, the rest: scipy's own arithmetic).

Two floors say what faster evaluation alone could do for the share, the refinement's iterations as
they are: ``floor_jacobian`` if every Jacobian (analytic, or a batch of forward differences) cost
one single residual vector, and ``floor_evaluation`` if besides every single residual vector cost
what one GA individual costs (the GA's wall time over its evaluations). The rest (scipy's own
arithmetic and the Python around it) stays in both. A floor above 25 % means the target needs
fewer iterations, not cheaper ones.

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
    """A callable that adds its calls' wall time up, and apart that of its calls on a batch of
    more than one vector (``batch_calls``, ``batch_seconds``: forward-difference Jacobians)."""

    def __init__(self, fn):
        self.fn, self.depth = fn, 0
        self.reset()

    def reset(self) -> None:
        self.calls, self.seconds, self.batch_calls, self.batch_seconds = 0, 0.0, 0, 0.0

    def __call__(self, *args, **kw):
        if self.depth:  # a call inside a call (a batch in chunks) is timed by the outer one
            return self.fn(*args, **kw)
        self.depth += 1
        t = time.perf_counter()
        try:
            return self.fn(*args, **kw)
        finally:
            self.depth -= 1
            dt = time.perf_counter() - t
            self.seconds += dt
            self.calls += 1
            if args and getattr(args[0], "ndim", 1) == 2 and len(args[0]) > 1:
                self.batch_calls += 1
                self.batch_seconds += dt


#: the command-line options that override a config setting: option -> its [section]
OVERRIDES = {"generations": "ga", "population": "ga", "workers": "ga", "seed": "ga", "starts": "refine",
             "max_evaluations": "refine", "jacobian": "refine", "method": "refine"}


def measure(path: Path, by_start: bool = False, **overrides: int | str | None) -> dict:
    """GA then refinement of the fit ``path`` describes, with the settings of :data:`OVERRIDES`
    given (not None) in ``overrides`` replaced; ``by_start``: each start refined on its own and
    its loss at the start and the end and its wall time reported (``per_start``; ``seeded``: the
    potential's own values, the last start where the GA was seeded with them)."""
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
    res.reset()  # the memetic steps' calls are the GA's
    jac.reset()
    per_start = []
    if not config.refine.enabled:
        refined = []
    elif by_start:  # one start at a time (the same ends: the starts are independent)
        refined = []
        starts = fit.refine_starts(ga)
        for k, x0 in enumerate(starts):
            t = time.perf_counter()
            refined += fit.refine([x0], progress=False)
            per_start.append({"seeded": fit.seeded and k == len(starts) - 1,  # the potential's own
                              "start_loss": float(fit.objective.loss(x0[None])[0]),
                              "end_loss": refined[-1].loss,
                              "wall_s": round(time.perf_counter() - t, 2)})
    else:
        refined = fit.refine(progress=False)
    w2, c2 = time.perf_counter(), time.process_time()
    result = fit.finish(ga, refined)
    refine_s = w2 - w1
    singles, singles_s = res.calls - res.batch_calls, res.seconds - res.batch_seconds
    jacobians = jac.calls + res.batch_calls
    other_s = refine_s - res.seconds - jac.seconds
    per_single = singles_s / max(singles, 1)
    per_individual = (w1 - w0) / max(ga.evaluations, 1)
    floor_jacobian = singles_s + jacobians * per_single + other_s
    floor_evaluation = (singles + jacobians) * per_individual + other_s
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
        "other_s": round(other_s, 2),
        "single_residuals": singles, "single_residual_ms": round(1e3 * per_single, 3),
        "forward_difference_jacobians": res.batch_calls,
        "ga_evaluations": ga.evaluations, "ga_individual_ms": round(1e3 * per_individual, 3),
        "floor_jacobian": round(floor_jacobian / (w1 - w0 + floor_jacobian), 3),
        "floor_evaluation": round(floor_evaluation / (w1 - w0 + floor_evaluation), 3),
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
