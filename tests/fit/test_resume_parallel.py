"""Resume after SIGKILL, SIGINT and SIGTERM, and the same result for any number of workers
(processes or Dask)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, record_pids

from gafit.checkpoint import load_checkpoint
from gafit.config import load_config
from gafit.fitting import Fit
from gafit.structures import GafitInputError


def small_config(population: int = 24, generations: int = 6):
    config = load_config(ROOT / "examples" / "cu_morse.toml")
    config.ga.population, config.ga.generations = population, generations
    config.refine.enabled = False
    return config


def test_workers_do_not_change_the_result() -> None:
    one = Fit.from_config(small_config()).run(quiet=True)
    config = small_config()
    config.ga.workers = 2
    two = Fit.from_config(config).run(quiet=True)
    np.testing.assert_array_equal(one.potential.values, two.potential.values)
    assert [r["best_loss"] for r in one.log] == [r["best_loss"] for r in two.log]


def test_refinement_starts_run_on_the_workers_with_the_serial_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The least squares after the GA: with [ga] workers each start runs in a worker process, and
    every start's end is the one a single process reaches."""
    import gafit.refine

    pids = tmp_path / "pids"
    record_pids(monkeypatch, gafit.refine, "refine", pids)

    def fit(workers: int):
        config = small_config(generations=4)
        config.refine.enabled, config.refine.starts, config.ga.workers = True, 3, workers
        config.refine.max_evaluations = 30
        fit = Fit.from_config(config)
        with fit._evaluator():
            fit.run_ga(progress=False)
            return fit.refine(progress=False)

    one = fit(1)
    pids.unlink()
    two = fit(2)
    assert len(one) == len(two) == 3
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a.x, b.x)
        assert a.loss == b.loss
    ran_in = set(pids.read_text().split())
    assert len(pids.read_text().split()) == 3 and str(os.getpid()) not in ran_in


def test_dask_cluster_gives_the_same_result() -> None:
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        config = small_config()
        config.ga.scheduler = cluster.scheduler_address
        config.refine.enabled, config.refine.max_evaluations = True, 20  # its starts there too
        remote = Fit.from_config(config).run(quiet=True)
    config = small_config()
    config.refine.enabled, config.refine.max_evaluations = True, 20
    local = Fit.from_config(config).run(quiet=True)
    assert local.refined_loss == remote.refined_loss
    np.testing.assert_array_equal(local.potential.values, remote.potential.values)


def _generation(run: Path) -> int:
    try:
        return load_checkpoint(run).state.generation
    except GafitInputError:  # not written yet
        return -1


GAFIT = [sys.executable, "-m", "gafit.cli"]
ENV = dict(os.environ, PYTHONUNBUFFERED="1")


@pytest.fixture(scope="module")
def race(tmp_path_factory) -> tuple[Path, Path]:
    """A config of 24 generations that takes a few seconds, and its uninterrupted run."""
    folder = tmp_path_factory.mktemp("race")
    cfg = folder / "fit.toml"
    text = (ROOT / "examples" / "cu_morse.toml").read_text()
    text = text.replace('"../data/Cu_EMT.extxyz"', repr(str(ROOT / "data" / "Cu_EMT.extxyz")))
    text = text.replace("population = 60", "population = 300").replace("generations = 40",
                                                                        "generations = 24")
    cfg.write_text(text)
    full = folder / "full"
    subprocess.run([*GAFIT, "fit", str(cfg), "--out", str(full), "--quiet", "--no-report"],
                   check=True, env=ENV, capture_output=True)
    return cfg, full


def _stop_mid_way(cfg: Path, run: Path, sig: signal.Signals) -> tuple[int, int, str]:
    """Start the fit, send ``sig`` once generation 5 is saved: (generation saved when it was
    sent, exit code, stderr)."""
    proc = subprocess.Popen([*GAFIT, "fit", str(cfg), "--out", str(run), "--quiet", "--no-report"],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while _generation(run) < 5 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    sent_at = _generation(run)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return sent_at, proc.returncode, err


def _assert_same_run(full: Path, run: Path) -> None:
    a = json.loads((full / "potential.json").read_text())
    b = json.loads((run / "potential.json").read_text())
    assert a == b
    log_full = (full / "log.csv").read_text().splitlines()
    log_resumed = (run / "log.csv").read_text().splitlines()
    assert len(log_full) == len(log_resumed) == 26  # header + generations 0..24
    strip = [lambda rows: [r.split(",")[:2] + r.split(",")[3:] for r in rows]][0]  # no elapsed_s
    assert strip(log_full) == strip(log_resumed)


def test_sigkill_then_resume_matches_uninterrupted(tmp_path: Path, race) -> None:
    cfg, full = race
    run = tmp_path / "killed"
    proc = subprocess.Popen([*GAFIT, "fit", str(cfg), "--out", str(run), "--quiet"], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while _generation(run) < 5 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    killed_at = _generation(run)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 5 <= killed_at < 24, "the run should have been killed mid-way"
    assert not (run / "potential.json").exists()

    subprocess.run([*GAFIT, "fit", "--resume", str(run), "--quiet", "--no-report"], check=True,
                   env=ENV, capture_output=True)
    _assert_same_run(full, run)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_with_a_resume_hint_and_resume_is_exact(tmp_path: Path, race, sig) -> None:
    cfg, full = race
    run = tmp_path / "stopped"
    sent_at, code, err = _stop_mid_way(cfg, run, sig)
    assert 5 <= sent_at < 24, "the signal should have come mid-way"
    assert code == 128 + sig.value  # 130 for SIGINT, 143 for SIGTERM
    stopped_at = _generation(run)
    assert sent_at <= stopped_at <= sent_at + 1  # at the end of the generation under way
    assert err.strip().splitlines()[-1] == (f"gafit: stopped by {sig.name} after generation "
                                            f"{stopped_at}; continue with: gafit fit --resume {run}")
    assert not (run / "potential.json").exists()
    subprocess.run([*GAFIT, "fit", "--resume", str(run), "--quiet", "--no-report"], check=True,
                   env=ENV, capture_output=True)
    _assert_same_run(full, run)
