"""gafit.md and `gafit md`: MD in LAMMPS with the exported files keeps a sound potential intact and
reports a potential without a repulsive wall as a failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import ROOT, shared_file

from gafit.cli import main
from gafit.md import MDSettings, run_md, structure_frame
from gafit.potential_files import load_potential
from gafit.structures import GafitInputError

BKS = ROOT / "potentials" / "SiO2_BKS_1990.json"
SOD = "SiO2_zeolite_SiZEO22/sod_every10th.extxyz"


@pytest.fixture
def sod(lammps_available: None) -> Path:
    return shared_file(SOD)


def no_wall_json(tmp_path: Path) -> Path:
    """BKS's Buckingham without charges and with Si-O's C raised to 1000 eV Å^6: Si-O attracts at
    every distance (gafit check --potential says so), so hot MD must collapse."""
    doc = json.loads(BKS.read_text(encoding="utf-8"))
    doc["forms"] = [f for f in doc["forms"] if f["form"] == "buckingham"]
    doc["forms"][0]["parameters"]["Si-O.C"] = 1000.0
    path = tmp_path / "no_wall.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_bks_stays_intact_at_low_temperature(sod: Path) -> None:
    samples = []
    settings = MDSettings(temperature=300.0, time=0.3, seed=7, nve_time=0.1, sample_steps=50)
    result = run_md(load_potential(BKS), structure_frame(sod, 0), settings,
                    progress=lambda s, total: samples.append((s.step, total)))
    assert result.passed, result.text()
    assert result.lost_atoms == 0 and result.error is None
    assert result.steps_done == 400
    assert [s for s, _ in samples] == list(range(50, 401, 50))
    assert {total for _, total in samples} == {400}
    # Si-O bonds vibrate about 1.6 Å at 300 K; nothing comes near a collapse
    assert 1.3 < result.min_distance <= result.initial_min_distance
    assert 100.0 < result.temperature_mean < 600.0
    # velocity-Verlet NVE on a smooth potential: the total energy barely moves in 0.1 ps
    assert abs(result.drift_max) < 1e-3


def test_no_wall_collapses_and_fails(sod: Path, tmp_path: Path) -> None:
    settings = MDSettings(temperature=3000.0, time=0.3, seed=7)
    result = run_md(load_potential(no_wall_json(tmp_path)), structure_frame(sod, 0), settings)
    assert not result.passed
    assert result.min_distance < settings.collapse_distance
    assert any("collapse" in f for f in result.failures)
    assert result.steps_done < 300  # stopped at the first failure


def test_same_seed_same_run(sod: Path) -> None:
    atoms = structure_frame(sod, 3)
    pot = load_potential(BKS)
    runs = [run_md(pot, atoms, MDSettings(temperature=1000.0, time=0.05, seed=s, sample_steps=10))
            for s in (5, 5, 6)]
    temps = [[x.temperature for x in r.samples] for r in runs]
    assert temps[0] == temps[1]
    assert temps[0] != temps[2]


def test_cli_exit_status_and_json(sod: Path, tmp_path: Path) -> None:
    out = tmp_path / "md.json"
    assert main(["md", str(BKS), str(sod), "--temperature", "300", "--time", "0.05", "--quiet",
                 "--out", str(out)]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["result"]["passed"] and doc["result"]["lost_atoms"] == 0
    assert main(["md", str(no_wall_json(tmp_path)), str(sod), "--temperature", "3000",
                 "--time", "0.3", "--quiet"]) == 1


@pytest.mark.parametrize("change, key", [({"temperature": 0.0}, "temperature"),
                                         ({"time": -1.0}, "time"),
                                         ({"seed": 0}, "seed"),
                                         ({"supercell": (1, 0, 1)}, "supercell")])
def test_bad_settings_are_one_line_errors(change: dict, key: str) -> None:
    settings = MDSettings(**({"temperature": 300.0, "time": 1.0} | change))
    with pytest.raises(GafitInputError, match=key):
        settings.check()


def test_missing_frame_is_an_error(sod: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["md", str(BKS), str(sod), "--index", "5000", "--temperature", "300",
                 "--time", "0.01"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gafit: error: md: STRUCTURE") and "no frame 5000" in err
    assert len(err.splitlines()) == 1


def test_structure_after_the_options(sod: Path) -> None:
    """argparse gives an optional positional nothing when options come before it (as for evaluate)."""
    assert main(["md", str(BKS), "--temperature", "300", "--time", "0.01", str(sod), "--quiet"]) == 0
