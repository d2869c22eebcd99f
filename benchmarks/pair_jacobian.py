"""What one least-squares Jacobian of a pair-form fit (Morse, Buckingham, + Coulomb) costs against one
residual vector (issue 17), per config, in CPU time (best of 3 rounds, the variants alternating
within each round), at the config's start values or, with ``--at FILE``, at the values of a fitted
potential (a GA-quality vector: a potential.json the config's parameters are read from):

- one residual vector;
- the analytic Jacobian with the fused pair Jacobian kernel (gafit/forms/pair_jacobian.py) and with
  the numpy derivatives (per-pair columns through the sparse maps);
- of the fused one, the parts: the forms' parameter derivatives, the linearisation (those and
  their map to the free parameters), the training data's analytic rows, and the rest: the other
  targets' rows (the penalties' and the phonon and property targets' forward differences).

Run: python benchmarks/pair_jacobian.py potentials/SiO2_zeolite_buck_coul.toml
         [--at potentials/SiO2_zeolite_buck_coul.json] [more.toml [--at more.json] ...]
"""

from __future__ import annotations

import json
import os
import sys

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from common import best_cpu_ms, kernel_switch  # noqa: E402

from gafit.config import load_config  # noqa: E402
from gafit.fitting import Fit  # noqa: E402
from gafit.forms import pair_jacobian  # noqa: E402


def with_kernel(enabled: bool, fn):
    return kernel_switch(pair_jacobian, enabled, fn)


def start_vector(fit: Fit, at: str | None) -> np.ndarray:
    """The free vector at the config's start values, or at the named values of potential ``at``."""
    x = fit.space.start()
    if at is None:
        return x
    with open(at) as f:
        values = {k: v for form in json.load(f)["forms"] for k, v in form["parameters"].items()}
    return np.array([values.get(n, v) for n, v in zip(fit.space.free, x, strict=True)])


def measure(path: str, at: str | None) -> dict:
    fit = Fit.from_config(load_config(path))
    obj, x = fit.objective, start_vector(fit, at)
    pot, theta = obj.potential, obj.space.expand(x[None])[0]
    lin = obj.linearisation(x)
    cases = {
        "residual": (lambda: obj.residuals(x[None]), 10),
        "jacobian fused": (with_kernel(True, lambda: obj.jacobian(x)), 3),
        "jacobian numpy": (with_kernel(False, lambda: obj.jacobian(x)), 2),
        "parameter derivatives": (lambda: pot.parameter_derivatives(theta, obj.tables), 3),
        "linearisation": (lambda: obj.linearisation(x), 3),
        "training data rows": (lambda: obj.data.jacobian(lin), 3),
    }
    best = best_cpu_ms(cases)
    # the other targets' rows (penalties, phonons, properties): measured apart, they would read
    # the frequencies the phonon targets cache for the last vectors they saw
    best["other targets' rows"] = (best["jacobian fused"] - best["linearisation"]
                                   - best["training data rows"])
    res = best["residual"]
    return {"config": path, "at": at or "start", "n_free": len(x),
            "n_residuals": obj.residuals(x[None]).shape[1]} | {
        k: f"{v:.2f} ms = {v / res:.1f} residuals" for k, v in best.items()} | {
        "load": round(os.getloadavg()[0], 1)}


def main() -> None:
    args = sys.argv[1:]
    while args:
        path, args = args[0], args[1:]
        at = None
        if args[:1] == ["--at"]:
            at, args = args[1], args[2:]
        print(measure(path, at), flush=True)


if __name__ == "__main__":
    sys.exit(main())
