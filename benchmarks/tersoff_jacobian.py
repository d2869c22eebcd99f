"""What one least-squares Jacobian costs against one residual vector (issue 17), per config, at its
start parameters, in CPU time (best of 3 rounds, the variants alternating within each round):

- one residual vector, and a batch of n_free + 1 of them (what batched forward differences cost);
- the analytic Jacobian through the fused Tersoff kernel (gafit/forms/tersoff/jacobian_kernel.py)
  and through the numpy derivatives (gafit/forms/tersoff/derivatives.py), and forward differences.

Run: python benchmarks/tersoff_jacobian.py potentials/Si_gpuga_fit.toml [more.toml ...]
"""

from __future__ import annotations

import os
import sys

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from common import best_cpu_ms, kernel_switch  # noqa: E402

from gafit.config import load_config  # noqa: E402
from gafit.fitting import Fit  # noqa: E402
from gafit.forms.tersoff import jacobian_kernel  # noqa: E402
from gafit.refine import batched_jacobian  # noqa: E402


def with_kernel(enabled: bool, fn):
    return kernel_switch(jacobian_kernel, enabled, fn)


def measure(path: str) -> dict:
    obj = Fit.from_config(load_config(path)).objective
    x = obj.space.start()
    n = len(x)
    batch = np.repeat(x[None], n + 1, axis=0)
    fd = batched_jacobian(obj.residuals, obj.space.lower, obj.space.upper)
    cases = {
        "residual": (lambda: obj.residuals(x[None]), 10),
        f"residuals x{n + 1}": (lambda: obj.residuals(batch), 2),
        "jacobian fused": (with_kernel(True, lambda: obj.jacobian(x)), 3),
        "jacobian numpy": (with_kernel(False, lambda: obj.jacobian(x)), 2),
        "forward differences": (lambda: fd(x), 2),
    }
    best = best_cpu_ms(cases)
    res = best["residual"]
    return {"config": path, "n_free": n, "n_residuals": obj.residuals(x[None]).shape[1]} | {
        k: f"{v:.1f} ms = {v / res:.1f} residuals" for k, v in best.items()} | {
        "load": round(os.getloadavg()[0], 1)}


def main() -> None:
    for path in sys.argv[1:]:
        print(measure(path), flush=True)


if __name__ == "__main__":
    sys.exit(main())
