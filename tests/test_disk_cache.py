"""gafit.disk_cache: arrays computed once and read back in later runs; and phonopy's
force-constant map of a set of supercells (gafit.phonons.harmonic) kept there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from gafit import disk_cache
from gafit.forms.morse import Morse
from gafit.phonons import harmonic
from gafit.phonons.harmonic import PhononBatch
from gafit.potential import Potential


def test_an_array_is_computed_once_then_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAFIT_CACHE_DIR", str(tmp_path))
    calls = []

    def compute() -> np.ndarray:
        calls.append(1)
        return np.arange(6.0).reshape(2, 3) / 7

    key = disk_cache.digest([b"\x00\x01", "setting"])
    first = disk_cache.cached_array("kind", key, compute)
    again = disk_cache.cached_array("kind", key, compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(first, again)
    assert [p.name for p in (tmp_path / "kind").iterdir()] == [f"{key}.npy"]
    assert key != disk_cache.digest([b"\x00", b"\x01setting"])  # parts are not run together


def test_a_damaged_file_is_computed_again_and_replaced(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAFIT_CACHE_DIR", str(tmp_path))
    (tmp_path / "kind").mkdir()
    (tmp_path / "kind" / "k.npy").write_bytes(b"not an array")
    got = disk_cache.cached_array("kind", "k", lambda: np.ones(3))
    np.testing.assert_array_equal(got, np.ones(3))
    np.testing.assert_array_equal(np.load(tmp_path / "kind" / "k.npy"), np.ones(3))


@pytest.mark.parametrize("setting", ["off", ""])
def test_off_keeps_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str) -> None:
    monkeypatch.setenv("GAFIT_CACHE_DIR", setting)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert disk_cache.folder() is None
    disk_cache.cached_array("kind", "k", lambda: np.ones(3))
    assert list(tmp_path.iterdir()) == []


def test_the_default_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GAFIT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert disk_cache.folder() == tmp_path / "gafit"


def _cu() -> Potential:
    return Potential(["Cu"], [Morse(["Cu"], 5.0)]).with_values(np.array([0.34, 1.36, 2.87, 0.0]))


def test_phonopy_map_is_probed_once_across_runs(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A second run (a new potential object: nothing shared in memory) reads the force-constant
    map instead of probing phonopy's solver again, and builds the same batch."""
    monkeypatch.setenv("GAFIT_CACHE_DIR", str(tmp_path))
    probes = []
    solve = harmonic.produce_force_constants
    monkeypatch.setattr(harmonic, "produce_force_constants",
                        lambda *a, **k: probes.append(1) or solve(*a, **k))
    prim, q = bulk("Cu", "fcc", a=3.61), [[0, 0, 0], [0.5, 0, 0.5]]
    first = PhononBatch(_cu(), prim, [2, 2, 2], q)
    n_probes = len(probes)
    assert n_probes == 3 * 8  # one displacement of 8 atoms: a probe per force component
    second = PhononBatch(_cu(), prim, [2, 2, 2], q)
    assert len(probes) == n_probes
    np.testing.assert_array_equal(second.forces_to_dyn, first.forces_to_dyn)
    np.testing.assert_array_equal(second.forces_to_fc, first.forces_to_fc)
    assert first.fc_shape == second.fc_shape == (1, 8, 3, 3)
    PhononBatch(_cu(), prim, [2, 2, 2], q, symmetrize_fc=False)  # another map: probed
    assert len(probes) == 2 * n_probes
