"""What one least-squares Jacobian of an EAM fit costs against one residual vector (issue 17), per
config, at its start parameters, in CPU time (best of 3 rounds, the variants alternating within
each round):

- one residual vector, and forward differences (a batch of n_free + 1 of them);
- the whole analytic Jacobian through the fused EAM kernel (gafit/forms/eam/jacobian_kernel.py) and
  through the numpy derivatives (gafit.forms.eam.evaluate.table_parameter_derivatives);
- the EAM form's part alone: its parameter derivatives by either path, against its evaluation of the
  training set for the n_free + 1 vectors of forward differences.

Run: python benchmarks/eam_jacobian.py potentials/Cu_mlearn_eam.toml [more.toml ...]
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
from gafit.forms.eam import EAMForm, jacobian_kernel  # noqa: E402
from gafit.refine import batched_jacobian  # noqa: E402


def with_kernel(enabled: bool, fn):
    return kernel_switch(jacobian_kernel, enabled, fn)


def measure(path: str) -> dict:
    obj = Fit.from_config(load_config(path)).objective
    x = obj.space.start()
    n = len(x)
    k, form = next((k, f) for k, f in enumerate(obj.potential.forms) if isinstance(f, EAMForm))
    tables = obj.tables.form_tables[k]
    theta_b = obj.space.expand(np.repeat(x[None], n + 1, axis=0))
    cols = obj.potential.form_slices()[k]
    theta = theta_b[0, cols]
    fd = batched_jacobian(obj.residuals, obj.space.lower, obj.space.upper)
    reps = 1 if n > 40 else 3
    cases = {
        "residual": (lambda: obj.residuals(x[None]), 10),
        "forward differences": (lambda: fd(x), reps),
        "jacobian fused": (with_kernel(True, lambda: obj.jacobian(x)), reps),
        "jacobian numpy": (with_kernel(False, lambda: obj.jacobian(x)), reps),
        f"form: evaluate x{n + 1}": (lambda: form.evaluate(theta_b[:, cols], tables), reps),
        "form: derivatives fused": (
            with_kernel(True, lambda: form.parameter_derivatives(theta, tables)), reps),
        "form: derivatives numpy": (
            with_kernel(False, lambda: form.parameter_derivatives(theta, tables)), reps),
    }
    best = best_cpu_ms(cases)
    res = best["residual"]
    return {"config": path, "n_free": n, "n_params": form.n_params} | {
        key: f"{v:.1f} ms = {v / res:.1f} residuals" for key, v in best.items()} | {
        "load": round(os.getloadavg()[0], 1)}


def main() -> None:
    for path in sys.argv[1:]:
        print(measure(path), flush=True)


if __name__ == "__main__":
    sys.exit(main())
