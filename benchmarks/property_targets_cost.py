"""Cost of [[properties]] targets per individual: the objective's loss on a population with and without
them. Cases: diamond-Si targets (a, E_coh, B, C11, C12, C44), hcp-Si targets (a, c_over_a, E: an
11 x 11 grid of (a, c) cells) and beta-tin minus diamond dE on the shipped Tersoff Si fits' training
sets, and a fit with no training data, diamond-C phonons only (Tersoff C of SiC.tersoff, phonopy's
FHI-aims diamond, Γ X L W K at each candidate's relaxed lattice) plus five diamond-C targets (a, E_coh,
C11, C12, C44). CPU time (process_time, best of the repeats: the machine may be shared), one BLAS
thread; the load average is printed beside every figure.

Run: python benchmarks/property_targets_cost.py [--population 100] [--repeats 5]
     [--cases gpuga mlearn carbon] [--targets diamond hcp dE]
(needs ../shared/data; the configs are potentials/Si_gpuga_fit.toml and Si_mlearn_fit.toml)
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from common import fit_of
from threadpoolctl import threadpool_limits

from gafit.objective import Objective
from gafit.property_hex import StructureSpec
from gafit.property_target import PropertyTargetConfig, PropertyTargets

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CONFIGS = ["potentials/Si_gpuga_fit.toml", "potentials/Si_mlearn_fit.toml"]
#: experiment (room temperature): a 5.431 Å, E_coh 4.63 eV/atom, B 98, C11 166, C12 64, C44 80 GPa
TARGETS = [("a", 5.431, 0.01), ("E_coh", 4.63, 0.05), ("B", 98.0, 5.0), ("C11", 166.0, 10.0),
           ("C12", 64.0, 10.0), ("C44", 80.0, 8.0)]
#: diamond C (gafit/suites/C.toml's references): a 3.567 Å, E_coh 7.37 eV/atom, C11 1079, C12 124,
#: C44 578 GPa
C_TARGETS = [("a", 3.567, 0.01), ("E_coh", 7.37, 0.1), ("C11", 1079.0, 50.0), ("C12", 124.0, 30.0),
             ("C44", 578.0, 30.0)]
#: a phonons-only Tersoff C fit (no [data])
C_CONFIG = {
    "potential": {"form": "tersoff", "species": ["C"], "start": "SiC.tersoff", "parameters": {
        "C-C-C.lambda3": [0.0, 4.0], "C-C-C.c": [1e3, 1e6], "C-C-C.d": [1.0, 100.0],
        "C-C-C.costheta0": [-1.0, 0.0], "C-C-C.n": [0.3, 1.5], "C-C-C.beta": [1e-7, 1e-5],
        "C-C-C.lambda2": [1.5, 3.0], "C-C-C.B": [100.0, 800.0], "C-C-C.lambda1": [3.0, 4.0],
        "C-C-C.A": [500.0, 2000.0]}},
    "phonons": {"reference": str(SHARED / "phonopy_C_diamond_FHIaims" / "phonopy_disp.yaml"),
                "qpoints": "GXLWK", "weight": 0.2, "equilibrium_weight": 0, "lattice": "relaxed"},
}
#: target sets measured: name -> configs
TARGET_SETS = {
    "diamond": [PropertyTargetConfig(k, r, t, "diamond", ["Si"], 5.43) for k, r, t in TARGETS],
    "hcp": [PropertyTargetConfig(k, r, t, "hcp", ["Si"], 2.55, c=4.16)
            for k, r, t in (("a", 2.55, 0.01), ("c_over_a", 1.63, 0.01), ("E", -4.0, 0.05))],
    "dE": [PropertyTargetConfig("dE", 0.25, 0.02, "beta-tin", ["Si"], 4.99, c=2.58,
                                relative_to=StructureSpec("diamond", ["Si"], 5.43))],
}


def best_time(f, repeats: int) -> tuple[float, float]:
    """Least CPU time of ``repeats`` calls (s) and the 1-minute load average after them."""
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        f()
        times.append(time.process_time() - t0)
    return min(times), os.getloadavg()[0]


def compare(plain: Objective, with_props: Objective, props: PropertyTargets, x: np.ndarray,
            repeats: int) -> dict:
    def fresh(f):
        """f, after the targets forget their last population's values (PhononTarget and
        PropertyTargets keep them for the stability guard: a repeated call would time a lookup)."""
        def call():
            for target in [props, *plain.phonons, *with_props.phonons]:
                target._last = None
            return f()
        return call

    fresh(lambda: plain.loss(x))()
    fresh(lambda: with_props.loss(x))()  # warm up
    # interleaved, so that both see the same load
    t_plain, t_props, t_only = [], [], []
    for _ in range(repeats):
        t_plain.append(best_time(fresh(lambda: plain.loss(x)), 1))
        t_props.append(best_time(fresh(lambda: with_props.loss(x)), 1))
        t_only.append(best_time(fresh(lambda: props.residuals(plain.space.expand(x))), 1))
    n = len(x)
    (tp, lp), (tq, lq), (to, lo) = (min(t) for t in (t_plain, t_props, t_only))
    return {"property_atoms": int(sum(t.n_atoms_s.sum() for c in props.cells
                                      for t in (c.tables, getattr(c, "elastic_tables", None))
                                      if t is not None)),
            "ms": 1e3 * tp / n, "ms_with": 1e3 * tq / n, "ms_alone": 1e3 * to / n,
            "extra": tq / tp - 1, "load": (lp, lq, lo)}


def measure(path: str, population: int, repeats: int, targets: str = "diamond") -> dict:
    plain = fit_of(ROOT / path).objective
    fit = fit_of(ROOT / path, properties=TARGET_SETS[targets])
    with_props, props, space = fit.objective, fit.property_targets, fit.space
    x = space.from_unit(np.random.default_rng(0).random((population, space.n_free)))
    return {"case": f"{path} [{targets}]: {len(fit.train)} structures, "
                    f"{int(plain.tables.n_atoms_s.sum())} atoms",
            **compare(plain, with_props, props, x, repeats)}


def measure_carbon(population: int, repeats: int) -> dict:
    source = ROOT / "potentials" / "C_phonons_only.toml"  # "start" is a file of potentials/
    plain = fit_of(C_CONFIG, source).objective
    fit = fit_of(C_CONFIG, source, properties=[PropertyTargetConfig(k, r, t, "diamond", ["C"], 3.567)
                                     for k, r, t in C_TARGETS])
    with_props, props, space = fit.objective, fit.property_targets, fit.space
    x = space.from_unit(np.random.default_rng(0).random((population, space.n_free)))
    return {"case": "diamond C, phonons only (Γ X L W K, relaxed lattice)",
            **compare(plain, with_props, props, x, repeats)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--population", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cases", nargs="+", choices=["gpuga", "mlearn", "carbon"],
                    default=["gpuga", "mlearn", "carbon"])
    ap.add_argument("--targets", choices=list(TARGET_SETS), nargs="+", default=list(TARGET_SETS))
    args = ap.parse_args()
    runs = {"gpuga": [lambda t=t: measure(CONFIGS[0], args.population, args.repeats, t)
                      for t in args.targets],
            "mlearn": [lambda t=t: measure(CONFIGS[1], args.population, args.repeats, t)
                       for t in args.targets],
            "carbon": [lambda: measure_carbon(args.population, args.repeats)]}
    with threadpool_limits(limits=1, user_api="blas"):
        for r in (run() for c in args.cases for run in runs[c]):
            lp, lq, lo = r["load"]
            print(f"{r['case']}; property cells {r['property_atoms']} atoms; loss "
                  f"{r['ms']:.3f} ms/individual (load {lp:.1f}), with property targets "
                  f"{r['ms_with']:.3f} (load {lq:.1f}) ({100 * r['extra']:+.1f} %), targets alone "
                  f"{r['ms_alone']:.3f} (load {lo:.1f})")


if __name__ == "__main__":
    main()
