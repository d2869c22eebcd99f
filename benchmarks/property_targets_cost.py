"""Cost of [[properties]] targets per individual: the objective's loss on a population with and without
diamond-Si targets (a, E_coh, B, C11, C12, C44), on the shipped Tersoff Si fits' training sets.

Run: python benchmarks/property_targets_cost.py [--population 100] [--repeats 5]
(needs ../shared/data; the configs are potentials/Si_gpuga_fit.toml and Si_mlearn_fit.toml)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from gafit.config import load_config
from gafit.fit import build_potential, read_data, widen_cutoffs
from gafit.objective import Objective
from gafit.parameters import build_space
from gafit.property_target import PropertyTargetConfig, PropertyTargets

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ["potentials/Si_gpuga_fit.toml", "potentials/Si_mlearn_fit.toml"]
#: experiment (room temperature): a 5.431 Å, E_coh 4.63 eV/atom, B 98, C11 166, C12 64, C44 80 GPa
TARGETS = [("a", 5.431, 0.01), ("E_coh", 4.63, 0.05), ("B", 98.0, 5.0), ("C11", 166.0, 10.0),
           ("C12", 64.0, 10.0), ("C44", 80.0, 8.0)]


def best_time(f, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def measure(path: str, population: int, repeats: int) -> dict:
    from gafit.fit import fit_parameters

    config = load_config(ROOT / path)
    train, _ = read_data(config)
    potential = build_potential(config, train)
    space = build_space(potential, fit_parameters(config.potential),
                        unspecified="fixed" if config.potential.start else "free")
    widen_cutoffs(potential, space)
    props = PropertyTargets.build(potential, [PropertyTargetConfig(k, r, t, "diamond", ["Si"], 5.43)
                                              for k, r, t in TARGETS])
    plain = Objective(potential, space, train, config.weights)
    with_props = Objective(potential, space, train, config.weights, properties=props)
    rng = np.random.default_rng(0)
    x = space.from_unit(rng.random((population, space.n_free)))
    plain.loss(x)
    with_props.loss(x)  # warm up
    t_plain = best_time(lambda: plain.loss(x), repeats)
    t_props = best_time(lambda: with_props.loss(x), repeats)
    t_only = best_time(lambda: props.residuals(space.expand(x)), repeats)
    return {"config": path, "structures": len(train), "atoms": int(plain.tables.n_atoms_s.sum()),
            "property_atoms": int(sum(t.n_atoms_s.sum() for c in props.cells
                                      for t in (c.tables, c.elastic_tables) if t is not None)),
            "ms_per_individual": 1e3 * t_plain / population,
            "ms_per_individual_with_properties": 1e3 * t_props / population,
            "ms_per_individual_properties_alone": 1e3 * t_only / population,
            "extra": t_props / t_plain - 1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--population", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with threadpool_limits(limits=1, user_api="blas"):
        for path in CONFIGS:
            r = measure(path, args.population, args.repeats)
            print(f"{r['config']}: {r['structures']} structures, {r['atoms']} atoms; property cells "
                  f"{r['property_atoms']} atoms; loss {r['ms_per_individual']:.3f} ms/individual, "
                  f"with property targets {r['ms_per_individual_with_properties']:.3f} "
                  f"(+{100 * r['extra']:.1f} %), targets alone "
                  f"{r['ms_per_individual_properties_alone']:.3f}")


if __name__ == "__main__":
    main()
