"""Cost of vacancy and surface [[properties]] targets per individual: the objective's loss on a
population with and without them. Cu: a Morse (cutoff 4.8 Å) fitted to mlearn_Cu's 31 frames, with
an fcc vacancy target (default 3x3x3 conventional supercell); Si: the shipped Tersoff GPUGA and
mlearn configs, with a diamond (100) surface target. Each unrelaxed and with the harmonic relaxation.

Run: python benchmarks/property_defect_cost.py [--population 100] [--repeats 5]
(needs ../shared/data)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import fit_of
from property_targets_cost import best_time
from threadpoolctl import threadpool_limits

from gafit.property_target import PropertyTargetConfig

ROOT = Path(__file__).resolve().parents[1]
CU_DATA = ROOT.parent / "shared" / "data" / "mlearn_Cu" / "Cu_test.extxyz"
#: (label, config (a path or a table), structure, species, a, targets: (property, extra keys))
CASES = [
    ("Cu fcc vacancy", "cu", "fcc", ["Cu"], 3.6, "E_vac", {}),
    ("Si (100) surface, GPUGA", "potentials/Si_gpuga_fit.toml", "diamond", ["Si"], 5.43, "E_surf",
     {"facet": [1, 0, 0]}),
    ("Si (100) surface, mlearn", "potentials/Si_mlearn_fit.toml", "diamond", ["Si"], 5.43, "E_surf",
     {"facet": [1, 0, 0]}),
]


#: a Morse fit of the Cu EMT data (absolute paths)
CU_CONFIG = {
    "data": {"train": str(CU_DATA)},
    "potential": {"form": "morse", "species": ["Cu"], "cutoff": 4.8,
                  "parameters": {"Cu-Cu.D0": [0.2, 0.5], "Cu-Cu.alpha": [1.0, 1.8],
                                 "Cu-Cu.r0": [2.6, 3.1], "Cu.E0": [-5.0, 0.0]}}}


def measure(config_name: str, structure: str, species: list[str], a: float, prop: str, keys: dict,
            population: int, repeats: int) -> dict:
    config = CU_CONFIG if config_name == "cu" else ROOT / config_name
    fit = fit_of(config)
    plain, space, train = fit.objective, fit.space, fit.train
    rng = np.random.default_rng(0)
    x = space.from_unit(rng.random((population, space.n_free)))
    plain.loss(x)
    out = {"structures": len(train), "atoms": int(plain.tables.n_atoms_s.sum()),
           "ms_plain": 1e3 * best_time(lambda: plain.loss(x), repeats) / population}
    for suffix in ("unrelaxed", "harmonic"):
        with_props = fit_of(config, properties=[PropertyTargetConfig(
            f"{prop}_{suffix}", 1.0, 0.1, structure, species, a, **keys)])
        obj, props = with_props.objective, with_props.property_targets
        cell = next(iter(props.defects.values()))
        obj.loss(x)  # warm up
        # PropertyTargets keeps its last population's cell values (for the stability guard): forget
        # them before every timed call, or a repeated call would time a lookup
        ms = 1e3 * best_time(lambda o=obj, p=props: (setattr(p, "_last", None), o.loss(x)),
                             repeats) / population
        alone = 1e3 * best_time(lambda p=props: (setattr(p, "_last", None),
                                                 p.residuals(space.expand(x))), repeats) / population
        cells = [cell.tables] + ([cell.relax_tables] if cell.relax_tables is not None else [])
        out[suffix] = {"defect_atoms": len(cell.atoms), "modes": len(cell.modes),
                       "tabulated_atoms": int(sum(t.n_atoms_s.sum() for t in cells)),
                       "ms": ms, "ms_alone": alone, "extra": ms / out["ms_plain"] - 1}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--population", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with threadpool_limits(limits=1, user_api="blas"):
        for label, config, structure, species, a, prop, keys in CASES:
            r = measure(config, structure, species, a, prop, keys, args.population, args.repeats)
            print(f"{label}: training set {r['structures']} structures, {r['atoms']} atoms; loss "
                  f"{r['ms_plain']:.3f} ms/individual")
            for suffix in ("unrelaxed", "harmonic"):
                q = r[suffix]
                print(f"  {prop}_{suffix}: defect cell {q['defect_atoms']} atoms, {q['modes']} "
                      f"symmetric modes, {q['tabulated_atoms']} tabulated atoms; loss "
                      f"{q['ms']:.3f} ms/individual (+{100 * q['extra']:.1f} %), targets alone "
                      f"{q['ms_alone']:.3f}")


if __name__ == "__main__":
    main()
