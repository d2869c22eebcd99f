"""Lost workers, signals and bad scheduler addresses: no hang, no orphan, no traceback, and the
result stays the one the seed decides."""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT

from gafit import parallel
from gafit.cli import main
from gafit.parallel import PopulationEvaluator, WorkerError, check_scheduler
from gafit.structures import GafitInputError

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


class Squares:
    """A stand-in objective, loss = sum of x², that can sleep and kill the process computing it:
    once (the first worker to remove the file ``kill_once``) or every time (``kill_always``)."""

    def __init__(self, delay_s: float = 0.0, kill_once: Path | None = None,
                 kill_always: bool = False):
        self.delay_s, self.kill_once, self.kill_always = delay_s, kill_once, kill_always

    def loss(self, x: np.ndarray) -> np.ndarray:
        if self.kill_always or (self.kill_once is not None and _take(self.kill_once)):
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(self.delay_s)
        return (x**2).sum(axis=1)


def _take(flag: Path) -> bool:
    try:
        flag.unlink()
        return True
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def within(seconds: float):
    """Fail (instead of hanging the suite) when the block takes longer than ``seconds``."""
    def overdue(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, overdue)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _population(n: int = 40) -> np.ndarray:
    return np.random.default_rng(0).random((n, 3))


def test_a_killed_worker_costs_a_rerun_not_the_result(tmp_path: Path) -> None:
    flag = tmp_path / "kill"
    flag.touch()
    x = _population()
    with within(60), PopulationEvaluator(Squares(kill_once=flag), workers=2) as pool:
        got = pool.loss(x)
        assert pool.restarts == 1 and not flag.exists()
        np.testing.assert_array_equal(pool.loss(x), got)  # the fresh pool goes on working
    np.testing.assert_array_equal(got, Squares().loss(x))
    assert mp.active_children() == []


def test_workers_that_keep_dying_stop_with_one_line() -> None:
    with within(60), pytest.raises(WorkerError) as err:
        with PopulationEvaluator(Squares(kill_always=True), workers=2) as pool:
            pool.loss(_population())
    assert f"died {parallel.MAX_RESTARTS + 1} times" in str(err.value)
    assert "\n" not in str(err.value)
    assert mp.active_children() == []


def test_an_exception_in_the_main_process_ends_busy_workers_at_once() -> None:
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    t0 = time.perf_counter()
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        with pytest.raises(KeyboardInterrupt):
            with PopulationEvaluator(Squares(delay_s=60), workers=2) as pool:
                pool.loss(_population())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.perf_counter() - t0 < 15  # not the workers' 60 s
    assert mp.active_children() == []


def test_workers_ignore_sigint() -> None:
    """Ctrl-C reaches every process of the group; the main process alone decides."""
    def interrupt_workers() -> None:
        time.sleep(0.5)
        for child in mp.active_children():
            os.kill(child.pid, signal.SIGINT)

    x = _population(2)
    with within(60), PopulationEvaluator(Squares(delay_s=2), workers=2) as pool:
        threading.Thread(target=interrupt_workers, daemon=True).start()
        try:
            got = pool.loss(x)
        except KeyboardInterrupt:
            pytest.fail("a worker stopped on SIGINT")
        assert pool.restarts == 0
    np.testing.assert_array_equal(got, Squares().loss(x))


# --- the whole command line ------------------------------------------------------------------

def _config(tmp_path: Path, population: int = 200, generations: int = 30,
            scheduler: str | None = None) -> Path:
    cfg = tmp_path / "fit.toml"
    text = (ROOT / "examples" / "cu_morse.toml").read_text()
    text = text.replace('"../data/Cu_EMT.extxyz"', repr(str(ROOT / "data" / "Cu_EMT.extxyz")))
    text = text.replace("population = 60", f"population = {population}")
    text = text.replace("generations = 40", f"generations = {generations}")
    if scheduler is not None:
        text += f"scheduler = {scheduler!r}\n"
    cfg.write_text(text + "\n[refine]\nenabled = false\n")
    return cfg


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start_fit(cfg: Path, run: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gafit.cli", "fit", str(cfg), "--out", str(run),
                             "--quiet", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # its own group, like a terminal job


def _workers_once_running(proc: subprocess.Popen) -> list[int]:
    """The two worker pids, a moment after the GA started using them."""
    deadline = time.time() + 120
    while len(_children(proc.pid)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(0.5)
    workers = _children(proc.pid)
    assert proc.poll() is None and len(workers) == 2, "the fit should be under way with 2 workers"
    return workers


def _finish(proc: subprocess.Popen, seconds: float) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"gafit fit did not end within {seconds} s")
    return proc.returncode, err


def test_fit_with_a_killed_worker_ends_as_the_uninterrupted_fit(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    full = tmp_path / "full"
    subprocess.run([sys.executable, "-m", "gafit.cli", "fit", str(cfg), "--out", str(full),
                    "--quiet"], check=True, capture_output=True, timeout=300)

    run = tmp_path / "killed"
    proc = _start_fit(cfg, run, "--workers", "2")
    os.kill(_workers_once_running(proc)[0], signal.SIGKILL)
    assert not (run / "potential.json").exists(), "the worker should have died mid-fit"
    code, err = _finish(proc, 300)
    assert code == 0, err
    assert "worker process died" in err
    assert json.loads((run / "potential.json").read_text()) == \
        json.loads((full / "potential.json").read_text())


def test_ctrl_c_with_workers_stops_promptly_and_leaves_no_process(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = _start_fit(_config(tmp_path, generations=100000), run, "--workers", "2")
    workers = _workers_once_running(proc)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    code, err = _finish(proc, 20)
    assert code != 0
    assert "Traceback" not in err
    time.sleep(0.2)
    assert not any(_alive(w) for w in workers)


def test_workers_end_with_a_killed_main_process(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = _start_fit(_config(tmp_path, generations=100000), run, "--workers", "2")
    workers = _workers_once_running(proc)
    proc.kill()
    code, err = _finish(proc, 20)  # the workers hold its stderr: this waits for them too
    assert code == -signal.SIGKILL
    assert "Traceback" not in err
    deadline = time.time() + 10
    while any(_alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)


# --- worker counts and scheduler addresses ---------------------------------------------------

@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "127.0.0.1:8786", "localhost:8786",
                                     "tcp://[::1]:8786", "tls://scheduler.cluster:8786"])
def test_scheduler_addresses_that_read_well(address: str) -> None:
    check_scheduler(address)


@pytest.mark.parametrize(("address", "reason"), [
    ("not a url", "no :PORT"), ("tcp://127.0.0.1", "no :PORT"), ("http://127.0.0.1:8786", "scheme"),
    ("tcp://:8786", "not a host name"), ("tcp://127.0.0.1:99999", "port '99999'"),
    ("tcp://127.0.0.1:80/x", "port '80/x'")])
def test_bad_scheduler_on_the_command_line_is_one_line(tmp_path: Path, capsys, address: str,
                                                       reason: str) -> None:
    assert main(["fit", str(_config(tmp_path)), "--out", str(tmp_path / "run"),
                 "--scheduler", address]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gafit: error: --scheduler {address!r}: ") and reason in err
    assert err.count("\n") == 1


def test_bad_scheduler_in_the_config_names_the_file(tmp_path: Path, capsys) -> None:
    cfg = _config(tmp_path, scheduler="not a url")
    assert main(["fit", str(cfg), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gafit: error: {cfg}: [ga] scheduler 'not a url': no :PORT")


def test_unreachable_scheduler_fails_within_the_connect_timeout(monkeypatch) -> None:
    pytest.importorskip("dask.distributed")
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_S", 2)
    with socket.socket() as sock:  # bound, not listening: connections to it are refused
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
        t0 = time.perf_counter()
        with within(60), pytest.raises(GafitInputError, match="no Dask scheduler answered"):
            PopulationEvaluator(Squares(), scheduler=address)
    assert time.perf_counter() - t0 < 20


def test_workers_below_one_are_refused(tmp_path: Path, capsys) -> None:
    assert main(["fit", str(_config(tmp_path)), "--out", str(tmp_path / "run"),
                 "--workers", "0"]) == 2
    assert capsys.readouterr().err == "gafit: error: --workers 0: must be at least 1\n"
    with pytest.raises(GafitInputError, match="workers = -1"):
        PopulationEvaluator(Squares(), workers=-1)


def test_lost_workers_reach_the_command_line_as_one_line(tmp_path: Path, capsys,
                                                         monkeypatch) -> None:
    def lose(*args: object, **kwargs: object) -> None:
        raise WorkerError("a worker process died 4 times")

    monkeypatch.setattr("gafit.fitting.Fit.run", lose)
    assert main(["fit", str(_config(tmp_path)), "--out", str(tmp_path / "run")]) == 1
    assert capsys.readouterr().err == "gafit: error: a worker process died 4 times\n"
