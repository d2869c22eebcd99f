"""CPU time of the least squares' Jacobian of a fit with phonon targets: their rows analytic
(``[phonons] jacobian = "analytic"``) against forward differences, alternating in one process, at
the parameters of a fitted potential (issue 17).

Run: python benchmarks/phonon_jacobian.py potentials/ZnO_buck_coul.toml potentials/ZnO_buck_coul.json
         [--rounds 5] [--vectors 10]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from gafit.config import load_config  # noqa: E402
from gafit.fitting import Fit  # noqa: E402
from gafit.potential_files import load_potential  # noqa: E402
from gafit.targets import PhononTerm  # noqa: E402

JACOBIANS = ("analytic", "finite-difference")


def jacobian_cpu(fit: Fit, xs: list[np.ndarray], jacobian: str) -> float:
    """CPU seconds per objective Jacobian at the free vectors xs with the phonon rows ``jacobian``."""
    terms = [t for t in fit.objective.terms if isinstance(t, PhononTerm)]
    for term in terms:
        term.target.config = dataclasses.replace(term.target.config, jacobian=jacobian)
    t = time.process_time()
    for x in xs:
        for term in terms:
            term.target._last = None  # each step of a fit is at a new vector: no cached frequencies
        if fit.objective.jacobian(x) is None:
            raise SystemExit(f"no Jacobian at {x}")
    return (time.process_time() - t) / len(xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config", type=Path)
    ap.add_argument("fitted", type=Path, help="a fitted potential: the free parameters' values")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--vectors", type=int, default=10, help="Jacobians per round and kind")
    args = ap.parse_args()
    fit = Fit.from_config(load_config(args.config), check_data=False)
    space = fit.space
    named = load_potential(args.fitted).named_values()
    x0 = np.array([named[n] for n in space.free])
    rng = np.random.default_rng(0)
    xs = [np.clip(x0 * (1 + 1e-4 * rng.standard_normal(len(x0))), space.lower, space.upper)
          for _ in range(args.vectors)]
    for kind in JACOBIANS:  # warm-up: compilation, caches
        jacobian_cpu(fit, xs[:1], kind)
    cpu: dict[str, list[float]] = {kind: [] for kind in JACOBIANS}
    for _ in range(args.rounds):
        for kind in JACOBIANS:
            cpu[kind].append(jacobian_cpu(fit, xs, kind))
    a, f = np.array(cpu["analytic"]), np.array(cpu["finite-difference"])
    print(f"{args.config}: CPU ms per Jacobian, analytic phonon rows {1e3 * np.median(a):.1f} "
          f"[{1e3 * a.min():.1f}-{1e3 * a.max():.1f}], forward differences {1e3 * np.median(f):.1f} "
          f"[{1e3 * f.min():.1f}-{1e3 * f.max():.1f}], ratio {np.median(a / f):.2f} "
          f"(load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    sys.exit(main())
