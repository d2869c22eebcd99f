"""Shared pieces of the benchmarks: gafit's batched objective against LAMMPS in the same run."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from gafit.lammps.files import pair_lines
from gafit.lammps.runner import LammpsEvaluator
from gafit.objective import Objective
from gafit.parameters import build_space
from gafit.potential import Potential
from gafit.structures import ReferenceSet

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared(relpath: str) -> Path | None:
    """A file of ../shared/data, or None (the benchmark then says it skipped)."""
    path = SHARED / relpath
    return path if path.exists() else None


def time_gafit(potential: Potential, data: ReferenceSet, population: int, repeats: int = 3,
               seed: int = 0) -> tuple[float, Objective]:
    """Seconds per objective evaluation (E, F, stress residuals) in batches of ``population``.

    Every fittable parameter is free within ±1 % of its value, and the population is drawn there.
    """
    fittable = np.concatenate([f.fittable() for f in potential.forms])
    spec = {n: sorted([0.99 * v, 1.01 * v]) for n, v, ok in
            zip(potential.names, potential.values, fittable, strict=False) if ok and v != 0}
    space = build_space(potential, spec, unspecified="fixed")
    obj = Objective(potential, space, data)
    rng = np.random.default_rng(seed)
    x = space.from_unit(rng.random((population, space.n_free)))
    obj.loss(x)  # warm up
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        obj.loss(x)
        best = min(best, (time.perf_counter() - t0) / population)
    return best, obj


def time_lammps(potential: Potential, data: ReferenceSet, evaluations: int, workdir: Path,
                rng_scale: float = 0.01, seed: int = 0) -> float:
    """Seconds per evaluation when a fitter drives LAMMPS in the best way from Python.

    One persistent LAMMPS instance per structure; each evaluation writes the parameter files,
    re-issues pair_style/pair_coeff, runs ``run 0`` and reads energy, forces and stress.
    """
    rng = np.random.default_rng(seed)
    fittable = np.concatenate([f.fittable() for f in potential.forms]
                              + [np.zeros(len(potential.species), bool)])
    lines = pair_lines(potential, workdir)
    with LammpsEvaluator(potential.species, lines, workdir) as lmp:
        lmp.compute(data.structures)  # creates the instances (not timed: done once per fit)
        best = np.inf
        for _ in range(evaluations):
            step = rng_scale * rng.uniform(-1, 1, potential.n_params) * fittable
            values = potential.repair(potential.values * (1 + step)[None])[0]
            t0 = time.perf_counter()
            lmp.set_pair_lines(pair_lines(potential.with_values(values), workdir))
            out = lmp.compute(data.structures)
            _ = [np.sum(f) for _, f, _ in out]
            best = min(best, time.perf_counter() - t0)
    return best


def report(name: str, n_atoms: int, t_gafit: float, t_lammps: float, population: int) -> str:
    return (f"{name:34s} atoms {n_atoms:6d}  gafit {t_gafit / n_atoms * 1e6:7.3f} µs/atom "
            f"({1 / t_gafit:8.1f} eval/s, population {population})  LAMMPS-driven "
            f"{t_lammps / n_atoms * 1e6:7.3f} µs/atom ({1 / t_lammps:7.1f} eval/s)  "
            f"ratio {t_lammps / t_gafit:6.2f}x")
