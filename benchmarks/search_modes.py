"""Smarter search, measured (issue 5): the GPUGA race fit (benchmarks/gpuga_race.toml, Tersoff on
../shared/data/gpuga_Si_diamond from bounds) with each search feature switched on and off, in the
same run, several seeds each.

Modes: ``plain`` (GA, then least squares with forward differences), ``+memetic`` (least squares on
the best 2 every 5 generations), ``+subset`` (first 40 % of the generations on 25 % of the
structures, elites on all), ``+analytic`` (analytic Jacobian in the least squares), and ``all``.
Every fit gets the same GA time budget; reported per mode: the fits that reached GPUGA's errors,
the wall time, the median time at which the GA's best first reached them (from log.csv), and
successful fits per minute of wall time. The budget is wall time on purpose (the modes cost different
amounts per generation, and the question is which finds a good fit soonest), so these fits depend on the
machine's load; the race itself (gpuga_race.toml) stops after a fixed number of generations.

Run: python benchmarks/search_modes.py [--seeds 1 2 3] [--workers 1] [--budget 35]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GPUGA = {"energy": 30.9e-3, "forces": 0.115, "virial": 62.8e-3}  # eV/atom, eV/Å, eV/atom
MODES = {
    "plain": dict(memetic=False, subset=False, analytic=False),
    "+memetic": dict(memetic=True, subset=False, analytic=False),
    "+subset": dict(memetic=False, subset=True, analytic=False),
    "+analytic": dict(memetic=False, subset=False, analytic=True),
    "all": dict(memetic=True, subset=True, analytic=True),
}


def reached(rmse: dict) -> bool:
    return all(rmse[k] <= v for k, v in GPUGA.items())


def configure(base, seed: int, workers: int, budget: float, memetic: bool, subset: bool,
              analytic: bool):
    ga = replace(base.ga, seed=seed, workers=workers, max_time=budget,
                 memetic_every=base.ga.memetic_every if memetic else 0,
                 subset_fraction=0.25 if subset else 1.0,
                 subset_generations=40 if subset else 0)
    refine = replace(base.refine, jacobian="analytic" if analytic else "finite-difference")
    return replace(base, ga=ga, refine=refine)


def main() -> int:
    from gafit.config import load_config
    from gafit.fitting import Fit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--budget", type=float, default=35.0, help="GA seconds per fit")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--config", type=Path, default=ROOT / "benchmarks" / "gpuga_race.toml")
    args = parser.parse_args()
    if not (ROOT.parent / "shared" / "data" / "gpuga_Si_diamond").exists():
        print("skipped: ../shared/data/gpuga_Si_diamond not found")
        return 0
    base = load_config(args.config)
    print(f"load average at start: {os.getloadavg()[0]:.2f}; workers {args.workers}, GA budget "
          f"{args.budget:g} s, seeds {args.seeds}; interleaved by seed")
    rows: dict[str, list[dict]] = {m: [] for m in args.modes}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for mode in args.modes:
                config = configure(base, seed, args.workers, args.budget, **MODES[mode])
                out = Path(tmp) / f"{mode}-{seed}"
                t0 = time.perf_counter()
                result = Fit.from_config(config).run(out, quiet=True)
                wall = time.perf_counter() - t0
                t_hit = None
                for r in csv.DictReader((out / "log.csv").open()):
                    if reached({k: float(r[f"rmse_{k}"]) for k in GPUGA}):
                        t_hit = float(r["elapsed_s"])
                        break
                rm = result.rmse["train"]
                row = {"seed": seed, "wall": wall, "ok": reached(rm), "t_hit_ga": t_hit,
                       "loss": result.loss, "E": rm["energy"] * 1e3, "F": rm["forces"],
                       "V": rm["virial"] * 1e3, "gens": result.ga.generations}
                rows[mode].append(row)
                print(f"  {mode:10s} seed {seed}: wall {wall:5.1f} s, loss {result.loss:.3e}, "
                      f"E {row['E']:.1f} meV/atom F {row['F']:.4f} eV/Å V {row['V']:.1f} "
                      f"meV/atom, {row['gens']} generations, GA reached GPUGA at "
                      f"{'-' if t_hit is None else f'{t_hit:.1f} s'}; "
                      f"{'reached' if row['ok'] else 'not reached'}", flush=True)
    print("\n| mode | fits reaching GPUGA | median wall s | median final loss | GA reached GPUGA "
          "(median s, of those that did) | successful fits per minute |")
    print("|---|---|---|---|---|---|")
    for mode, rs in rows.items():
        n_ok = sum(r["ok"] for r in rs)
        hits = [r["t_hit_ga"] for r in rs if r["t_hit_ga"] is not None]
        total = sum(r["wall"] for r in rs)
        print(f"| {mode} | {n_ok} of {len(rs)} | {statistics.median(r['wall'] for r in rs):.1f} | "
              f"{statistics.median(r['loss'] for r in rs):.3e} | "
              f"{statistics.median(hits) if hits else float('nan'):.1f} ({len(hits)}) | "
              f"{60 * n_ok / total:.2f} |")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
