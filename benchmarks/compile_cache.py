"""What a fit's process pays before its first evaluations (issue 17): per config, in a new process,
the setup (``Fit.from_config``), the first batch of 4 loss values, the first single vector and the
first Jacobian, wall time: once with empty caches (numba's in a fresh copy of nothing: NUMBA_CACHE_DIR
and GAFIT_CACHE_DIR point at a new folder) and once more with them filled by the first run. Each
GA worker is such a process too.

Run from a repository's root (its gafit is the one timed): python benchmarks/compile_cache.py
potentials/Si_gpuga_fit.toml [more.toml ...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from gafit.config import load_config
from gafit.fitting import Fit
t1 = time.perf_counter()
fit = Fit.from_config(load_config(sys.argv[1]))
t2 = time.perf_counter()
obj = fit.objective
x = obj.space.from_unit(np.random.default_rng(0).random((4, obj.space.n_free)))
obj.loss(x)
t3 = time.perf_counter()
obj.loss(x[:1])
t4 = time.perf_counter()
obj.jacobian(x[0])
t5 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "setup_s": t2 - t1, "first_batch_s": t3 - t2,
                  "first_single_s": t4 - t3, "first_jacobian_s": t5 - t4}))
"""


def run(config: str, cache: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(cache, "numba"),
               GAFIT_CACHE_DIR=os.path.join(cache, "gafit"), OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", SCRIPT, config], env=env, capture_output=True,
                         text=True, check=True).stdout
    return {k: round(v, 1) for k, v in json.loads(out.splitlines()[-1]).items()}


def main() -> int:
    for config in sys.argv[1:] or ["potentials/Si_gpuga_fit.toml"]:
        with tempfile.TemporaryDirectory() as cache:
            cold, warm = run(config, cache), run(config, cache)
        print(json.dumps({"config": config, "cold": cold, "warm": warm,
                          "load": round(os.getloadavg()[0], 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
