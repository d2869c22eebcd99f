"""Resume after SIGKILL, and the same result for any number of workers (processes or Dask)."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gafit.config import load_config
from gafit.fit import run_fit

ROOT = Path(__file__).resolve().parents[1]


def small_config(population: int = 24, generations: int = 6):
    config = load_config(ROOT / "examples" / "cu_morse.toml")
    config.ga.population, config.ga.generations = population, generations
    config.refine.enabled = False
    return config


def test_workers_do_not_change_the_result() -> None:
    one = run_fit(small_config(), quiet=True)
    config = small_config()
    config.ga.workers = 2
    two = run_fit(config, quiet=True)
    np.testing.assert_array_equal(one.potential.values, two.potential.values)
    assert [r["best_loss"] for r in one.log] == [r["best_loss"] for r in two.log]


def test_dask_cluster_gives_the_same_result() -> None:
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        config = small_config()
        config.ga.scheduler = cluster.scheduler_address
        remote = run_fit(config, quiet=True)
    local = run_fit(small_config(), quiet=True)
    np.testing.assert_array_equal(local.potential.values, remote.potential.values)


def _generation(run: Path) -> int:
    try:
        return pickle.loads((run / "checkpoint.pkl").read_bytes())["ga"].generation
    except (FileNotFoundError, EOFError, pickle.UnpicklingError):
        return -1


def test_sigkill_then_resume_matches_uninterrupted(tmp_path: Path) -> None:
    cfg = tmp_path / "fit.toml"
    text = (ROOT / "examples" / "cu_morse.toml").read_text()
    text = text.replace('"../data/Cu_EMT.extxyz"', repr(str(ROOT / "data" / "Cu_EMT.extxyz")))
    text = text.replace("population = 60", "population = 300").replace("generations = 40",
                                                                        "generations = 24")
    cfg.write_text(text)
    gafit = [sys.executable, "-m", "gafit.cli"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")

    full = tmp_path / "full"
    subprocess.run([*gafit, "fit", str(cfg), "--out", str(full), "--quiet"], check=True, env=env,
                   capture_output=True)

    run = tmp_path / "killed"
    proc = subprocess.Popen([*gafit, "fit", str(cfg), "--out", str(run), "--quiet"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while _generation(run) < 5 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    killed_at = _generation(run)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 5 <= killed_at < 24, "the run should have been killed mid-way"
    assert not (run / "potential.json").exists()

    subprocess.run([*gafit, "fit", "--resume", str(run), "--quiet"], check=True, env=env,
                   capture_output=True)
    a = json.loads((full / "potential.json").read_text())
    b = json.loads((run / "potential.json").read_text())
    assert a == b
    log_full = (full / "log.csv").read_text().splitlines()
    log_resumed = (run / "log.csv").read_text().splitlines()
    assert len(log_full) == len(log_resumed) == 26  # header + generations 0..24
    strip = [lambda rows: [r.split(",")[:2] + r.split(",")[3:] for r in rows]][0]  # no elapsed_s
    assert strip(log_full) == strip(log_resumed)
