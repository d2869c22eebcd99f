"""potentials/refit_check.py, the script that re-fits every shipped config and compares the loss with the
one in the shipped files' provenance: it finds every shipped fit, reads its loss, and re-ships a run's
files the way they are shipped. The fits themselves take minutes each, so they are the script's job,
not this test's (run `python potentials/refit_check.py` after a change to gafit that may move a fit)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from helpers import ROOT

POTENTIALS = ROOT / "potentials"


@pytest.fixture(scope="module")
def refit_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("refit_check", POTENTIALS / "refit_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_config_beside_a_fitted_file_is_checked(refit_check: ModuleType) -> None:
    """A config whose name a shipped file carries is either checked or has no fitted file (a
    published set beside it would have no provenance line)."""
    for config in sorted(POTENTIALS.glob("*.toml")):
        beside = [config.with_name(config.stem + s) for s in refit_check.SUFFIXES]
        fitted = [p for p in beside if p.is_file() and "Fitted with gafit" in p.read_text(encoding="utf-8")]
        assert refit_check.shipped_files(config) == fitted, config.name


def test_the_files_of_one_fit_state_one_loss(refit_check: ModuleType) -> None:
    configs = [c for c in sorted(POTENTIALS.glob("*.toml")) if refit_check.shipped_files(c)]
    assert len(configs) >= 5
    for config in configs:
        losses = {refit_check.shipped_loss(p) for p in refit_check.shipped_files(config)}
        assert len(losses) == 1, (config.name, losses)
        assert float(losses.pop()) > 0


def test_losses_compare_at_the_provenance_digits(refit_check: ModuleType) -> None:
    assert refit_check.same_loss("0.0238194", 0.023819449)
    assert not refit_check.same_loss("0.0238194", 0.0238581)
    assert refit_check.same_loss("4.4574", 4.457400012)
    assert not refit_check.same_loss("10.8042", 7.94082)


def test_ship_keeps_the_hand_written_header_and_takes_out_the_repository_path(
        refit_check: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(refit_check, "ROOT", tmp_path)
    shipped = tmp_path / "X.tersoff"
    shipped.write_text("# what this fit is, by hand\n# Fitted with gafit 0.1.0 on 2026-12-04: config "
                       "potentials/X.toml, seed 1, 5 GA generations + least squares, loss 2.5.\n"
                       "Si Si Si 1.0\n", encoding="utf-8")
    run = tmp_path / "run"
    (run / "lammps").mkdir(parents=True)
    (run / "lammps" / "Si.tersoff").write_text(
        f"# Fitted with gafit 0.1.0 on 2026-12-05: config {tmp_path}/potentials/X.toml, seed 1, 5 GA "
        "generations + least squares, loss 1.25.\nSi Si Si 3.0\n", encoding="utf-8")
    (run / "potential.json").write_text(json.dumps(
        {"provenance": f"Fitted with gafit 0.1.0 on 2026-12-05: config {tmp_path}/potentials/X.toml, "
                       "seed 1, 5 GA generations + least squares, loss 1.25."}), encoding="utf-8")
    refit_check.ship(shipped, run)
    assert shipped.read_text(encoding="utf-8") == (
        "# what this fit is, by hand\n# Fitted with gafit 0.1.0 on 2026-12-05: config potentials/X.toml, "
        "seed 1, 5 GA generations + least squares, loss 1.25.\nSi Si Si 3.0\n")
    assert refit_check.shipped_loss(shipped) == "1.25"
    as_json = tmp_path / "X.json"
    as_json.write_text("{}", encoding="utf-8")
    refit_check.ship(as_json, run)
    assert refit_check.shipped_loss(as_json) == "1.25"
    assert str(tmp_path) not in as_json.read_text(encoding="utf-8")


#: the provenance line of a fitted LAMMPS file
LINE = ("# Fitted with gafit 0.1.0 on 2026-12-05: config potentials/X.toml, seed 1, 5 GA "
        "generations + least squares, loss {}.\n")


@pytest.mark.parametrize(("suffix", "run_file", "old", "new"), [
    # a .sw beside its config, from the run's .tersoff-free lammps folder (it used to look for a
    # .tersoff file only)
    (".sw", "Si.sw", LINE.format(2.5) + "Si Si Si 1.0\n", LINE.format(1.25) + "Si Si Si 3.0\n"),
    # an EAM setfl file, provenance after the tables: replaced whole (the lines above its
    # provenance line are the old tables, not a hand-written header)
    (".eam.alloy", "Cu.eam.alloy", "# header\n#\n#\n1 Cu\n0.5 0.25\n" + LINE.format(2.5),
     "# header\n#\n#\n1 Cu\n0.75 0.125\n" + LINE.format(1.25)),
], ids=["sw", "eam.alloy"])
def test_a_fit_ships_its_lammps_file(refit_check: ModuleType, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch, suffix: str, run_file: str,
                                     old: str, new: str) -> None:
    """A shipped ``NAME.sw`` or ``NAME.eam.alloy`` is found beside its config, its loss read, and
    it is replaced by the run's ``lammps/*`` file of that kind."""
    monkeypatch.setattr(refit_check, "ROOT", tmp_path)
    config = tmp_path / "X.toml"
    config.write_text("", encoding="utf-8")
    shipped = tmp_path / ("X" + suffix)
    shipped.write_text(old, encoding="utf-8")
    assert refit_check.shipped_files(config) == [shipped]
    assert refit_check.shipped_loss(shipped) == "2.5"
    run = tmp_path / "run"
    (run / "lammps").mkdir(parents=True)
    (run / "lammps" / run_file).write_text(new, encoding="utf-8")
    refit_check.ship(shipped, run)
    assert shipped.read_text(encoding="utf-8") == new
