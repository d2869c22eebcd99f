"""A single parameter vector (what every least-squares step evaluates) against a batch, per
individual, on the same structures in one run: the objective's loss and the form's evaluation
alone, at population 1 and at population N, timed in turn (best CPU time of each; with ``--apart``
each on its own, back to back, as benchmarks/peers/compiled_fitters.py does: the batch's large
arrays then do not evict the single vector's tables from the caches), and their ratio; then what
the loss costs beyond the form's evaluation (the objective's own work), per vector.

Run: python benchmarks/single_vector.py morse|buckingham|tersoff|tersoff-mlearn [--population 100]
     [--repeats 30] [--apart]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from common import best_times, objective_and_population  # noqa: E402
from profile_eval import setup  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case")
    parser.add_argument("--population", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=30, help="calls of each, best taken")
    parser.add_argument("--apart", action="store_true", help="time each on its own, not in turn")
    args = parser.parse_args(argv)
    pot, data = setup(args.case)
    one, x1 = objective_and_population(pot, data, 1)
    many, xn = objective_and_population(pot, data, args.population)
    form, sl = pot.forms[0], pot.form_slices()[0]
    tab1, tabn = one.tables.form_tables[0], many.tables.form_tables[0]
    th1, thn = one.space.expand(x1)[:, sl], many.space.expand(xn)[:, sl]
    load = os.getloadavg()[0]
    calls = [lambda: form.evaluate(th1, tab1), lambda: form.evaluate(thn, tabn),
             lambda: one.loss(x1), lambda: many.loss(xn)]
    best = (np.array([best_times([f], args.repeats, 0.0)[0] for f in calls]) if args.apart
            else best_times(calls, args.repeats, 0.0))
    us = best / data.n_atoms * 1e6 / [1, args.population, 1, args.population]
    print(f"{args.case}: {len(data)} structures, {data.n_atoms} atoms, µs per atom per evaluation "
          f"({'apart' if args.apart else 'in turn'}, load {load:.1f}–{os.getloadavg()[0]:.1f})")
    for what, a, b in ((f"{type(form).__name__}.evaluate", us[0], us[1]),
                       ("Objective.loss", us[2], us[3])):
        print(f"  {what:22s} population 1 {a:.3f}, population {args.population} {b:.3f}: "
              f"{a / b:.2f}x")
    # what the objective adds around the form (parameters, E0 offsets, residuals, sums)
    print(f"  loss beyond the form's evaluation, µs per vector: population 1 "
          f"{(best[2] - best[0]) * 1e6:.0f}, population {args.population} "
          f"{(best[3] - best[1]) / args.population * 1e6:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
