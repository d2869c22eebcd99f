"""The report's uncertainty section: a run folder without ensembles has none; with the ensembles
of ``gafit uncertainty`` and the spreads that ``gafit properties --ensemble`` and ``gafit phonons
--ensemble`` recorded beside them, the page shows each parameter's σ, the correlations, the
calibration, the properties with error bars and the phonon band."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import demo_config
from test_report import check_images, fit

from gafit.cli import main
from gafit.report import write_report


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    table = demo_config()
    table["potential"]["parameters"]["Cu-Cu.r0"] = [2.0, 3.2]  # not the demo's too-tight bound
    return fit(tmp_path_factory.mktemp("report_unc") / "cu", table)


def test_report_shows_the_ensembles_and_their_propagation(run: Path) -> None:
    page = write_report(run).read_text(encoding="utf-8")
    assert 'id="uncertainty"' not in page  # no ensemble yet: no section, no link
    assert main(["uncertainty", str(run), "--samples", "20", "--seed", "2", "--quiet"]) == 0
    assert main(["uncertainty", str(run), "--samples", "20", "--scale", "model-error",
                 "--quiet"]) == 0
    ens = run / "uncertainty" / "ensemble_fisher.csv"
    assert main(["properties", str(run / "potential.json"), "--structure", "fcc",
                 "--ensemble", str(ens), "--members", "4"]) == 0
    assert main(["phonons", str(run / "potential.json"), "--structure", "fcc", "--supercell",
                 "2", "2", "2", "--npoints", "5", "--ensemble", str(ens), "--members", "4",
                 "--out", str(run.parent / "ph")]) == 0
    page = write_report(run).read_text(encoding="utf-8")
    section = page[page.index('id="uncertainty"'):page.index('id="lammps"')]
    assert '<a href="#uncertainty">' in page and 'class="note error"' not in page
    fisher = json.loads((run / "uncertainty" / "ensemble_fisher.json").read_text())
    scaled = json.loads((run / "uncertainty" / "ensemble_fisher_model-error.json").read_text())
    assert "σ fisher</th>" in section and "σ fisher<br>(model-error)</th>" in section
    for name, p in fisher["summary"]["parameters"].items():
        if p["std"] > 0:  # the parameter held at its bound has none
            row = section[section.index(f"<code>{name}</code>"):].split("</tr>")[0]
            assert f"{p['std']:.3g}" in row, name
            assert f"{scaled['summary']['parameters'][name]['std']:.3g}" in row, name
    assert "Correlations (fisher)" in section
    for prop, r in fisher["info"]["calibration"].items():
        if prop in ("energy", "forces"):
            assert f"{100 * r['within_1sigma']:.1f} %" in section, prop
    spread = json.loads((run / "uncertainty" / "properties_fisher.json").read_text())["spread"]
    for key in ("a", "B", "C11", "C44"):
        assert re.search(rf"<td>{key}</td>.*?{spread[key]['std']:.2g}", section), key
    images = check_images(run / "report" / "index.html")
    assert {"uncertainty_properties.png", "uncertainty_phonons_fisher.png"} <= set(images)
    band = json.loads((run / "uncertainty" / "phonons_fisher.json").read_text())
    rms = float(np.sqrt(np.mean(np.square(band["std"]))))
    assert f"RMS σ over the path {rms:.3g} THz" in section
