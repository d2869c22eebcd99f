"""Shared pieces of the benchmarks: gafit's batched objective against LAMMPS in the same run.

Every case times, on the same structures with the same potential:

- **gafit**: one objective evaluation (energy, forces and stress of every structure, residuals and
  loss) per parameter vector, batched over a population (seconds per individual);
- **LAMMPS step**: LAMMPS's own kernel, one MD step inside ``run N`` (E, F and the pressure
  compute every step, no neighbour rebuild), on one persistent instance per structure;
- **LAMMPS Pair**: the "Pair" section of LAMMPS's own timer breakdown for those steps;
- **LAMMPS run 0**: ``run 0`` inside LAMMPS (setup, neighbour-list build, one E/F/stress);
- **LAMMPS driven**: a fitter driving LAMMPS from Python the best way: re-issue the pair lines
  (re-reading any parameter file), ``run 0``, read E, F and stress back.

All LAMMPS times are for one evaluation of the whole set, so each ratio is LAMMPS / gafit per
parameter vector. Times are best-of-N CPU times (see :data:`clock`) on a shared machine, gafit's and
LAMMPS's measured one after the other in the same run (LAMMPS in a fresh child process, see
:func:`lammps_part`). :func:`measure` does all of it for one case.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing
import os
import re
import resource
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

# gafit and LAMMPS each on one core (a BLAS thread pool would only add spinning threads)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from ase import Atoms  # noqa: E402
from ase.build import bulk  # noqa: E402

from gafit.config import ConstraintsConfig, FitConfig, load_config, parse_config  # noqa: E402
from gafit.fitting import Fit  # noqa: E402
from gafit.lammps.files import atom_style, pair_lines  # noqa: E402
from gafit.lammps.runner import LammpsEvaluator  # noqa: E402
from gafit.objective import Objective  # noqa: E402
from gafit.potential import Potential  # noqa: E402
from gafit.structures import ReferenceSet, Structure  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

#: the clock of every timing: CPU seconds of this process. The machine is shared, and wall time
#: counts the other jobs' time slices; gafit and LAMMPS both run on one thread here, so on an
#: idle machine CPU time equals wall time. LAMMPS's own timer rows (step, Pair) are wall time, but
#: per structure and per short run (best of N), which other jobs rarely interrupt.
clock = time.process_time


def shared(relpath: str) -> Path | None:
    """A file of ../shared/data, or None (the benchmark then says it skipped)."""
    path = SHARED / relpath
    return path if path.exists() else None


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB: VmHWM of /proc/self/status (the
    getrusage maximum survives exec, so it could be a parent's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- gafit


#: the benchmarks time the objective's data terms (and the targets they name): no wall
#: constraint, no stability or E0 guard
NO_CONSTRAINTS = ConstraintsConfig(wall="off", stable=False, e0_range="off")


def fit_of(config: FitConfig | dict | str | Path, source: Path | None = None,
           **changes: Any) -> Fit:
    """gafit's :class:`Fit` of a config (a FitConfig, a TOML path, or a config's table whose
    relative paths start from the folder of ``source``, else from the working folder) with
    :data:`NO_CONSTRAINTS` and ``changes`` to its sections (e.g. ``properties=[...]``), without the
    data check's warnings."""
    if isinstance(config, dict):
        config = parse_config(config, source)
    elif not isinstance(config, FitConfig):
        config = load_config(config)
    return Fit.from_config(dataclasses.replace(config, **{"constraints": NO_CONSTRAINTS, **changes}),
                           check_data=False)


def objective_and_population(potential: Potential, data: ReferenceSet, population: int,
                             seed: int = 0) -> tuple[Objective, np.ndarray]:
    """The objective of a :class:`Fit` with every fittable non-zero parameter free within ±1 % of
    its value (the forms' reach widened to the bounds, as in a fit), and a population drawn there.
    Derived parameters (a "neutral" charge) follow from the others."""
    fittable = np.concatenate([f.fittable() for f in potential.forms])
    derived = {n for f in potential.forms for n in getattr(f, "derived_parameters", dict)()}
    spec = {n: sorted([0.99 * v, 1.01 * v]) for n, v, ok in
            zip(potential.names, potential.values, fittable, strict=False)
            if ok and v != 0 and n not in derived}
    fit = Fit(potential, data, spec, unspecified="fixed", constraints=NO_CONSTRAINTS,
              check_data=False)
    rng = np.random.default_rng(seed)
    return fit.objective, fit.space.from_unit(rng.random((population, fit.space.n_free)))



def cpu_ms(fn: Callable[[], Any], reps: int) -> float:
    """Mean CPU time (ms) of ``reps`` calls of ``fn``."""
    t = time.process_time()
    for _ in range(reps):
        fn()
    return (time.process_time() - t) / reps * 1e3


def best_cpu_ms(cases: dict[str, tuple[Callable[[], Any], int]], rounds: int = 3
                ) -> dict[str, float]:
    """Each case ``name: (fn, reps)`` called once (compile, caches), then the best over
    ``rounds`` alternating rounds of its mean CPU time (ms) over ``reps`` calls."""
    for fn, _ in cases.values():
        fn()
    best = dict.fromkeys(cases, np.inf)
    for _ in range(rounds):
        for key, (fn, reps) in cases.items():
            best[key] = min(best[key], cpu_ms(fn, reps))
    return best

def kernel_switch(module: Any, enabled: bool, fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` run with ``module.ENABLED`` (a compiled kernel's switch) set to ``enabled``, and set
    back to True after."""
    def run() -> Any:
        module.ENABLED = enabled
        try:
            return fn()
        finally:
            module.ENABLED = True
    return run

def best_time(fn: Callable[[], Any], repeats: int, min_seconds: float = 1.0,
              max_repeats: int = 30) -> float:
    """Best :data:`clock` time of calls of ``fn`` after one warm-up call, seconds: ``repeats``
    calls, more while they add up to less than ``min_seconds`` (at most ``max_repeats``)."""
    return float(best_times([fn], repeats, min_seconds, max_repeats)[0])


def best_times(fns: list[Callable[[], Any]], repeats: int, min_seconds: float = 1.0,
               max_repeats: int = 30) -> np.ndarray:
    """:func:`best_time` of each of ``fns``, called in turn (so that a change of the machine's
    load or of the process's heap weighs on each alike), seconds per function."""
    for fn in fns:
        fn()
    best, spent, n = np.full(len(fns), np.inf), np.zeros(len(fns)), 0
    while n < repeats or (spent.min() < min_seconds and n < max_repeats):
        for k, fn in enumerate(fns):
            t0 = clock()
            fn()
            dt = clock() - t0
            best[k], spent[k] = min(best[k], dt), spent[k] + dt
        n += 1
    return best


def time_gafit(potential: Potential, data: ReferenceSet, population: int, repeats: int = 3,
               seed: int = 0) -> tuple[float, Objective]:
    """Seconds per objective evaluation (E, F, stress residuals) in batches of ``population``."""
    obj, x = objective_and_population(potential, data, population, seed)
    return best_time(lambda: obj.loss(x), repeats) / population, obj


# --------------------------------------------------------------------------- LAMMPS


def _handles(lmp: LammpsEvaluator) -> list[Any]:
    # gafit keeps one LAMMPS instance per structure; the kernel timing drives them directly
    return [inst.lmp for inst in lmp._instances.values()]


def with_derived(potential: Potential, values: np.ndarray) -> np.ndarray:
    """``values`` with every derived parameter (a "neutral" charge) recomputed from its sources."""
    out = values.copy()
    index = {n: k for k, n in enumerate(potential.names)}
    for form in potential.forms:
        for name, combo in getattr(form, "derived_parameters", dict)().items():
            out[index[name]] = sum(c * out[index[src]] for src, c in combo.items())
    return out


#: the LAMMPS lines of a potential (``pair_lines``'s signature): pair, kspace and charge lines
LinesFn = Callable[[Potential, Path], list[str]]


def ewald_lines(potential: Potential, outdir: Path, accuracy: str = "1e-10") -> list[str]:
    """gafit's exported lines (:func:`pair_lines`) with ``kspace_style ewald ACCURACY``."""
    return [f"kspace_style ewald {accuracy}" if line.startswith("kspace_style ewald ") else line
            for line in pair_lines(potential, outdir)]


def time_lammps_driven(potential: Potential, data: ReferenceSet, lmp: LammpsEvaluator,
                       workdir: Path, evaluations: int, rng_scale: float = 0.01,
                       seed: int = 0, lines: LinesFn = pair_lines) -> float:
    """Seconds per evaluation when a fitter drives LAMMPS in the best way from Python.

    One persistent instance per structure (``lmp`` has computed ``data`` once); each evaluation
    writes the parameter files, re-issues pair_style/pair_coeff (and kspace and charge lines),
    runs ``run 0`` and reads energy, forces and stress.
    """
    rng = np.random.default_rng(seed)
    fittable = np.concatenate([f.fittable() for f in potential.forms]
                              + [np.zeros(len(potential.species), bool)])
    best = np.inf
    for _ in range(evaluations):
        step = rng_scale * rng.uniform(-1, 1, potential.n_params) * fittable
        values = with_derived(potential, potential.repair(potential.values * (1 + step)[None])[0])
        t0 = clock()
        lmp.set_pair_lines(lines(potential.with_values(values), workdir))
        out = lmp.compute(data.structures)
        _ = [np.sum(f) for _, f, _ in out]
        best = min(best, clock() - t0)
    return best


_LOOP = re.compile(r"^Loop time of (\S+) on \d+ procs for (\d+) steps", re.MULTILINE)
_SECTION = re.compile(r"^(Pair|Kspace|Neigh|Comm|Output|Modify)\s*\|\s*\S+\s*\|\s*(\S+)\s*\|", re.MULTILINE)


def _timer_rows(text: str) -> list[dict[str, float]]:
    """Per ``run``: loop time and the avg column of each section of LAMMPS's timer breakdown."""
    rows: list[dict[str, float]] = []
    starts = [m.start() for m in _LOOP.finditer(text)] + [len(text)]
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        block = text[a:b]
        m = _LOOP.match(block)
        assert m is not None
        row = {"loop": float(m.group(1)), "steps": int(m.group(2))}
        row.update({k.lower(): float(v) for k, v in _SECTION.findall(block)})
        rows.append(row)
    return rows


def time_lammps_run0(lmp: LammpsEvaluator, repeats: int = 3) -> float:
    """Seconds of ``run 0`` (setup with the neighbour build, one E/F/stress) for the whole set,
    each structure's best of ``repeats`` (after a warm-up), on the instances as gafit's runner
    sets them up (skin 1 Å). Includes the few µs of one library call per structure."""
    handles = _handles(lmp)
    run0 = np.full(len(handles), np.inf)
    for _ in range(repeats + 1):
        for k, h in enumerate(handles):
            t0 = clock()
            h.command("run 0")
            run0[k] = min(run0[k], clock() - t0)
    return float(run0.sum())


def time_lammps_kernel(lmp: LammpsEvaluator, workdir: Path, repeats: int = 3,
                       target_seconds: float = 0.3) -> dict[str, float]:
    """LAMMPS's own kernel per evaluation of the whole set, from LAMMPS's timers (seconds).

    On every instance: skin 0 and no neighbour rebuild during a run (nothing moves: no fix), and
    ``thermo 1`` so that the energy and the pressure compute (the virial) are evaluated and
    output on every step, as gafit computes E, F and stress. Then ``run N``; summed over the
    structures, each structure's best of ``repeats``: ``step`` is LAMMPS's loop time / N (no
    setup), ``pair``, ``comm``, ``output``, ... the rows of LAMMPS's timer breakdown / N.
    """
    handles = _handles(lmp)
    for h in handles:
        h.commands_list(["neighbor 0.0 bin", "neigh_modify delay 0 every 1000000000 check no",
                         "thermo 1"])
    t0 = clock()
    for h in handles:
        h.command("run 1")
    steps = int(np.clip(math.ceil(target_seconds / (clock() - t0)), 5, 500))
    best: dict[str, np.ndarray] = {}
    for r in range(repeats):
        log = workdir / f"lammps_timer_{r}.log"
        for h in handles:
            h.commands_list([f"log {log} append", f"run {steps}", "log none"])
        rows = _timer_rows(log.read_text())
        if len(rows) != len(handles) or any(row["steps"] != steps for row in rows):
            raise RuntimeError(f"unexpected LAMMPS log {log}")
        for key in rows[0]:
            vals = np.array([row.get(key, 0.0) for row in rows])
            best[key] = np.minimum(best[key], vals) if key in best else vals
    out = {k: float(v.sum()) / steps for k, v in best.items() if k != "steps"}
    out["step"] = out.pop("loop")
    out["steps"] = steps
    return out


def agreement(gafit: tuple[np.ndarray, np.ndarray, np.ndarray], out: list,
              n_atoms_s: np.ndarray) -> dict[str, float]:
    """Largest |gafit - LAMMPS| of energy per atom (eV), forces (eV/Å), stress (eV/Å³).

    ``gafit``: energies (S,), forces (3N,) and stresses (S, 6) of gafit at the same parameters.
    """
    e_lmp = np.array([e for e, _, _ in out])
    f_lmp = np.concatenate([f.ravel() for _, f, _ in out])
    s_lmp = np.array([s for _, _, s in out])
    ok = np.isfinite(s_lmp).all(axis=1)
    return {
        "energy": float(np.max(np.abs(gafit[0] - e_lmp) / n_atoms_s)),
        "forces": float(np.max(np.abs(gafit[1] - f_lmp))),
        "stress": float(np.max(np.abs(gafit[2][ok] - s_lmp[ok]), initial=0.0)),
    }


# --------------------------------------------------------------------------- one case


def lammps_part(potential: Potential, data: ReferenceSet, repeats: int, evaluations: int,
                lines: LinesFn = pair_lines) -> tuple[dict[str, Any], list]:
    """All LAMMPS timings of :func:`measure` (run in a fresh process) and LAMMPS's E, F, stress.

    A fresh process matters: every LAMMPS ``run`` calls mallinfo2() (memory_usage in
    Output::setup), which walks the whole heap of the process, so a heap grown by gafit (or by
    many instances, or fragmented by changes of settings) slows every ``run 0``.
    """
    res: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with LammpsEvaluator(potential.species, lines(potential, work), work,
                             atom_style(potential)) as lmp:
            t0 = time.perf_counter()
            out = lmp.compute(data.structures)  # creates the instances (once per fit: untimed)
            res["lammps_setup_wall_s"] = time.perf_counter() - t0
            # run 0 first: every settings change fragments the heap that each run walks
            t0 = time.perf_counter()
            res["lammps_run0_s"] = time_lammps_run0(lmp, repeats)
            res["lammps_run0_wall_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            res["lammps_driven_s"] = time_lammps_driven(potential, data, lmp, work, evaluations,
                                                        lines=lines)
            res["lammps_driven_wall_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            kern = time_lammps_kernel(lmp, work, repeats)
            res["lammps_kernel_wall_s"] = time.perf_counter() - t0
    res["lammps_steps"] = kern.pop("steps")
    res.update({f"lammps_{k}_s": v for k, v in kern.items()})
    res["rss_lammps_mb"] = peak_rss_mb()
    return res, out


def measure(name: str, potential: Potential, data: ReferenceSet, population: int = 100,
            repeats: int = 3, evaluations: int = 3, lammps: bool = True,
            lines: LinesFn = pair_lines) -> dict[str, Any]:
    """Time gafit, then LAMMPS in a fresh process (:func:`lammps_part`) on ``data``, LAMMPS
    running ``lines`` (default: gafit's export).

    Also checks that both compute the same thing: gafit's and LAMMPS's E, F and stress at the
    potential's own values. ``*_wall_s`` entries are the wall time each phase took.
    """
    res: dict[str, Any] = {"case": name, "structures": len(data), "atoms": data.n_atoms,
                           "population": population, "rss_data_mb": peak_rss_mb()}
    t0 = time.perf_counter()
    t_gafit, obj = time_gafit(potential, data, population, repeats)
    res["gafit_s"] = t_gafit
    res["rss_gafit_mb"] = peak_rss_mb()
    tabs = [b.form_tables[0] for b in obj.tables.blocks]
    res["pairs"] = sum(len(tab.r_p) for tab in tabs)
    res["triplets"] = sum(len(getattr(tab, "cos_t", ())) for tab in tabs)
    res["load_gafit"] = os.getloadavg()[0]
    pred = potential.evaluate(potential.values[None], obj.tables)
    mine = (pred.energy[0], pred.forces[0], pred.virial[0] / obj.tables.volume_s[:, None])
    n_atoms_s = obj.tables.n_atoms_s
    del obj, pred, tabs
    res["gafit_wall_s"] = time.perf_counter() - t0
    if not lammps:
        return res
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        lmp_res, out = pool.submit(lammps_part, potential, data, repeats, evaluations,
                                   lines).result()
    res["load_lammps"] = os.getloadavg()[0]
    res.update(lmp_res)
    res["agreement"] = agreement(mine, out, n_atoms_s)
    return res


def describe(res: dict[str, Any]) -> str:
    """Human-readable lines of one case of :func:`measure`."""
    if "skipped" in res:
        return f"{res['case']}: skipped ({res['skipped']})"
    n = res["atoms"]
    us = (lambda k: res[k] / n * 1e6)  # noqa: E731
    lines = [f"{res['case']}: {res['structures']} structures, {n} atoms, {res['pairs']} pairs"
             + (f", {res['triplets']} triplets" if res["triplets"] else "")
             + f"; population {res['population']}; peak RSS {res['rss_gafit_mb']:.0f} MB "
             f"(data loaded: {res['rss_data_mb']:.0f} MB)",
             f"  gafit objective      {us('gafit_s'):8.3f} µs/atom per evaluation"
             + (f"   (load average {res['load_gafit']:.2f})" if "load_gafit" in res else "")]
    if "lammps_step_s" in res:
        for key, label in (("lammps_step_s", "LAMMPS step (run N)"),
                           ("lammps_pair_s", "LAMMPS Pair timer"),
                           ("lammps_run0_s", "LAMMPS run 0"),
                           ("lammps_driven_s", "LAMMPS driven")):
            lines.append(f"  {label:20s} {us(key):8.3f} µs/atom   ratio "
                         f"{res[key] / res['gafit_s']:6.2f}x"
                         + (f"   (load average {res['load_lammps']:.2f})"
                            if "load_lammps" in res else ""))
        a = res["agreement"]
        lines.append(f"  gafit vs LAMMPS: max |dE| {a['energy']:.1e} eV/atom, |dF| "
                     f"{a['forces']:.1e} eV/Å, |dS| {a['stress']:.1e} eV/Å³")
    return "\n".join(lines)


def case_args(doc: str | None, argv: list[str] | None = None,
              extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and evaluations")
    parser.add_argument("--population", type=int, default=100)
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    if extra is not None:
        extra(parser)
    return parser.parse_args(argv)


def finish(results: list[dict[str, Any]], args: argparse.Namespace) -> int:
    """Print the results of a case module and write them as JSON when asked."""
    for res in results:
        print(describe(res), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def skipped(name: str, why: str) -> dict[str, Any]:
    return {"case": name, "skipped": why}


# --------------------------------------------------------------------------- synthetic data


def synthetic_set(form: str, n_atoms: int, seed: int = 0) -> ReferenceSet:
    """About ``n_atoms`` atoms of rattled (0.05 Å) and strained (±2 %) periodic copies of
    a 64-atom diamond Si cell (``tersoff``) or a 108-atom fcc Cu cell (``morse``), with zero
    targets (the values do not change the cost)."""
    if form == "tersoff":
        cell = bulk("Si", "diamond", a=5.431, cubic=True) * (2, 2, 2)
    elif form == "morse":
        cell = bulk("Cu", "fcc", a=3.615, cubic=True) * (3, 3, 3)
    else:
        raise ValueError(f"no synthetic set for form {form!r}")
    return ReferenceSet(rattled_copies([cell], max(1, round(n_atoms / len(cell))), form, seed),
                        f"synthetic {form}")


def rattled_copies(cells: list[Atoms], n: int, name: str, seed: int = 0) -> list[Structure]:
    """``n`` copies of ``cells`` (in turn), each rattled (0.05 Å) and strained (±2 %), with zero
    targets (the values do not change the cost)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        atoms = cells[k % len(cells)].copy()
        eps = rng.uniform(-0.02, 0.02, (3, 3))
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
        atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
        out.append(Structure(atoms, energy=0.0, forces=np.zeros((len(atoms), 3)),
                             stress=np.zeros(6), name=f"{name}-{k}"))
    return out
