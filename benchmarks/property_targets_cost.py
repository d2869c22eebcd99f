"""Cost of [[properties]] targets per individual: the objective's loss on a population with and without
diamond-Si targets (a, E_coh, B, C11, C12, C44), hcp-Si targets (a, c_over_a, E: an 11 x 11 grid of
(a, c) cells) and beta-tin minus diamond dE, on the shipped Tersoff Si fits' training sets.

Run: python benchmarks/property_targets_cost.py [--population 100] [--repeats 5] [--targets diamond]
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
from gafit.property_hex import StructureSpec
from gafit.property_target import PropertyTargetConfig, PropertyTargets

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ["potentials/Si_gpuga_fit.toml", "potentials/Si_mlearn_fit.toml"]
#: experiment (room temperature): a 5.431 Å, E_coh 4.63 eV/atom, B 98, C11 166, C12 64, C44 80 GPa
TARGETS = [("a", 5.431, 0.01), ("E_coh", 4.63, 0.05), ("B", 98.0, 5.0), ("C11", 166.0, 10.0),
           ("C12", 64.0, 10.0), ("C44", 80.0, 8.0)]
#: target sets measured: name -> configs
TARGET_SETS = {
    "diamond": [PropertyTargetConfig(k, r, t, "diamond", ["Si"], 5.43) for k, r, t in TARGETS],
    "hcp": [PropertyTargetConfig(k, r, t, "hcp", ["Si"], 2.55, c=4.16)
            for k, r, t in (("a", 2.55, 0.01), ("c_over_a", 1.63, 0.01), ("E", -4.0, 0.05))],
    "dE": [PropertyTargetConfig("dE", 0.25, 0.02, "beta-tin", ["Si"], 4.99, c=2.58,
                                relative_to=StructureSpec("diamond", ["Si"], 5.43))],
}


def best_time(f, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def measure(path: str, population: int, repeats: int, targets: str = "diamond") -> dict:
    from gafit.fit import fit_parameters

    config = load_config(ROOT / path)
    train, _ = read_data(config)
    potential = build_potential(config, train)
    space = build_space(potential, fit_parameters(config.potential),
                        unspecified="fixed" if config.potential.start else "free")
    widen_cutoffs(potential, space)
    props = PropertyTargets.build(potential, TARGET_SETS[targets])
    plain = Objective(potential, space, train, config.weights)
    with_props = Objective(potential, space, train, config.weights, properties=props)
    rng = np.random.default_rng(0)
    x = space.from_unit(rng.random((population, space.n_free)))
    plain.loss(x)
    with_props.loss(x)  # warm up
    t_plain = best_time(lambda: plain.loss(x), repeats)
    t_props = best_time(lambda: with_props.loss(x), repeats)
    t_only = best_time(lambda: props.residuals(space.expand(x)), repeats)
    return {"config": path, "targets": targets, "structures": len(train),
            "atoms": int(plain.tables.n_atoms_s.sum()),
            "property_atoms": int(sum(t.n_atoms_s.sum() for c in props.cells
                                      for t in (c.tables, getattr(c, "elastic_tables", None))
                                      if t is not None)),
            "ms_per_individual": 1e3 * t_plain / population,
            "ms_per_individual_with_properties": 1e3 * t_props / population,
            "ms_per_individual_properties_alone": 1e3 * t_only / population,
            "extra": t_props / t_plain - 1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--population", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--targets", choices=list(TARGET_SETS), nargs="+", default=list(TARGET_SETS))
    args = ap.parse_args()
    with threadpool_limits(limits=1, user_api="blas"):
        for path in CONFIGS:
            for targets in args.targets:
                r = measure(path, args.population, args.repeats, targets)
                print(f"{r['config']} [{targets}]: {r['structures']} structures, {r['atoms']} atoms; "
                      f"property cells {r['property_atoms']} atoms; loss "
                      f"{r['ms_per_individual']:.3f} ms/individual, with property targets "
                      f"{r['ms_per_individual_with_properties']:.3f} (+{100 * r['extra']:.1f} %), "
                      f"targets alone {r['ms_per_individual_properties_alone']:.3f}")


if __name__ == "__main__":
    main()
