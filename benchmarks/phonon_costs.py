"""What a fit with phonon targets costs outside the GA's arithmetic (issue 17): the setup (with the
disk cache of phonopy's force-constant maps empty, then filled), one residual vector, a batch of 64
and one Jacobian, in CPU time (best of 5), at the parameters of a fitted potential and at 63 random
vectors of the config's box (each round nudged to vectors no memo has seen, as a least-squares step
is). With ``--save FILE`` the residual vectors and the Jacobian are written
(numpy .npz), to compare two versions bit for bit: run it on each (``PYTHONPATH=OTHER_TREE``) and
``--compare A.npz B.npz``.

Run: python benchmarks/phonon_costs.py potentials/ZnO_buck_coul.toml potentials/ZnO_buck_coul.json
         [--save out.npz]
     python benchmarks/phonon_costs.py --compare a.npz b.npz
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from gafit.config import load_config  # noqa: E402
from gafit.fitting import Fit  # noqa: E402
from gafit.potential_files import load_potential  # noqa: E402


def best_ms(fn, rounds: int = 5) -> float:
    """Best CPU time (ms) of ``fn(k)`` for k = 1..rounds, after ``fn(0)``."""
    fn(0)
    out = np.inf
    for k in range(1, rounds + 1):
        t = time.process_time()
        fn(k)
        out = min(out, time.process_time() - t)
    return out * 1e3


def nudged(x: np.ndarray, k: int, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """x moved by k 1e-7 of its box's width (k = 0: x): a vector no memo has seen, as every
    least-squares step evaluates (the phonon and property targets keep their last vector's
    work)."""
    return np.clip(x + k * 1e-7 * (upper - lower), lower, upper)


def measure(config_path: str, potential_path: str, save: str | None) -> dict:
    config = load_config(config_path)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["GAFIT_CACHE_DIR"] = cache  # empty, then filled by the first setup
        setup = []
        for _ in range(2):
            t = time.perf_counter()
            fit = Fit.from_config(config)
            setup.append(time.perf_counter() - t)
    obj, space = fit.objective, fit.objective.space
    values = dict(zip(*(lambda p: (p.names, p.values))(load_potential(potential_path)),
                      strict=True))
    x = np.clip(np.array([values[n] for n in space.free]), space.lower, space.upper)
    batch = np.vstack([x, space.from_unit(np.random.default_rng(1).random((63, space.n_free)))])
    def at(v: np.ndarray, k: int) -> np.ndarray:
        return nudged(v, k, space.lower, space.upper)

    if save:
        np.savez(save, residuals=obj.residuals(batch), jacobian=obj.jacobian(x))
    return {"config": config_path, "setup_cold_s": round(setup[0], 1),
            "setup_warm_s": round(setup[1], 1),
            "residual_ms": round(best_ms(lambda k: obj.residuals(at(x, k)[None])), 2),
            "batch64_ms": round(best_ms(lambda k: obj.residuals(at(batch, k))), 1),
            "jacobian_ms": round(best_ms(lambda k: obj.jacobian(at(x, k))), 2),
            "load": round(os.getloadavg()[0], 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", help="CONFIG.toml POTENTIAL")
    ap.add_argument("--save", help="write the residuals and the Jacobian here (.npz)")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"), help="two --save files")
    args = ap.parse_args()
    if args.compare:
        a, b = (np.load(p) for p in args.compare)
        for key in ("residuals", "jacobian"):
            same = np.array_equal(a[key], b[key], equal_nan=True)
            print(f"{key}: {'the same, bit for bit' if same else 'DIFFER'}"
                  + ("" if same else f" (max {np.nanmax(np.abs(a[key] - b[key])):.3g})"))
        return 0
    if len(args.paths) != 2:
        ap.error("give CONFIG.toml and POTENTIAL (or --compare A B)")
    print(measure(*args.paths, args.save))
    return 0


if __name__ == "__main__":
    sys.exit(main())
