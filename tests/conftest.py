"""Shared fixtures (LAMMPS availability) and the summary hook; builders are in helpers.py."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from helpers import three_volume_sets


def pytest_configure(config) -> None:
    """Cached arrays (gafit.disk_cache) in a folder of this run's own, not the user's cache: each
    run computes them once (the tests that build the same phonon supercells share them)."""
    config._gafit_cache = tempfile.mkdtemp(prefix="gafit-test-cache-")
    os.environ["GAFIT_CACHE_DIR"] = config._gafit_cache


def pytest_unconfigure(config) -> None:
    shutil.rmtree(getattr(config, "_gafit_cache", ""), ignore_errors=True)


@pytest.fixture(scope="session")
def lammps_available() -> None:
    try:
        from gafit.lammps.runner import load_lammps

        load_lammps()
    except Exception as err:  # pragma: no cover - depends on the environment
        pytest.skip(f"LAMMPS not available: {err}")


@pytest.fixture(scope="module")
def three_volumes(tmp_path_factory) -> Path:
    """phonopy data sets of the true Morse's fcc Cu at three volumes (helpers.three_volume_sets)."""
    return three_volume_sets(tmp_path_factory.mktemp("gruneisen"))


def pytest_terminal_summary(terminalreporter) -> None:
    """After the run: the tally of malformed inputs of test_bad_input.py, when it ran."""
    module = sys.modules.get("test_bad_input")
    if module is not None and module.TRIED:
        for line in module.summary_lines():
            terminalreporter.write_line(line)
