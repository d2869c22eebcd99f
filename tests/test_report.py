"""``gafit report``: the HTML page of a fit, its PNGs, and what a browser shows of it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gafit.cli import main as report_main
from gafit.config import load_config
from gafit.fitting import Fit
from gafit.report import write_report

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- helpers


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML for {v!r}")


def to_toml(table: dict, prefix: tuple[str, ...] = ()) -> str:
    """A TOML document for a nested dict of plain values (enough for gafit configs)."""
    out = ["[" + ".".join(json.dumps(p) for p in prefix) + "]"] if prefix else []
    out += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for k, v in table.items():
        if isinstance(v, dict):
            out.append(to_toml(v, (*prefix, k)))
    return "\n".join(out) + "\n"


def demo_config(**changes: dict) -> dict:
    """examples/cu_morse.toml with an absolute data path, a small GA and a validation split."""
    table = tomllib.loads((ROOT / "examples" / "cu_morse.toml").read_text(encoding="utf-8"))
    table["data"]["train"] = str((ROOT / "examples" / table["data"]["train"]).resolve())
    table["data"]["validation_fraction"] = 0.25
    table["ga"].update(population=16, generations=4)
    table["refine"] = {"starts": 1, "max_evaluations": 30}
    # bounds far too tight for EMT copper: r0 must end at one of them, and be flagged in the report
    table["potential"]["parameters"]["Cu-Cu.r0"] = [2.0, 2.4]
    for key, value in changes.items():
        table[key] = value
    return table


def fit(folder: Path, table: dict) -> Path:
    """Run a fit of ``table`` (written as folder/config.toml) into folder/run."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "config.toml"
    cfg.write_text(to_toml(table), encoding="utf-8")
    run = folder / "run"
    Fit.from_config(load_config(cfg)).run(run, quiet=True)
    return run


def referenced_files(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"#][^"]*)"', page)


def check_images(index: Path) -> list[str]:
    """Every image the page references exists beside it and is a readable PNG; returns their names."""
    import matplotlib.image as mpimg

    page = index.read_text(encoding="utf-8")
    refs = referenced_files(page)
    for ref in refs:  # relative, inside the report folder: the folder can be zipped and sent
        assert not re.match(r"^(?:[a-z]+:|/)", ref), ref
    images = re.findall(r'<img src="([^"]+)"', page)
    assert images
    for name in images:
        path = index.parent / name
        assert path.is_file(), name
        assert path.read_bytes()[:8] == PNG_SIGNATURE, name
        img = mpimg.imread(path)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100, name
    return images


def emt_phonopy_reference(folder: Path) -> Path:
    """A phonopy data set of fcc Cu (primitive cell, 8-atom supercell: small and quick) with ASE's
    EMT forces (the demo data's calculator)."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    from gafit.phonons import new_phonopy, to_ase_atoms

    folder.mkdir(parents=True, exist_ok=True)
    ph = new_phonopy(bulk("Cu", "fcc", a=3.59), [2, 2, 2])
    ph.generate_displacements(distance=0.01)
    forces = []
    for cell in ph.supercells_with_displacements:
        atoms = to_ase_atoms(cell)
        atoms.calc = EMT()
        forces.append(atoms.get_forces())
    ph.forces = np.array(forces)
    path = folder / "phonopy_params.yaml"
    ph.save(path, settings={"force_sets": True})
    return path


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = fit(tmp_path_factory.mktemp("report") / "cu", demo_config())
    write_report(run)  # the config is found through summary.json
    return run


@pytest.fixture(scope="module")
def phonon_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report_phonons")
    ref = emt_phonopy_reference(folder / "ref")
    table = demo_config(phonons={"reference": str(ref), "qpoints": "GXL", "weight": 0.05,
                                 "equilibrium_weight": 10.0})
    run = fit(folder / "cu", table)
    write_report(run)
    return run


# --------------------------------------------------------------------------- tests


def test_report_holds_every_section(demo_run: Path) -> None:
    index = demo_run / "report" / "index.html"
    page = index.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    for anchor in ("summary", "parity", "config-types", "convergence", "parameters", "lammps"):
        assert f'id="{anchor}"' in page, anchor
    assert "<script" not in page.lower()  # plain HTML, nothing to run, nothing fetched
    assert "http://" not in page and "https://" not in page
    # the header says what was fitted, on what, and how the GA went
    for text in ("morse", "Cu_EMT.extxyz", "train: ", "validation: ", "structures", "atoms",
                 "stopped by generations", "per second", "Total time", "25% of the training file"):
        assert text in page, text
    images = check_images(index)
    assert {"parity.png", "config_types.png", "convergence.png"} <= set(images)
    # the recomputed predictions agree with what the fit recorded, and nothing failed
    assert "recomputed RMSEs differ" not in page
    assert 'class="note error"' not in page
    # every config_type of the demo data has its row
    for ct in ("eos", "strained", "rattled", "vacancy", "surface"):
        assert f"<td>{ct}</td>" in page, ct


def test_report_flags_parameters_at_a_bound(demo_run: Path) -> None:
    page = (demo_run / "report" / "index.html").read_text(encoding="utf-8")
    assert "ended at a bound: widen it or fix it" in page
    rows = re.findall(r'<tr class="atbound">(.*?)</tr>', page)
    r0 = [r for r in rows if "Cu-Cu.r0" in r]
    assert len(r0) == 1 and re.search(r"(lower|upper) bound", r0[0])
    flagged = json.loads((demo_run / "summary.json").read_text(encoding="utf-8"))["parameters_at_bounds"]
    assert len(rows) == len(flagged)  # exactly the parameters the fit found at a bound
    assert f"{len(flagged)} parameter" in page  # and the note at the top says how many


def test_report_parity_matches_recorded_rmse(demo_run: Path) -> None:
    """The parity legends quote RMSEs recomputed from potential.json: they equal the fit's."""
    from gafit.evaluate import evaluate
    from gafit.fit_data import read_data
    from gafit.potential_files import load_potential
    from gafit.report import parity_points

    summary = json.loads((demo_run / "summary.json").read_text(encoding="utf-8"))
    train, valid = read_data(load_config(summary["config"]))
    pot = load_potential(demo_run / "potential.json")
    for name, data in (("train", train), ("validation", valid)):
        assert data is not None
        pts = parity_points(data, evaluate(pot, data))
        for prop in ("energy", "forces", "stress"):
            ref, pred = pts[prop]
            assert np.sqrt(np.mean((pred - ref) ** 2)) == pytest.approx(summary["rmse"][name][prop],
                                                                       rel=1e-9)


def test_report_without_config_says_so(demo_run: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "moved"
    shutil.copytree(demo_run, run)
    shutil.rmtree(run / "report")
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    summary["config"] = str(tmp_path / "gone.toml")
    (run / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    assert report_main(["report", str(run)]) == 0
    assert "index.html" in capsys.readouterr().out
    index = run / "report" / "index.html"
    page = index.read_text(encoding="utf-8")
    assert "gone.toml" in page and "cannot be found" in page and "--config" in page
    assert not (run / "report" / "parity.png").exists()
    for anchor in ("summary", "parity", "config-types", "convergence", "parameters"):
        assert f'id="{anchor}"' in page, anchor
    check_images(index)
    # --config puts the parity plots back
    assert report_main(["report", str(run), "--config", str(demo_run.parent / "config.toml")]) == 0
    assert (run / "report" / "parity.png").is_file()


def test_report_errors_are_one_line(demo_run: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert report_main(["report", str(tmp_path)]) == 2
    assert "not a gafit run folder" in capsys.readouterr().err
    assert report_main(["report", str(demo_run), "--config", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: no such file" in capsys.readouterr().err


def test_report_of_a_phonon_fit(phonon_run: Path) -> None:
    index = phonon_run / "report" / "index.html"
    page = index.read_text(encoding="utf-8")
    assert 'id="phonons"' in page and 'class="note error"' not in page
    assert "relaxed lattice constant" in page and "phonon-equilibrium" in page
    images = check_images(index)
    assert "phonons_qpoints.png" in images
    assert any(i.startswith("phonons_dispersion") and "relaxed" in i for i in images)
    assert "recomputed RMSEs differ" not in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium not installed")
def test_report_renders_in_chromium(demo_run: Path, tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    shot = tmp_path / "shot.png"
    index = (demo_run / "report" / "index.html").resolve()
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
           "--window-size=1280,2000", index.as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=90, check=False)
    assert shot.is_file() and shot.read_bytes()[:8] == PNG_SIGNATURE
    img = mpimg.imread(shot)[:, :, :3]
    assert img.shape[:2] == (2000, 1280)
    # not a blank page: text, tables and plots give many colours and dark pixels
    rgb = (img.reshape(-1, 3) * 255).round().astype(np.int64)
    colours = np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2])
    assert len(colours) > 200
    assert img.std() > 0.05
    assert (img.mean(axis=2) < 0.3).mean() > 0.002  # dark text
    blank_rows = (img.min(axis=(1, 2)) > 0.97).mean()
    assert blank_rows < 0.8  # the page fills the window
