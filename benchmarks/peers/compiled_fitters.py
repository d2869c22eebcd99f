"""gafit against the compiled fitters' kernels, in µs per atom per evaluation of a whole reference set
(energy, forces and, where the data has them, stresses), on the same structures and parameters,
measured in ONE run: gafit's objective at population 100 and 1, LAMMPS's own kernel (one MD step),
potfit's objective, and a KIM API model driver (through kimpy).

Cases: Tersoff Si (LAMMPS's Si.tersoff) on gpuga_Si_diamond and mlearn_Si, Morse Cu
(Girifalco-Weizer, 6 Å) on mlearn_Cu, and Mishin's tabulated EAM Cu on mlearn_Cu (LAMMPS's
Cu_mishin1.eam.alloy; KIM's EAM_Dynamo model of Mishin's Cu; potfit not timed). Every peer that
is not installed is skipped with one line saying what is missing:

- potfit: a binary named by an environment variable, built by you from potfit's sources
  (https://github.com/potfit/potfit) with ``--model=apot`` and ``--enable-stress``:
  ``GAFIT_POTFIT_TERSOFF`` for one built with ``--interaction=tersoff``, ``GAFIT_POTFIT_PAIR``
  with ``--interaction=pair``.
- KIM: the KIM API and its models (Debian packages ``libkim-api-dev openkim-models``) and
  ``kimpy`` importable by the Python that runs this script (``pip install kimpy``).

How each is timed (CPU seconds of one core):

- gafit: the best of several objective evaluations (``Objective.loss``) on a population drawn
  within ±1 % of the potential's values (:func:`common.objective_and_population`) / population.
- LAMMPS: its own kernel, one step of ``run N`` (E, F and the pressure compute every step, no
  neighbour rebuild) on one instance per structure, in a fresh process (:func:`lammps_cpu`).
- potfit: (CPU of an optimising run - CPU of an ``opt 0`` run) / (its extra force calculations),
  see :func:`potfit_files.time_potfit`; potfit reads the files and builds its neighbour and angle
  lists once per run, as gafit builds its tables once per fit.
- KIM: neighbour lists and padding built once per structure; per parameter vector: set the
  parameters, refresh the model, compute every structure (:class:`kim_models.KimSet`).

Run: nice python benchmarks/peers/compiled_fitters.py [--case NAME ...] [--quick] [--json out.json]
(with GAFIT_POTFIT_TERSOFF, GAFIT_POTFIT_PAIR set and kimpy on PYTHONPATH; it prints one block per
case, then the markdown table of benchmarks/results.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import numpy as np  # noqa: E402
from common import (  # noqa: E402
    _handles,
    agreement,
    best_time,
    clock,
    objective_and_population,
    shared,
)
from kim_models import KimSet, missing  # noqa: E402
from potfit_files import (  # noqa: E402
    config_text,
    morse_potential_text,
    tersoff_potential_text,
    time_potfit,
)

from gafit.io import read_reference  # noqa: E402
from gafit.lammps.files import atom_style, pair_lines  # noqa: E402
from gafit.lammps.runner import LammpsEvaluator, potentials_dir  # noqa: E402
from gafit.potential import Potential  # noqa: E402
from gafit.potential_files import load_potential  # noqa: E402
from gafit.structures import ReferenceSet  # noqa: E402

REPO = HERE.parents[1]

KimParams = Callable[[dict[str, float], Potential], dict[str, list[float]]]


def kim_tersoff(p: dict[str, float], pot: Potential) -> dict[str, list[float]]:
    """The Tersoff_LAMMPS driver's parameters (one species; its m is the model's, 3)."""
    names = {"A": "A", "B": "B", "lambda1": "lambda1", "lambda2": "lambda2",
             "lambda3": "lambda3", "beta": "beta", "gamma": "gamma", "h": "costheta0", "c": "c",
             "d": "d", "n": "n", "Rc": "R", "Dc": "D"}
    return {k: [p[g]] for k, g in names.items()}


def kim_morse(p: dict[str, float], pot: Potential) -> dict[str, list[float]]:
    """The Morse_Shifted driver's parameters: E = -epsilon (exp(-2C(r-Rzero)) - 2 exp(-C(r-Rzero)))
    shifted to 0 at the cutoff."""
    return {"epsilon": [-p["D0"]], "C": [p["alpha"]], "Rzero": [p["r0"]],
            "cutoff": [pot.forms[0].cutoff]}


@dataclass(frozen=True)
class Case:
    """One benchmark: data, potential, and how each peer reads them."""

    name: str
    data: str  # file under ../shared/data
    potential: Callable[[], Potential]
    potfit_env: str | None  # environment variable naming the potfit binary (None: not timed)
    potfit_text: Callable[[Potential], str]
    kim_model: str
    kim_params: KimParams  # the KIM model's parameters from gafit's (by name suffix)
    energy_shifted: bool = False  # the KIM model shifts the pair energy to 0 at the cutoff


def _tersoff() -> Potential:
    return load_potential(potentials_dir() / "Si.tersoff")


def _mishin() -> Potential:
    return load_potential("Cu_mishin1.eam.alloy")


def _morse() -> Potential:
    return load_potential(REPO / "potentials" / "Cu_Morse_Girifalco_Weizer_1959.json")


TERSOFF_KIM = "Tersoff_LAMMPS_Tersoff_1988T2_Si__MO_245095684871_003"
MORSE_KIM = "Morse_Shifted_GirifalcoWeizer_1959HighCutoff_Cu__MO_151002396060_004"
#: Mishin, Mehl, Papaconstantopoulos 2001, as LAMMPS's Cu_mishin1.eam.alloy, but tabulated on a
#: grid of its own (forces 1e-3 eV/Å apart)
EAM_KIM = "EAM_Dynamo_MishinMehlPapaconstantopoulos_2001_Cu__MO_346334655118_005"

CASES = {
    "tersoff_gpuga": Case("Tersoff Si on gpuga_Si_diamond", "gpuga_Si_diamond/Si_gpuga_train.extxyz",
                          _tersoff, "GAFIT_POTFIT_TERSOFF", tersoff_potential_text, TERSOFF_KIM,
                          kim_tersoff),
    "tersoff_mlearn": Case("Tersoff Si on mlearn_Si", "mlearn_Si/Si_training.extxyz", _tersoff,
                           "GAFIT_POTFIT_TERSOFF", tersoff_potential_text, TERSOFF_KIM,
                           kim_tersoff),
    "morse_cu": Case("Morse Cu (6 Å) on mlearn_Cu", "mlearn_Cu/Cu_test.extxyz", _morse,
                     "GAFIT_POTFIT_PAIR", morse_potential_text, MORSE_KIM, kim_morse,
                     energy_shifted=True),
    "eam_cu": Case("EAM Cu_mishin1 (tabulated) on mlearn_Cu", "mlearn_Cu/Cu_test.extxyz",
                   _mishin, None, lambda pot: "", EAM_KIM, lambda p, pot: {}),
}


def uptime() -> str:
    """The ``uptime`` line (load averages), or os.getloadavg() when there is no uptime."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load average: " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def _by_suffix(pot: Potential, values: np.ndarray) -> dict[str, float]:
    return {n.rsplit(".", 1)[1]: float(v) for n, v in zip(pot.names, values, strict=True)}


def kim_values(case: Case, pot: Potential, values: np.ndarray) -> dict[str, list[float]]:
    """The KIM driver's parameters at gafit's ``values``."""
    return case.kim_params(_by_suffix(pot, values), pot)


def gafit_reference(pot: Potential, tables: Any, values: np.ndarray) -> tuple[np.ndarray, ...]:
    """gafit's energies (S,), forces (3N,) and stresses (S, 6) at ``values``, E0 left out."""
    values = values.copy()
    values[pot.e0_slice] = 0.0
    pred = pot.evaluate(values[None], tables)
    return pred.energy[0], pred.forces[0], pred.virial[0] / tables.volume_s[:, None]


def run_gafit(pot: Potential, data: ReferenceSet, populations: list[int],
              repeats: int) -> tuple[dict[str, Any], Any]:
    """gafit's seconds per evaluation at each population, and the tables of the last."""
    res: dict[str, Any] = {}
    obj = None
    for pop in populations:
        obj, x = objective_and_population(pot, data, pop)
        res[f"gafit_p{pop}_s"] = best_time(lambda: obj.loss(x), repeats) / pop  # noqa: B023
    assert obj is not None
    return res, obj.tables


def lammps_cpu(pot: Potential, data: ReferenceSet, repeats: int,
               target_seconds: float = 0.3) -> tuple[float, list]:
    """LAMMPS's CPU seconds per step of its own kernel for the whole set, and its E, F, stress.

    As :func:`common.time_lammps_kernel` sets the instances up (skin 0, no neighbour rebuild,
    ``thermo 1`` so that energy and the pressure compute run every step), but timed by this
    process's CPU clock, which the machine's load does not inflate (LAMMPS's own timers are wall
    time): per structure, (CPU of ``run N`` - CPU of ``run 0``) / N, best of ``repeats``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with LammpsEvaluator(pot.species, pair_lines(pot, work), work, atom_style(pot)) as lmp:
            out = lmp.compute(data.structures)
            handles = _handles(lmp)
            for h in handles:
                h.commands_list(["neighbor 0.0 bin",
                                 "neigh_modify delay 0 every 1000000000 check no",
                                 "thermo 1", "log none"])
            t0 = clock()
            for h in handles:
                h.command("run 1")
            steps = int(np.clip(np.ceil(target_seconds / (clock() - t0)), 5, 500))
            best = np.full((2, len(handles)), np.inf)
            for _ in range(repeats):
                for k, h in enumerate(handles):
                    for row, n in enumerate((0, steps)):
                        t0 = clock()
                        h.command(f"run {n}")
                        best[row, k] = min(best[row, k], clock() - t0)
    return float(np.sum(best[1] - best[0])) / steps, out


def run_lammps(pot: Potential, data: ReferenceSet, repeats: int,
               mine: tuple[np.ndarray, ...], n_atoms_s: np.ndarray) -> dict[str, Any]:
    """:func:`lammps_cpu` in a fresh process (see :func:`common.lammps_part` for why)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        step, out = pool.submit(lammps_cpu, pot, data, repeats).result()
    return {"lammps_step_s": step, "lammps_agreement": agreement(mine, out, n_atoms_s)}


def run_potfit(case: Case, pot: Potential, data: ReferenceSet, tables: Any,
               repeats: int) -> dict[str, Any]:
    if case.potfit_env is None:
        return {"potfit_skipped": "potfit: not timed for tabulated EAM here (its tab model "
                "would fit every table value)"}
    binary = os.environ.get(case.potfit_env)
    if not binary or not Path(binary).is_file():
        return {"potfit_skipped": f"potfit: set {case.potfit_env} to a potfit binary built with "
                f"--model=apot --interaction={'pair' if 'PAIR' in case.potfit_env else 'tersoff'} "
                "--enable-stress"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "config").write_text(config_text(data.structures, pot.species))
        (work / "startpot").write_text(case.potfit_text(pot))
        try:
            per_eval, evaluations, e_atom = time_potfit(Path(binary), work, repeats)
        except (RuntimeError, OSError) as exc:  # e.g. a binary of another interaction
            return {"potfit_skipped": f"potfit: {case.potfit_env}={binary} did not run: {exc}"}
    # potfit's Tersoff has no lambda3 term: compare with gafit at lambda3 = 0
    values = pot.values.copy()
    lambda3 = [k for k, n in enumerate(pot.names) if n.endswith(".lambda3")]
    values[lambda3] = 0.0
    e_gafit = gafit_reference(pot, tables, values)[0] / tables.n_atoms_s
    return {"potfit_s": per_eval, "potfit_evaluations": evaluations,
            "potfit_max_dE_eV_atom": float(np.max(np.abs(e_atom - e_gafit))),
            "potfit_compared": "gafit at lambda3 = 0 (potfit's Tersoff has no lambda3 term)"
            if lambda3 else "gafit"}


def run_kim(case: Case, pot: Potential, data: ReferenceSet, tables: Any, repeats: int,
            vectors: int) -> dict[str, Any]:
    with contextlib.chdir(tempfile.gettempdir()):  # the KIM API writes kim.log here
        return _run_kim(case, pot, data, tables, repeats, vectors)


def _run_kim(case: Case, pot: Potential, data: ReferenceSet, tables: Any, repeats: int,
             vectors: int) -> dict[str, Any]:
    why = missing(case.kim_model)
    if why is not None:
        return {"kim_skipped": f"KIM: {why}"}
    kim = KimSet(case.kim_model, data.structures, kim_values(case, pot, pot.values))
    kim.compute()
    e_kim, f_kim = kim.results()
    e_mine, f_mine, _ = gafit_reference(pot, tables, pot.values)
    de = np.abs(e_kim - e_mine) / tables.n_atoms_s
    rng = np.random.default_rng(0)
    fittable = np.concatenate([f.fittable() for f in pot.forms]
                              + [np.zeros(len(pot.species), bool)])
    draws = [kim_values(case, pot, pot.values * (1 + 0.01 * rng.uniform(-1, 1, pot.n_params)
                                                  * fittable)) for _ in range(vectors)]
    seconds = best_time(kim.evaluation(draws), repeats) / vectors
    out = {"kim_s": seconds, "kim_model": case.kim_model,
           "kim_max_dF_eV_A": float(np.max(np.abs(f_kim - f_mine)))}
    out["kim_max_dE_eV_atom"] = None if case.energy_shifted else float(de.max())
    return out


def measure(key: str, quick: bool) -> dict[str, Any]:
    case = CASES[key]
    path = shared(case.data)
    if path is None:
        return {"case": case.name, "skipped": f"../shared/data/{case.data} not found"}
    data = read_reference(path)
    pot = case.potential()
    repeats = 2 if quick else 3
    res: dict[str, Any] = {"case": case.name, "structures": len(data), "atoms": data.n_atoms,
                           "uptime_start": uptime()}
    g, tables = run_gafit(pot, data, [100, 1], repeats)
    res.update(g)
    mine = gafit_reference(pot, tables, pot.values)
    res.update(run_lammps(pot, data, repeats, mine, tables.n_atoms_s))
    res.update(run_potfit(case, pot, data, tables, repeats))
    res.update(run_kim(case, pot, data, tables, repeats, 3 if quick else 10))
    res["uptime_end"] = uptime()
    return res


PEERS = (("lammps_step_s", "LAMMPS step"), ("potfit_s", "potfit"), ("kim_s", "KIM driver"))


def describe(res: dict[str, Any]) -> str:
    """The lines of one case: µs/atom/evaluation of each code and its ratio to gafit."""
    if "skipped" in res:
        return f"{res['case']}: skipped ({res['skipped']})"
    n = res["atoms"]
    us = (lambda k: res[k] / n * 1e6)  # noqa: E731
    p100, p1 = res["gafit_p100_s"], res["gafit_p1_s"]
    lines = [f"{res['case']}: {res['structures']} structures, {n} atoms",
             f"  {res['uptime_start']}",
             f"  {'gafit, population 100':24s} {us('gafit_p100_s'):7.3f} µs/atom/eval",
             f"  {'gafit, population 1':24s} {us('gafit_p1_s'):7.3f} µs/atom/eval"]
    for key, label in PEERS:
        if key in res:
            lines.append(f"  {label:24s} {us(key):7.3f} µs/atom/eval   ÷ gafit: "
                         f"{res[key] / p100:5.2f}x (pop 100), {res[key] / p1:5.2f}x (pop 1)")
    for peer in ("potfit", "kim"):
        if f"{peer}_skipped" in res:
            lines.append(f"  skipped: {res[f'{peer}_skipped']}")
    a = res["lammps_agreement"]
    lines.append(f"  gafit vs LAMMPS: |dE| {a['energy']:.1e} eV/atom, |dF| {a['forces']:.1e} eV/Å")
    if "potfit_s" in res:
        lines.append(f"  potfit vs {res['potfit_compared']}: |dE| "
                     f"{res['potfit_max_dE_eV_atom']:.1e} eV/atom; potfit made "
                     f"{res['potfit_evaluations']} evaluations")
    if "kim_s" in res:
        de = res["kim_max_dE_eV_atom"]
        lines.append(f"  gafit vs KIM {res['kim_model']}: |dF| {res['kim_max_dF_eV_A']:.1e} eV/Å"
                     + (f", |dE| {de:.1e} eV/atom" if de is not None
                        else " (its energy is shifted to 0 at the cutoff)"))
    lines.append(f"  {res['uptime_end']}")
    return "\n".join(lines)


def markdown(results: list[dict[str, Any]]) -> str:
    """One table row per case: µs/atom/evaluation of each code, each peer's ratio to gafit at
    population 100 / 1 (> 1: gafit is faster), and the load average at its start and end."""
    head = ("| case | atoms | gafit pop. 100 | gafit pop. 1 | LAMMPS step | potfit | KIM driver "
            "| LAMMPS ÷ gafit (100 / 1) | potfit ÷ gafit (100 / 1) | KIM ÷ gafit (100 / 1) | load |")
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for res in results:
        if "skipped" in res:
            continue
        n = res["atoms"]
        us = [f"{res[k] / n * 1e6:.3f}" if k in res else "-" for k in
              ("gafit_p100_s", "gafit_p1_s", "lammps_step_s", "potfit_s", "kim_s")]
        ratios = [f"{res[k] / res['gafit_p100_s']:.2f} / {res[k] / res['gafit_p1_s']:.2f}"
                  if k in res else "-" for k in ("lammps_step_s", "potfit_s", "kim_s")]
        load = "–".join(r.split("load average:")[1].split(",")[0].strip()
                        for r in (res["uptime_start"], res["uptime_end"]))
        rows.append(f"| {res['case']} | {n} | " + " | ".join(us + ratios) + f" | {load} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", action="append", choices=sorted(CASES),
                        help="a case to run (repeatable; default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    results = []
    for key in args.case or list(CASES):
        res = measure(key, args.quick)
        print(describe(res), flush=True)
        results.append(res)
    print(markdown(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
