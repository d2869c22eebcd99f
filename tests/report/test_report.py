"""``gafit report``: the HTML page of a fit, its PNGs, and what a browser shows of it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import demo_config, to_toml

from gafit.cli import main as report_main
from gafit.config import load_config
from gafit.fitting import Fit
from gafit.report import write_report

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- helpers


def fit(folder: Path, table: dict, report: bool = False) -> Path:
    """Run a fit of ``table`` (written as folder/config.toml) into folder/run; with ``report`` its
    report is written from the fit's result (on the tables the fit built)."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "config.toml"
    cfg.write_text(to_toml(table), encoding="utf-8")
    run = folder / "run"
    result = Fit.from_config(load_config(cfg)).run(run, quiet=True)
    if report:
        result.write_report(run)
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
    return fit(folder / "cu", table, report=True)  # the report of the result in memory


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
    """The report of the fit's result (its training tables hold the phonon equilibrium cells), then
    that of `gafit report RUN_DIR`, which adds those cells to the data of the config again."""
    index = phonon_run / "report" / "index.html"
    for _ in ("fit", "gafit report"):
        page = index.read_text(encoding="utf-8")
        assert 'id="phonons"' in page and 'class="note error"' not in page
        assert "relaxed lattice constant" in page and "including 1 phonon-equilibrium supercell" in page
        images = check_images(index)
        assert "phonons_qpoints.png" in images
        assert any(i.startswith("phonons_dispersion") and "relaxed" in i for i in images)
        assert "recomputed RMSEs differ" not in page
        assert report_main(["report", str(phonon_run)]) == 0


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


def test_fit_and_its_report_tabulate_each_data_set_once(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """`gafit fit` builds the geometry tables of the training and of the validation set once each,
    and its report reuses them (FitResult.tables); `gafit report RUN_DIR`, which has only the run
    folder, tabulates each set once; both pages say the same."""
    from gafit.potential import Potential

    built: list[int] = []  # structures per call
    build = Potential.build_tables

    def counted(self: Potential, refset: Any) -> Any:
        built.append(len(refset))
        return build(self, refset)

    monkeypatch.setattr(Potential, "build_tables", counted)
    cfg = tmp_path / "config.toml"
    cfg.write_text(to_toml(demo_config()), encoding="utf-8")
    run = tmp_path / "run"
    assert report_main(["fit", str(cfg), "--out", str(run), "--quiet"]) == 0
    page = (run / "report" / "index.html").read_text(encoding="utf-8")
    assert 'src="parity.png"' in page and "validation: " in page
    n_train, n_valid = (int(n) for n in re.findall(r"(?:train|validation): (\d+) structures", page))
    assert sorted(built) == sorted([n_train, n_valid])  # once each, none by the report
    built.clear()
    assert report_main(["report", str(run)]) == 0
    assert sorted(built) == sorted([n_train, n_valid])
    again = (run / "report" / "index.html").read_text(encoding="utf-8")

    def same_part(text: str) -> str:  # the time the page was made, and how its config was found
        text = re.sub(r"report made [0-9-]+ [0-9:]+", "", text)
        return text.replace("(given by the caller)", "").replace("(named by summary.json)", "")

    assert same_part(again) == same_part(page)


def test_report_of_a_broken_summary_is_one_line(demo_run: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "broken"
    shutil.copytree(demo_run, run)
    (run / "summary.json").write_text('{"loss": 1.0,', encoding="utf-8")
    assert report_main(["report", str(run)]) == 2
    assert "summary.json: not valid JSON" in capsys.readouterr().err
    summary = json.loads((demo_run / "summary.json").read_text(encoding="utf-8"))
    (run / "summary.json").write_text(json.dumps({k: v for k, v in summary.items() if k != "loss"}),
                                      encoding="utf-8")
    assert report_main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert "summary.json: no 'loss' entry" in err and len(err.strip().splitlines()) == 1
    # entries an older gafit did not write leave their part of the page out
    older = {k: v for k, v in summary.items() if k not in ("loss_by_term", "guards", "walls")}
    (run / "summary.json").write_text(json.dumps(older), encoding="utf-8")
    assert report_main(["report", str(run)]) == 0
    page = (run / "report" / "index.html").read_text(encoding="utf-8")
    assert "Loss by term" not in page and 'class="note error"' not in page
