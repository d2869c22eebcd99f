"""A fit's own Stillinger-Weber objective (its tables as wide as its bounds need): one residual
vector against a batch, per vector, with the batch kernel alone (``batch kernel``: what every
batch size took before :mod:`gafit.forms.stillinger_weber.kernel_single`) and with the defaults
(:func:`gafit.forms.stillinger_weber.kernel.takes_batch_kernel`), alternating in one run; CPU time,
best of the rounds. Every call gets vectors of its own, near one drawn in the bounds (some
targets keep the last vector's results).

Run: python benchmarks/sw_single_vector.py [potentials/Si_mlearn_sw.toml] [--batch 64] [--rounds 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from gafit.config import load_config
from gafit.fitting import Fit
from gafit.forms.stillinger_weber import kernel

ROOT = Path(__file__).resolve().parent.parent
#: (BATCH_MIN, BATCH_MIN_ONE_SPECIES) of each way
WAYS = {"batch kernel": (1, 1), "default": (kernel.BATCH_MIN, kernel.BATCH_MIN_ONE_SPECIES)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", default=str(ROOT / "potentials/Si_mlearn_sw.toml"))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--singles", type=int, default=10, help="single vectors per round")
    args = parser.parse_args(argv)
    fit = Fit.from_config(load_config(Path(args.config)))
    obj, space = fit.objective, fit.space
    rng = np.random.default_rng(0)
    u0 = rng.random(space.n_free)

    def near(n: int) -> np.ndarray:
        return space.from_unit(np.clip(u0 + 0.01 * rng.standard_normal((n, space.n_free)), 0, 1))

    best = {(way, n): np.inf for way in WAYS for n in (1, args.batch)}
    load0 = os.getloadavg()[0]
    for r in range(args.rounds + 1):  # round 0 compiles and warms the caches
        for way, (least, least_one) in WAYS.items():
            kernel.BATCH_MIN, kernel.BATCH_MIN_ONE_SPECIES = least, least_one
            xs = [near(1) for _ in range(args.singles)]
            t = time.process_time()
            for x in xs:
                obj.residuals(x)
            one = (time.process_time() - t) / args.singles
            x = near(args.batch)
            t = time.process_time()
            obj.residuals(x)
            many = (time.process_time() - t) / args.batch
            if r:
                best[way, 1] = min(best[way, 1], one)
                best[way, args.batch] = min(best[way, args.batch], many)
    print(f"{args.config} ({fit.data.n_atoms} training atoms): residual vectors, ms CPU per "
          f"vector (load {load0:.1f}-{os.getloadavg()[0]:.1f})")
    for way in WAYS:
        a, b = best[way, 1], best[way, args.batch]
        print(f"  {way:13s} single {a * 1e3:.2f}, in a batch of {args.batch} {b * 1e3:.2f}: "
              f"{a / b:.2f}x")
    base = best["batch kernel", args.batch]
    print(f"  default single / batch kernel's batch, per vector: {best['default', 1] / base:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
