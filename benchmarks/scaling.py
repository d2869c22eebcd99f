"""How gafit's objective cost grows with the number of structures (25/50/100/200 % of a set; 200 % is
the set twice) at a fixed population, and with the population size (1 ... 400 individuals) on the
whole set. Each point is the best wall time of one batched ``Objective.loss`` call; a straight line
T = a + b x is fitted and its R² and the spread of the cost per unit (T / x) reported.

Sets: Tersoff Si on gpuga_Si_diamond and Morse Cu on mlearn_Cu.

Run: python benchmarks/scaling.py [--quick] [--json out.json]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402  (first: it limits BLAS to one thread before numpy loads)
import numpy as np  # noqa: E402
from morse_mlearn_cu import POTENTIAL as MORSE_CU  # noqa: E402

from gafit.io import read_reference  # noqa: E402
from gafit.lammps.runner import potentials_dir  # noqa: E402
from gafit.potential import Potential  # noqa: E402
from gafit.potential_files import load_potential
from gafit.structures import ReferenceSet  # noqa: E402

SETS = {  # name: (shared data file, potential file)
    "Tersoff Si on gpuga_Si_diamond": ("gpuga_Si_diamond/Si_gpuga_train.extxyz", None),
    "Morse Cu (6 Å) on mlearn_Cu": ("mlearn_Cu/Cu_test.extxyz", MORSE_CU),
}
FRACTIONS = (0.25, 0.5, 1.0, 2.0)
POPULATIONS = (1, 10, 50, 100, 200, 400)


def fraction(data: ReferenceSet, f: float) -> ReferenceSet:
    """Evenly spread structures making a fraction f <= 1 of the set; the set repeated for f > 1."""
    if f > 1:
        return ReferenceSet(data.structures * round(f), data.source)
    n = max(1, round(f * len(data)))
    return data.subset(np.linspace(0, len(data) - 1, n).round().astype(int).tolist())


def line_fit(x: np.ndarray, t: np.ndarray) -> dict[str, float]:
    """T = a + b x: intercept, slope, R², and max/min of the cost per unit T / x."""
    b, a = np.polyfit(x, t, 1)
    r2 = 1 - np.sum((t - (a + b * x)) ** 2) / np.sum((t - t.mean()) ** 2)
    unit = t / x
    return {"a": float(a), "b": float(b), "r2": float(r2), "spread": float(unit.max() / unit.min())}


def scan(name: str, data: ReferenceSet, pot: Potential, populations: tuple[int, ...],
         population: int, repeats: int) -> dict[str, Any]:
    res: dict[str, Any] = {"case": f"scaling: {name}", "kind": "scaling", "structures_scan": [],
                           "population_scan": []}
    for f in FRACTIONS:
        part = fraction(data, f)
        obj, x = common.objective_and_population(pot, part, population)
        t = common.best_time(lambda obj=obj, x=x: obj.loss(x), repeats)
        res["structures_scan"].append({"fraction": f, "structures": len(part), "atoms": part.n_atoms,
                                       "population": population, "call_s": t})
        del obj
    obj, _ = common.objective_and_population(pot, data, 1)
    rng = np.random.default_rng(1)
    for p in populations:
        x = obj.space.from_unit(rng.random((p, obj.space.n_free)))
        t = common.best_time(lambda x=x: obj.loss(x), repeats)
        res["population_scan"].append({"population": p, "atoms": data.n_atoms, "call_s": t})
    s, q = res["structures_scan"], res["population_scan"]
    res["structures_fit"] = line_fit(np.array([r["atoms"] for r in s], float),
                                     np.array([r["call_s"] for r in s]) / population)
    res["population_fit"] = line_fit(np.array([r["population"] for r in q], float),
                                     np.array([r["call_s"] for r in q]))
    res["rss_mb"] = common.peak_rss_mb()
    return res


def describe(res: dict[str, Any]) -> str:
    lines = [res["case"]]
    for r in res["structures_scan"]:
        lines.append(f"  {r['fraction'] * 100:4.0f} % of the set: {r['structures']:4d} structures "
                     f"{r['atoms']:6d} atoms, population {r['population']}: "
                     f"{r['call_s'] / r['population'] * 1e3:8.3f} ms per evaluation, "
                     f"{r['call_s'] / r['population'] / r['atoms'] * 1e6:6.3f} µs/atom")
    f = res["structures_fit"]
    lines.append(f"  per evaluation = {f['a'] * 1e3:.3f} ms + {f['b'] * 1e6:.3f} µs x atoms; "
                 f"R² = {f['r2']:.5f}; µs/atom max/min {f['spread']:.2f}")
    for r in res["population_scan"]:
        lines.append(f"  population {r['population']:4d}: {r['call_s'] * 1e3:9.2f} ms per batch, "
                     f"{r['call_s'] / r['population'] * 1e3:8.3f} ms per evaluation, "
                     f"{r['call_s'] / r['population'] / r['atoms'] * 1e6:6.3f} µs/atom")
    f = res["population_fit"]
    lines.append(f"  per batch = {f['a'] * 1e3:.2f} ms + {f['b'] * 1e3:.3f} ms x population; "
                 f"R² = {f['r2']:.5f}; cost per individual max/min {f['spread']:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import json

    args = common.case_args(__doc__, argv)
    populations = POPULATIONS[:-1] if args.quick else POPULATIONS
    results = []
    for name, (rel, pot_file) in SETS.items():
        path = common.shared(rel)
        if path is None:
            results.append({"case": f"scaling: {name}", "skipped": f"../shared/data/{rel} not found"})
            continue
        pot = load_potential(pot_file or potentials_dir() / "Si.tersoff")
        res = scan(name, read_reference(path), pot, populations, args.population,
                   2 if args.quick else 3)
        print(describe(res), flush=True)
        results.append(res)
        if args.quick:
            break
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
