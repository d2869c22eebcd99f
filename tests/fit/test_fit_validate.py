"""``[validate]`` in a fit config: a validate suite run at the end of ``gafit fit``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import ROOT

from gafit.cli import main
from gafit.config import config_table, load_config, parse_config, with_absolute_paths
from gafit.fit_result import earlier_run, prepare_run_folder
from gafit.structures import GafitInputError

#: two fast checks: a generous lattice constant check and a C11 check no Morse Cu can pass
SUITE = """\
[suite]
name = "tiny Cu"
description = "fast checks only"

[[check]]
name = "a"
quantity = "a"
structure = "fcc"
species = ["Cu"]
a = 3.61
reference = 3.61
rel_tol = 0.5
citation = "test"

[[check]]
name = "C11"
quantity = "C11"
structure = "fcc"
species = ["Cu"]
a = 3.61
reference = 10000.0
rel_tol = 0.01
citation = "test: out of reach on purpose"
"""


def tiny_config(tmp_path: Path, validate: str) -> Path:
    """The Cu Morse example made small, with ``validate`` appended (TOML text)."""
    text = (ROOT / "examples" / "cu_morse.toml").read_text()
    text = text.replace('"../data/Cu_EMT.extxyz"', repr(str(ROOT / "data" / "Cu_EMT.extxyz")))
    text = text.replace("population = 60", "population = 12").replace("generations = 40",
                                                                       "generations = 2")
    cfg = tmp_path / "fit.toml"
    cfg.write_text(text + "\n[refine]\nstarts = 1\nmax_evaluations = 20\n" + validate)
    return cfg


def test_fit_runs_the_suite_and_reports_it(tmp_path: Path, capsys) -> None:
    (tmp_path / "tiny.toml").write_text(SUITE)
    cfg = tiny_config(tmp_path, '\n[validate]\nsuite = "tiny.toml"\n')
    out = tmp_path / "run"
    assert main(["fit", str(cfg), "--out", str(out), "--quiet"]) == 0  # a failing suite: still 0
    printed = capsys.readouterr().out
    doc = json.loads((out / "validate" / "validate.json").read_text())
    checks = {c["name"]: c for c in doc["checks"]}
    assert list(checks)[:2] == ["a", "C11"]
    assert checks["a"]["status"] == "pass" and checks["C11"]["status"] == "FAIL"
    n_fail = sum(c["status"] == "FAIL" for c in doc["checks"])
    assert f"validation: FAILED ({n_fail} of {len(doc['checks'])} checks)" in printed
    assert (out / "validate" / "validate.csv").is_file() and (out / "validate" / "index.html").is_file()
    # the same as `gafit validate` on the written potential
    alone = tmp_path / "alone"
    assert main(["validate", str(out / "potential.json"), "--suite", str(tmp_path / "tiny.toml"),
                 "--out", str(alone), "--quiet"]) == 1
    assert json.loads((alone / "validate.json").read_text())["checks"] == doc["checks"]
    page = (out / "report" / "index.html").read_text()
    assert 'id="validation"' in page and "Validation suite" in page and "<b>FAIL</b>" in page
    assert "tiny Cu" in page and doc["verdict"] in page
    # the run folder knows validate/: an earlier fit's files, removed by --overwrite
    assert out / "validate" / "validate.json" in earlier_run(out)
    prepare_run_folder(out, [], overwrite=True)
    assert not (out / "validate").exists()


def test_progress_is_shown(tmp_path: Path, capsys) -> None:
    (tmp_path / "tiny.toml").write_text(SUITE)
    cfg = tiny_config(tmp_path, '\n[validate]\nsuite = "tiny.toml"\n')
    assert main(["fit", str(cfg), "--out", str(tmp_path / "run"), "--no-report"]) == 0
    captured = capsys.readouterr()
    assert "[1/2] a (a)" in captured.err and "[2/2] C11 (C11)" in captured.err
    assert "validation: FAILED (1 of" in captured.out


BASE = {"data": {"train": str(ROOT / "data" / "Cu_EMT.extxyz")},
        "potential": {"form": "morse", "cutoff": 6.0}}


@pytest.mark.parametrize("validate, message", [
    ({"suite": "Xx"}, "[validate] suite = 'Xx': no such file, and not a built-in suite (C, Cu"),
    ({"suite": 3}, "[validate] suite = 3: expected a built-in suite name"),
    ({}, "[validate] needs suite"),
    ({"suite": "Cu", "date": "x"}, "unknown key 'date' in [validate] (did you mean 'data'?)"),
    ({"suite": "Cu", "data": 5}, "[validate] data must be a path string"),
    ("Cu", "[validate] must be a table"),
])
def test_config_errors_name_the_key(validate: object, message: str) -> None:
    with pytest.raises(GafitInputError) as err:
        parse_config(BASE | {"validate": validate})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_bad_suite_file_stops_the_fit_before_it_starts(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(SUITE.replace('quantity = "C11"', 'quantity = "C99"'))
    with pytest.raises(GafitInputError) as err:
        load_config(tiny_config(tmp_path, '\n[validate]\nsuite = "bad.toml"\n'))
    assert "fit.toml: [validate] suite:" in str(err.value) and "C99" in str(err.value)


def test_validate_round_trips_through_the_checkpoint_table(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(SUITE)
    (tmp_path / "shared").mkdir()
    for text in ('suite = "Cu"', 'suite = "tiny.toml"\ndata = "shared"'):
        config = load_config(tiny_config(tmp_path, f"\n[validate]\n{text}\n"))
        again = parse_config(config_table(config), config.source)
        assert again.validate == with_absolute_paths(config).validate
        assert config_table(again) == config_table(config)
    assert again.validate.suite == (tmp_path / "tiny.toml").absolute()
    assert again.validate.data == (tmp_path / "shared").absolute()
    assert load_config(tiny_config(tmp_path, '\n[validate]\nsuite = "Cu"\n')).validate.suite == "Cu"
