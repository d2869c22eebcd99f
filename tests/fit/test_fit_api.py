"""The Python API: ``gafit.Fit`` from a config, a dict or Python objects, its steps, ``FitResult``
save/load, the public names of ``gafit`` and what importing it does."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from helpers import ROOT

import gafit
from gafit.config import load_config
from gafit.fit_result import SEEDED, starts_line
from gafit.fitting import Fit
from gafit.forms.morse import Morse
from gafit.objective import Weights
from gafit.parameters import build_space
from gafit.potential import Potential
from gafit.potential_files import load_potential
from gafit.structures import ReferenceSet, Structure

CU_CONFIG = ROOT / "examples" / "cu_morse.toml"
CU_DATA = ROOT / "data" / "Cu_EMT.extxyz"
PARAMS = {"Cu-Cu.D0": [0.05, 1.5], "Cu-Cu.alpha": [0.5, 3.0], "Cu-Cu.r0": [2.0, 3.5]}


def small_table(generations: int = 3, **data: object) -> dict:
    """cu_morse.toml's table, absolute paths, a short GA."""
    table = tomllib.loads(CU_CONFIG.read_text())
    table["data"] = {"train": str(CU_DATA), **data}
    table["ga"] = {"population": 12, "generations": generations, "seed": 3}
    table["refine"] = {"starts": 2, "max_evaluations": 20}
    return table


def population(fit: Fit, n: int = 7) -> np.ndarray:
    return fit.space.from_unit(np.random.default_rng(0).random((n, fit.space.n_free)))


def test_from_config_path_dict_and_fitconfig_give_the_same_loss() -> None:
    by_path = Fit.from_config(CU_CONFIG)
    table = tomllib.loads(CU_CONFIG.read_text())
    table["data"]["train"] = str(CU_DATA)
    by_dict = Fit.from_config(table)
    by_config = Fit.from_config(load_config(CU_CONFIG))
    x = population(by_path)
    loss = by_path.objective.loss(x)
    assert np.isfinite(loss).all()
    np.testing.assert_array_equal(by_dict.objective.loss(x), loss)
    np.testing.assert_array_equal(by_config.objective.loss(x), loss)


@pytest.mark.parametrize("kind", ["atoms", "path", "paths", "refset"])
def test_fit_from_python_objects_equals_the_config(kind: str) -> None:
    """A list of ASE Atoms (targets from their calculator, as ase.io.read gives them), a path,
    several paths and a ReferenceSet all give the config's loss, bit for bit."""
    from gafit.io import read_reference

    train = {"atoms": lambda: ase.io.read(CU_DATA, ":"), "path": lambda: CU_DATA,
             "paths": lambda: [str(CU_DATA)], "refset": lambda: read_reference(CU_DATA)}[kind]()
    mine = Fit(Potential(["Cu"], [Morse(["Cu"], 6.0)]), train, PARAMS,
               weights=Weights(energy=1.0, forces=1.0, stress=0.1))
    ref = Fit.from_config(CU_CONFIG)
    assert mine.space.free == ref.space.free
    x = population(ref)
    np.testing.assert_array_equal(mine.objective.loss(x), ref.objective.loss(x))


def test_atoms_with_targets_in_info_and_arrays() -> None:
    """Atoms without a calculator: energy/stress from info, forces from arrays (extxyz's way)."""
    frames = ase.io.read(CU_DATA, ":3")
    plain = []
    for a in frames:
        b = a.copy()  # drops the calculator
        b.info["energy"] = a.get_potential_energy()
        b.info["stress"] = a.get_stress()
        b.arrays["forces"] = a.get_forces()
        plain.append(b)
    pot = Potential(["Cu"], [Morse(["Cu"], 6.0)])
    one = Fit(pot, frames, PARAMS)
    two = Fit(pot, plain, PARAMS)
    x = population(one)
    np.testing.assert_array_equal(one.objective.loss(x), two.objective.loss(x))


def test_bad_train_is_a_one_line_error() -> None:
    with pytest.raises(gafit.GafitInputError, match="train: give a data file"):
        Fit(Potential(["Cu"], [Morse(["Cu"], 6.0)]), [1, 2], PARAMS)


def test_steps_equal_run() -> None:
    table = small_table()
    whole = Fit.from_config(table).run(quiet=True)
    fit = Fit.from_config(table)
    ga = fit.run_ga(progress=False)
    refined = fit.refine(progress=False)
    assert len(refined) == 2
    steps = fit.finish(ga, refined)
    assert steps.loss == whole.loss
    np.testing.assert_array_equal(steps.x, whole.x)
    np.testing.assert_array_equal(steps.potential.values, whole.potential.values)
    assert steps.rmse == whole.rmse
    assert steps.log == whole.log or [
        {k: v for k, v in r.items() if k != "elapsed_s"} for r in steps.log] == [
        {k: v for k, v in r.items() if k != "elapsed_s"} for r in whole.log]


def test_a_config_and_its_table_write_the_same_run(tmp_path: Path) -> None:
    from gafit.config import parse_config

    table = small_table()
    a = Fit.from_config(parse_config(table)).run(tmp_path / "a", quiet=True)
    b = Fit.from_config(table).run(tmp_path / "b", quiet=True)
    assert a.loss == b.loss and a.rmse == b.rmse
    assert (tmp_path / "a" / "parameters.csv").read_text() == \
        (tmp_path / "b" / "parameters.csv").read_text()


def test_fit_result_save_load_round_trip(tmp_path: Path) -> None:
    result = Fit.from_config(small_table(validation_fraction=0.2)).run(quiet=True)
    result.save(tmp_path / "one")
    back = gafit.FitResult.load(tmp_path / "one")
    np.testing.assert_array_equal(back.potential.values, result.potential.values)
    np.testing.assert_array_equal(back.x, result.x)
    assert back.loss == result.loss and back.rmse == result.rmse
    assert back.by_config_type == result.by_config_type
    assert back.breakdown == result.breakdown and back.walls == result.walls
    assert back.at_bounds() == result.at_bounds()
    assert [{k: v for k, v in r.items()} for r in back.log] == result.log
    assert back.summary() == result.summary()
    back.save(tmp_path / "two")
    for name in ("summary.json", "parameters.csv", "log.csv", "potential.json", "lammps/pair.lmp"):
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name


def test_load_of_a_folder_without_a_fit_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(gafit.GafitInputError, match="not a gafit run folder"):
        gafit.FitResult.load(tmp_path)


def test_tables_are_built_once_per_data_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """Training and validation geometry is built once each and reused for the final RMSEs."""
    calls: list[int] = []
    build = Potential.build_tables

    def counted(self: Potential, refset: ReferenceSet):
        calls.append(len(refset))
        return build(self, refset)

    monkeypatch.setattr(Potential, "build_tables", counted)
    fit = Fit.from_config(small_table(validation_fraction=0.2))
    n_train, n_valid = len(fit.train), len(fit.validation)
    result = fit.run(quiet=True)
    assert sorted(calls) == sorted([n_train, n_valid])
    assert set(result.tables) == {"train", "validation"}
    assert result.tables["train"] is fit.objective.tables


def _si_cells() -> list[Structure]:
    rng = np.random.default_rng(1)
    out = []
    for k in range(3):
        at = bulk("Si", "diamond", a=5.43, cubic=True)
        at.positions += rng.normal(0, 0.05, at.positions.shape)
        out.append(Structure(at, energy=-4.6 * len(at) + 0.01 * k, forces=np.zeros((len(at), 3)),
                             name=f"si{k}"))
    return out


def test_reach_comes_from_the_bounds_and_the_potential_is_not_changed() -> None:
    """Tersoff's R + D bounds reach past the start file's cutoff: the fit's tables and repair
    use max R + max D, the potential given is left as it was."""
    start = load_potential(ROOT / "potentials" / "Si_Tersoff_1988.tersoff")
    form = start.forms[0]
    before = form.cutoff
    assert before == pytest.approx(3.2)  # the file's R + D = 3.0 + 0.2
    bounds = {"Si-Si-Si.R": [2.6, 3.3], "Si-Si-Si.D": [0.05, 0.5], "Si-Si-Si.lambda3": [0.0, 3.0]}
    # composed by hand on the potential as read (as benchmarks/common.py did), the upper corner
    # of the bounds is silently clamped back to the file's reach
    hand = build_space(start, bounds, unspecified="fixed")
    clamped = dict(zip(hand.names, hand.expand(hand.upper[None])[0], strict=True))
    assert clamped["Si-Si-Si.R"] + clamped["Si-Si-Si.D"] == pytest.approx(3.2)
    fit = Fit(start, _si_cells(), bounds, unspecified="fixed")
    assert form.cutoff == before and start.forms[0] is form
    assert fit.potential.forms[0].cutoff == pytest.approx(3.8)
    assert fit.reach == [pytest.approx(3.8)]
    assert all(b.form_tables[0].cutoff == pytest.approx(3.8) for b in fit.objective.tables.blocks)
    # the vector at the upper bounds keeps R + D = 3.8: repair clamps nothing inside the bounds
    names = fit.space.free
    theta = fit.space.expand(fit.space.upper[None])
    full = dict(zip(fit.space.names, theta[0], strict=True))
    assert full["Si-Si-Si.R"] + full["Si-Si-Si.D"] == pytest.approx(3.8)
    assert set(names) == {"Si-Si-Si.R", "Si-Si-Si.D", "Si-Si-Si.lambda3"}
    assert np.isfinite(fit.objective.loss(fit.space.upper[None])).all()


def test_interaction_range_default_is_the_cutoff() -> None:
    form = Morse(["Cu"], 5.5)
    assert form.interaction_range(np.array([0.3, 1.3, 2.5])) == 5.5


def test_public_names() -> None:
    from gafit.calculator import GafitCalculator
    from gafit.config import load_config as lc
    from gafit.errors import GafitError, GafitInputError
    from gafit.fit_result import FitResult
    from gafit.forms import available_forms
    from gafit.io import read_reference, write_reference

    assert gafit.Fit is Fit and gafit.FitResult is FitResult and gafit.Potential is Potential
    assert gafit.read_reference is read_reference and gafit.write_reference is write_reference
    assert gafit.load_config is lc and gafit.GafitCalculator is GafitCalculator
    assert gafit.available_forms is available_forms
    assert gafit.GafitError is GafitError and gafit.GafitInputError is GafitInputError
    assert "morse" in gafit.available_forms()
    pot = gafit.load_potential(ROOT / "potentials" / "Si_Tersoff_1988.tersoff")
    assert pot.forms[0].name == "tersoff"
    for name in gafit.__all__:
        assert getattr(gafit, name) is not None
    with pytest.raises(AttributeError):
        _ = gafit.no_such_name


def test_import_gafit_is_cheap_and_leaves_the_environment_alone() -> None:
    code = ("import os, sys; before = dict(os.environ); import gafit; "
            "assert dict(os.environ) == before, set(os.environ) ^ set(before); "
            "assert 'numpy' not in sys.modules, 'numpy'; "
            "gafit.Fit; assert dict(os.environ) == before, 'after Fit'")
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_fit_run_resumes_a_stopped_run(tmp_path: Path) -> None:
    """Fit.run(resume=True) continues from the checkpoint to the uninterrupted run's result."""
    from gafit.fitting import FitInterrupted

    table = small_table(generations=4)
    whole = Fit.from_config(table).run(quiet=True)
    asked = []

    def stop_after_two() -> str | None:  # asked once per generation by the GA, then elsewhere
        asked.append(1)
        return "SIGINT" if len(asked) > 3 else None

    with pytest.raises(FitInterrupted) as err:
        Fit.from_config(table).run(tmp_path, quiet=True, should_stop=stop_after_two)
    assert err.value.generation is not None and err.value.generation < 4
    again = Fit.from_config(table).run(tmp_path, quiet=True, resume=True)
    assert again.loss == whole.loss
    np.testing.assert_array_equal(again.potential.values, whole.potential.values)


def _stopped_run(table: dict, run: Path) -> int:
    """Run ``table`` into ``run`` until a stop after its second generation; the last generation
    saved."""
    from gafit.fitting import FitInterrupted

    asked = []

    def stop_after_two() -> str | None:  # asked once per generation by the GA, then elsewhere
        asked.append(1)
        return "SIGINT" if len(asked) > 3 else None

    with pytest.raises(FitInterrupted) as err:
        Fit.from_config(table).run(run, quiet=True, should_stop=stop_after_two)
    assert err.value.generation is not None
    return err.value.generation


def test_fit_resume_continues_a_stopped_run_in_its_folder_or_another(tmp_path: Path) -> None:
    """Fit.resume(run_dir).run() ends where the uninterrupted run ends, in run_dir by default or
    in the folder run() is given (which then holds the checkpoint and the run's files)."""
    table = small_table(generations=4)
    whole = Fit.from_config(table).run(tmp_path / "whole", quiet=True)
    saved = _stopped_run(table, tmp_path / "run")
    assert saved < 4
    fit = Fit.resume(tmp_path / "run")
    assert fit.checkpoint is not None and fit.checkpoint.state.generation == saved
    elsewhere = fit.run(tmp_path / "copy", quiet=True)
    again = Fit.resume(tmp_path / "run").run(quiet=True)
    for result in (again, elsewhere):
        assert result.loss == whole.loss
        np.testing.assert_array_equal(result.potential.values, whole.potential.values)
    for run in ("run", "copy"):
        assert (tmp_path / run / "log.csv").read_text().count("\n") == \
            (tmp_path / "whole" / "log.csv").read_text().count("\n")
        assert (tmp_path / run / "parameters.csv").read_text() == \
            (tmp_path / "whole" / "parameters.csv").read_text()


def test_fit_resume_extends_a_finished_run_by_generations(tmp_path: Path) -> None:
    """Fit.resume(run_dir, generations=N) on a finished run of G generations gives the run of
    G + N generations, whatever the workers."""
    longer = Fit.from_config(small_table(generations=5)).run(quiet=True)
    Fit.from_config(small_table(generations=3)).run(tmp_path, quiet=True)
    fit = Fit.resume(tmp_path, generations=2, workers=2)
    assert (fit.config.ga.generations, fit.config.ga.workers) == (5, 2)
    extended = fit.run(quiet=True)
    assert extended.ga.generations == longer.ga.generations
    assert extended.loss == longer.loss
    np.testing.assert_array_equal(extended.potential.values, longer.potential.values)


def test_fit_resume_extends_the_time_limit_from_the_checkpoint_each_time(tmp_path: Path) -> None:
    """max_time of an extension is the stored limit plus the checkpoint's time, however often a
    loaded checkpoint is resumed; the checkpoint itself is not changed."""
    from gafit.checkpoint import load_checkpoint

    table = small_table(generations=2)
    table["ga"]["max_time"] = 600.0
    Fit.from_config(table).run(tmp_path, quiet=True)
    ck = load_checkpoint(tmp_path)
    first, second = (Fit.resume(ck, generations=1) for _ in range(2))
    assert first.config.ga.max_time == second.config.ga.max_time == 600.0 + ck.state.elapsed
    assert (ck.config.ga.max_time, ck.config.ga.generations) == (600.0, 2)
    assert first.run_dir is None and first.config.ga.generations == 3


def test_fit_resume_refuses_changed_data_and_a_folder_without_checkpoint(tmp_path: Path) -> None:
    table = small_table(generations=2)
    data = tmp_path / "train.extxyz"
    data.write_bytes(CU_DATA.read_bytes())
    table["data"]["train"] = str(data)
    Fit.from_config(table).run(tmp_path / "run", quiet=True)
    with pytest.raises(gafit.GafitInputError, match="no checkpoint.npz to resume from"):
        Fit.resume(tmp_path)
    data.write_bytes(data.read_bytes() + b"\n")
    with pytest.raises(gafit.GafitInputError, match="changed since the run"):
        Fit.resume(tmp_path / "run")


def test_a_fit_made_from_objects_writes_no_checkpoint_and_refuses_resume(tmp_path: Path) -> None:
    from gafit.ga import GASettings

    fit = Fit(Potential(["Cu"], [Morse(["Cu"], 6.0)]), CU_DATA, PARAMS,
              ga=GASettings(population=8, generations=2, seed=1))
    fit.run(tmp_path, quiet=True)
    assert (tmp_path / "summary.json").is_file() and not (tmp_path / "checkpoint.npz").exists()
    with pytest.raises(gafit.GafitInputError, match="only a fit made from a config"):
        fit.run(tmp_path, quiet=True, resume=True)


def test_save_with_report_writes_the_page(tmp_path: Path) -> None:
    result = Fit.from_config(small_table(generations=2)).run(quiet=True)
    result.save(tmp_path, report=True)
    page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert f"{result.loss:.6g}" in page
    assert (tmp_path / "report" / "parity.png").is_file()  # the config named the data
    assert gafit.FitResult.load(tmp_path).loss == result.loss


def test_a_target_of_your_own_is_fitted_with_the_data() -> None:
    """Fit(targets=[...]) adds a loss term written outside gafit (tests/test_targets.py's fcc
    lattice constant, no Jacobian) to the fit: the data alone give the Morse's own lattice constant,
    a heavy lattice target moves it to the target's; the term has its own breakdown entry."""
    from test_targets import LatticeConstant

    from gafit.config import RefineConfig
    from gafit.ga import GASettings

    pot = Potential(["Cu"], [Morse(["Cu"], 6.0)])
    settings = {"ga": GASettings(population=16, generations=4, seed=2),
                "refine": RefineConfig(starts=1, max_evaluations=60)}
    plain = Fit(pot, CU_DATA, PARAMS, **settings).run(quiet=True)
    target = LatticeConstant(pot, "Cu", 3.45, 0.0005)
    aimed = Fit(pot, CU_DATA, PARAMS, targets=[target], **settings)
    assert not aimed.resumable
    result = aimed.run(quiet=True)
    assert "lattice" in result.breakdown and "lattice" not in plain.breakdown
    a_plain = target.lattice_constant(plain.potential.values[None])[0]
    a_aimed = target.lattice_constant(result.potential.values[None])[0]
    assert abs(a_aimed - 3.45) < 0.005 < abs(a_plain - 3.45)


def test_the_result_says_where_each_least_squares_start_came_from_and_ended(tmp_path: Path) -> None:
    """Each least-squares start is named (a GA individual, or the potential's own values the GA was
    seeded with), with the loss there and at its end, in the result, summary.json and the summary."""
    table = small_table()
    table["potential"]["start"] = str(ROOT / "potentials" / "Cu_Morse_Girifalco_Weizer_1959.json")
    fit = Fit.from_config(table)
    assert fit.seeded
    result = fit.run(tmp_path / "run", quiet=True)
    assert [s["origin"] for s in result.starts] == ["GA individual 1", "GA individual 2", SEEDED]
    starts = fit.refine_starts()
    np.testing.assert_array_equal(starts[-1], fit.space.start())
    assert [s["start_loss"] for s in result.starts] == list(fit.objective.loss(np.array(starts)))
    assert min(s["end_loss"] for s in result.starts) == result.refined_loss
    assert not any(s["stopped_by_time"] for s in result.starts)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["refine_starts"] == result.starts
    assert gafit.FitResult.load(tmp_path / "run").starts == result.starts
    assert "\nleast squares ends: " in result.summary()
    page = result.write_report(tmp_path / "run").read_text(encoding="utf-8")
    assert "Least-squares starts" in page and "GA individual 2" in page


def test_the_summary_says_when_the_start_values_refined_end_lowest() -> None:
    def start(origin: str, end: float) -> dict:
        return {"origin": origin, "start_loss": 0.5, "end_loss": end, "stopped_by_time": False}

    line = starts_line([start("GA individual 1", 6.2e-4), start(SEEDED, 5.9e-4)])
    assert line.startswith("least squares ends: the potential's start values 0.00059 (from 0.5), "
                           "GA individual 1 0.00062 (from 0.5)")
    assert line.endswith("; the best end is from the potential's own start values, the GA's "
                         "starts ended higher (at best 0.00062)")
    # the same end to rounding, or a GA individual lower: no note
    for starts in ([start("GA individual 1", 1.0), start(SEEDED, 1.0 - 1e-9)],
                   [start("GA individual 1", 0.5), start(SEEDED, 0.6)], [start(SEEDED, 0.6)]):
        assert "the best end" not in starts_line(starts)
