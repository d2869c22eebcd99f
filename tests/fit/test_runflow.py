"""The run flow of a fit: data-only checkpoints, resuming the same problem, extensions, max_time
over the least squares, progress, and the seed rule."""

from __future__ import annotations

import glob
import json
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT

from gafit.checkpoint import CHECKPOINT, OLD_CHECKPOINT, load_checkpoint, parse_checkpoint
from gafit.cli import main
from gafit.cli.fit import _stopped
from gafit.config import config_table, load_config, parse_config, with_absolute_paths
from gafit.fitting import Fit, FitInterrupted
from gafit.refine import refine
from gafit.structures import GafitInputError


def write_config(folder: Path, population: int = 20, generations: int = 4, extra: str = "") -> Path:
    """A small Morse fit of a copy of data/Cu_EMT.extxyz, both in ``folder`` (relative path)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "data" / "Cu_EMT.extxyz", folder / "cu.extxyz")
    text = (ROOT / "examples" / "cu_morse.toml").read_text()
    text = text.replace('"../data/Cu_EMT.extxyz"', '"cu.extxyz"')
    text = text.replace("population = 60", f"population = {population}")
    text = text.replace("generations = 40", f"generations = {generations}")
    path = folder / "fit.toml"
    path.write_text(text + "\n[refine]\nstarts = 2\nmax_evaluations = 30\n" + extra)
    return path


def cli(*args: str | Path) -> int:
    return main(["fit", *map(str, args), "--quiet", "--no-report"])


def log_without_time(run: Path) -> list[list[str]]:
    rows = [r.split(",") for r in (run / "log.csv").read_text().splitlines()]
    k = rows[0].index("elapsed_s")
    return [r[:k] + r[k + 1:] for r in rows]


def test_config_round_trip_through_the_checkpoint_table_is_exact() -> None:
    configs = glob.glob(str(ROOT / "examples" / "*.toml")) + glob.glob(str(ROOT / "potentials" /
                                                                          "*.toml"))
    assert configs
    for name in configs:
        config = with_absolute_paths(load_config(name))
        table = json.loads(json.dumps(config_table(config)))
        assert parse_config(table, config.source) == config, name


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("finished")
    cfg = write_config(folder)
    assert cli(cfg, "--out", folder / "run") == 0
    return folder / "run"


def test_checkpoint_is_data_with_an_exact_state(finished_run: Path) -> None:
    path = finished_run / CHECKPOINT
    with np.load(path, allow_pickle=False) as npz:  # a plain .npz: no pickled object inside
        assert set(npz.files) == {"state.json", "pop", "pop_loss", "hof", "hof_loss"}
        meta = json.loads(npz["state.json"])
    assert meta["format"] == "gafit-checkpoint" and meta["version"] == 2
    ck = load_checkpoint(finished_run)
    assert ck.state.generation == 4
    assert ck.config == with_absolute_paths(load_config(finished_run.parent / "fit.toml"))
    assert ck.inputs == [{"path": str(finished_run.parent / "cu.extxyz"),
                          "sha256": ck.inputs[0]["sha256"]}]
    # the same bytes parse to the same state every time; the rows are those of log.csv
    again = parse_checkpoint(path.read_bytes(), path)
    assert again.state.rng_state == ck.state.rng_state
    np.testing.assert_array_equal(again.state.pop, ck.state.pop)
    assert len(ck.log) == 5 and ck.log[-1]["generation"] == 4


def test_every_flipped_bit_and_truncation_is_refused_in_one_line(finished_run: Path) -> None:
    path = finished_run / CHECKPOINT
    blob = path.read_bytes()
    for k in range(len(blob)):
        bad = bytearray(blob)
        bad[k] ^= 1 << (k % 8)
        with pytest.raises(GafitInputError) as err:
            parse_checkpoint(bytes(bad), path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)
    for n in (0, 1, len(blob) // 2, len(blob) - 1):
        with pytest.raises(GafitInputError, match="damaged checkpoint"):
            parse_checkpoint(blob[:n], path)


def test_old_pickle_checkpoint_is_refused_and_never_loaded(tmp_path: Path, capsys) -> None:
    marker = tmp_path / "pickle-ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (tmp_path / OLD_CHECKPOINT).write_bytes(pickle.dumps({"version": 1, "x": Payload()}))
    assert main(["fit", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert not marker.exists()
    assert err.count("\n") == 1 and "pickle" in err and "run any code" in err
    assert "start the fit again" in err


def test_changed_or_appended_data_is_refused(tmp_path: Path, capsys) -> None:
    from ase.io import read, write

    cfg = write_config(tmp_path)
    assert cli(cfg, "--out", tmp_path / "run") == 0
    data = tmp_path / "cu.extxyz"
    original = data.read_bytes()
    frames = read(data, ":")
    write(data, frames[:1], append=True)  # one structure more
    capsys.readouterr()
    assert main(["fit", "--resume", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(data) in err and "changed" in err
    data.write_bytes(original.replace(b"-", b"+", 1))  # one character
    assert main(["fit", "--resume", str(tmp_path / "run"), "--quiet"]) == 2
    assert "changed" in capsys.readouterr().err
    data.unlink()
    assert main(["fit", "--resume", str(tmp_path / "run"), "--quiet"]) == 2
    assert "missing" in capsys.readouterr().err


def test_resume_from_another_folder_reads_the_runs_own_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = write_config(Path("a"))  # relative paths everywhere
    assert cli(cfg, "--out", "full") == 0
    assert cli(cfg, "--out", "run", "--generations", "2") == 0
    # another folder with a different file of the same relative name
    other = tmp_path / "elsewhere" / "a"
    other.mkdir(parents=True)
    shutil.copy(cfg, other / "fit.toml")
    (other / "cu.extxyz").write_text("not the data\n")
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert cli("--resume", tmp_path / "run", "--generations", "2") == 0
    assert [f.path for f in load_checkpoint(tmp_path / "run").config.data.train] == [
        tmp_path / "a" / "cu.extxyz"]
    assert ((tmp_path / "run" / "potential.json").read_text()
            == (tmp_path / "full" / "potential.json").read_text())
    assert log_without_time(tmp_path / "run") == log_without_time(tmp_path / "full")


def test_resume_into_another_out_folder_continues_there(finished_run: Path, tmp_path: Path) -> None:
    before = {p.name: p.read_bytes() for p in finished_run.iterdir() if p.is_file()}
    assert cli("--resume", finished_run, "--out", tmp_path / "copy") == 0
    assert {p.name: p.read_bytes() for p in finished_run.iterdir() if p.is_file()} == before
    assert (tmp_path / "copy" / "potential.json").read_text() == before["potential.json"].decode()
    assert load_checkpoint(tmp_path / "copy").state.generation == 4
    # like a fresh fit, --out refuses a folder holding another fit unless --overwrite
    assert cli("--resume", finished_run, "--out", tmp_path / "copy") == 2
    assert cli("--resume", finished_run, "--out", tmp_path / "copy", "--overwrite") == 0


def test_extending_a_finished_run_equals_the_longer_run(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, generations=4)
    assert cli(cfg, "--out", tmp_path / "short") == 0
    assert cli("--resume", tmp_path / "short", "--generations", "3") == 0
    assert cli(cfg, "--out", tmp_path / "long", "--generations", "7") == 0
    assert ((tmp_path / "short" / "potential.json").read_text()
            == (tmp_path / "long" / "potential.json").read_text())
    assert log_without_time(tmp_path / "short") == log_without_time(tmp_path / "long")
    assert len(log_without_time(tmp_path / "long")) == 9  # header + generations 0..7


def test_resume_with_another_problem_is_refused(finished_run: Path) -> None:
    ck = load_checkpoint(finished_run)
    config = load_config(finished_run.parent / "fit.toml")
    config.ga.population += 2
    with pytest.raises(GafitInputError, match=r"differs from the checkpoint's in \[ga\]"):
        Fit.from_config(config).run(finished_run, quiet=True, resume=ck)


@pytest.mark.parametrize("args", [["--seed", "-7"], []])
def test_negative_seeds_are_refused_in_one_line(tmp_path: Path, capsys, args) -> None:
    cfg = write_config(tmp_path, extra="")
    text = cfg.read_text().replace("seed = 1", "seed = 1\nsubset_fraction = 0.5\n"
                                   "subset_generations = 2")
    if not args:
        text = text.replace("seed = 1\n", "seed = -7\n")
    cfg.write_text(text)
    assert main(["fit", str(cfg), "--out", str(tmp_path / "run"), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "seed" in err and "-7" in err


def test_least_squares_stop_at_the_deadline_with_the_best_point(monkeypatch) -> None:
    clock = [0.0]
    seen: list[tuple[np.ndarray, float]] = []

    def residuals(x: np.ndarray) -> np.ndarray:
        clock[0] += 1.0  # one "second" per residual vector
        r = np.hstack([x - 0.3, 10 * (x[:, :1] - x[:, 1:] ** 2)])
        seen.extend((row.copy(), float(v @ v)) for row, v in zip(x, r, strict=True))
        return r

    import gafit.refine

    monkeypatch.setattr(gafit.refine.time, "time", lambda: clock[0])
    lower, upper = np.full(2, -2.0), np.full(2, 2.0)
    full = refine(residuals, np.array([-1.5, 1.7]), lower, upper, 500)
    assert not full.stopped_by_time
    seen.clear()
    clock[0] = 0.0
    cut = refine(residuals, np.array([-1.5, 1.7]), lower, upper, 500, deadline=12.0)
    assert cut.stopped_by_time and cut.message == "stopped at the time limit"
    assert clock[0] < 12.0 + 3  # at most one Jacobian batch (n + 1 vectors) past the deadline
    singles = [(x, loss) for x, loss in seen]  # every vector evaluated, incl. Jacobian batches
    assert cut.loss >= min(loss for _, loss in singles)
    assert cut.loss > full.loss
    best = [loss for x, loss in singles if np.array_equal(x, cut.x)]
    assert best and best[0] == cut.loss


def test_max_time_bounds_the_least_squares(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    config.ga.max_time = 0.0
    config.refine.max_evaluations = 10_000
    result = Fit.from_config(config).run(tmp_path / "run", quiet=True)
    assert result.ga.stop_reason == "time" and result.ga.generations == 0
    assert result.refine_stopped_by_time
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["refine_stopped_by_time"] is True


def test_least_squares_and_memetic_steps_show_progress(tmp_path: Path, capsys) -> None:
    config = load_config(write_config(tmp_path, generations=2))
    config.ga.memetic_every = 1
    Fit.from_config(config).run(quiet=False)
    err = capsys.readouterr().err
    assert "least squares" in err and "start 1 of 2" in err and "evaluations, best loss" in err
    assert "memetic step: 1 of 2" in err


def _inside(name: str) -> bool:
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code.co_name == name:
            return True
        frame = frame.f_back
    return False


def test_a_stop_in_the_least_squares_keeps_the_final_checkpoint(tmp_path: Path, capsys) -> None:
    config = load_config(write_config(tmp_path))
    with pytest.raises(FitInterrupted) as err:
        Fit.from_config(config).run(tmp_path / "run", quiet=True,
                should_stop=lambda: "SIGINT" if _inside("refine") else None)
    assert (err.value.signal, err.value.generation, err.value.phase) == ("SIGINT", 4, "refinement")
    assert load_checkpoint(tmp_path / "run").state.generation == 4
    assert not (tmp_path / "run" / "potential.json").exists()
    assert _stopped(err.value, tmp_path / "run") == 130
    assert capsys.readouterr().err == (f"gafit: stopped by SIGINT in the least squares after "
                                       f"generation 4; continue with: gafit fit --resume "
                                       f"{tmp_path / 'run'}\n")
    assert cli("--resume", tmp_path / "run") == 0
    assert cli(tmp_path / "fit.toml", "--out", tmp_path / "full") == 0
    assert ((tmp_path / "run" / "potential.json").read_text()
            == (tmp_path / "full" / "potential.json").read_text())
