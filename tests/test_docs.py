"""The documentation (docs/): it builds with warnings as errors, its tutorial runs as written, the
potential.json page lists every key and parameter the code writes, and the "writing your own form" page's
Lennard-Jones package fits and agrees with LAMMPS as the page says."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT

from gafit.forms import available_forms, get_form
from gafit.potential import Potential

DOCS = ROOT / "docs"


def python_blocks(page: Path) -> list[str]:
    """The ```python code blocks of a Markdown page, in order."""
    return re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), re.M | re.S)


def with_root_on_path(*extra: Path) -> dict[str, str]:
    """The environment for a subprocess that imports gafit from this source tree."""
    paths = [str(ROOT), *map(str, extra), os.environ.get("PYTHONPATH", "")]
    return os.environ | {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def test_docs_build_strictly(tmp_path):
    """`make docs`'s build in a temporary folder: any warning (a docstring that is not valid
    reStructuredText, a module autodoc cannot import, a broken link, image or include, a page in no
    table of contents) fails it."""
    for module in ("sphinx", "myst_parser"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e '.[docs]')")
    out = tmp_path / "html"
    run = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
        capture_output=True, text=True, env=with_root_on_path(), timeout=300,
    )
    assert run.returncode == 0, run.stderr + run.stdout
    for page in ("index", "tutorial", "potential_json", "writing_a_form", "api/index"):
        assert (out / f"{page}.html").is_file(), page
    # the reference is generated from the docstrings, not empty headings
    reference = (out / "api" / "potential.html").read_text(encoding="utf-8")
    assert 'id="gafit.potential_files.load_potential"' in reference
    forms = (out / "api" / "forms.html").read_text(encoding="utf-8")
    assert 'id="gafit.forms.base.ParamSpec"' in forms
    # the form page shows the example package's code, included from its files
    lj = (out / "writing_a_form.html").read_text(encoding="utf-8")
    assert "pair_parameter_derivatives" in lj and "gafit_lj:LennardJones96" in lj
    assert "gafit/forms/lennard_jones.py" in lj  # the built-in module, the code to read


def test_tutorial_runs_as_written(tmp_path, monkeypatch, lammps_available):
    """Every ```python block of docs/tutorial.md, in order, in one namespace, in a folder laid out as
    the repository (the blocks read examples/cu_morse.toml and data/Cu_EMT.extxyz)."""
    blocks = python_blocks(DOCS / "tutorial.md")
    assert len(blocks) >= 5
    for rel in ("examples/cu_morse.toml", "data/Cu_EMT.extxyz"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "tutorial"}
    for k, block in enumerate(blocks):
        exec(compile(block, f"docs/tutorial.md, python block {k + 1}", "exec"), namespace)
    assert (tmp_path / "runs" / "tutorial" / "potential.json").is_file()
    assert (tmp_path / "runs" / "tutorial" / "lammps" / "pair.lmp").is_file()


def test_potential_json_page_runs(monkeypatch):
    """The python block of docs/potential_json.md reads the repository's files as it says."""
    monkeypatch.chdir(ROOT)
    for block in python_blocks(DOCS / "potential_json.md"):
        exec(compile(block, "docs/potential_json.md", "exec"), {})


def documented_rows(page: Path) -> list[list[str]]:
    """The cells of every Markdown table row of ``page``, stripped."""
    rows = re.findall(r"^\|(.*)\|$", page.read_text(encoding="utf-8"), re.M)
    return [[c.strip() for c in row.split("|")] for row in rows]


def test_potential_json_page_lists_every_key():
    """Every key Potential.to_dict writes, for a potential with every built-in form and every
    setting, has a row in the page's key tables."""
    pot = Potential(["Si", "O"], [get_form(n)(["Si", "O"], 5.0) for n in
                                  ("buckingham", "coulomb", "zbl", "tersoff", "morse", "eam_spline")],
                    provenance="made by hand")
    pot.forms[1].apply_settings({"g_ewald": 0.3})
    pot.forms[2].apply_settings({"inner": 1.0})
    d = pot.to_dict()
    keys = set(d) | {k for f in d["forms"] for k in f}
    documented = {row[0].strip("`") for row in documented_rows(DOCS / "potential_json.md")}
    assert keys <= documented, keys - documented
    # and the file the page describes is what save_potential writes
    assert json.loads(json.dumps(d))["gafit_potential"] == 1


@pytest.mark.parametrize("name", ["morse", "buckingham", "lj", "coulomb", "zbl", "tersoff",
                                  "tersoff_zbl", "sw", "eam_zhou", "eam_johnson", "eam_fs"])
def test_potential_json_page_lists_every_parameter(name):
    """Each built-in form's parameters, with the units its ParamSpec declares (1: dimensionless)."""
    rows = {(row[0], row[2]): row[3] for row in documented_rows(DOCS / "potential_json.md")
            if len(row) == 5}
    # tersoff_zbl's page rows are its own four after "Tersoff's 14, then:", which tersoff's rows document
    inherited = {p.name for p in get_form("tersoff").params} if name == "tersoff_zbl" else set()
    for spec in get_form(name).params:
        if spec.name not in inherited:
            assert rows.get((f"`{name}`", f"`{spec.name}`")) == (spec.unit or "1"), spec


def test_lj_example_fits_and_agrees_with_lammps(tmp_path, lammps_available):
    """docs/writing_a_form.md end to end: examples/gafit_lj registered through its entry point (a
    *.dist-info written from its pyproject.toml, as `pip install -e` would), the page's config fitted
    with `gafit fit` and the result checked by `gafit verify` (LAMMPS, 1e-8)."""
    project = ROOT / "examples" / "gafit_lj"
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    info = tmp_path / "site" / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\n"
                                   f"Version: {meta['version']}\n")
    eps = meta["entry-points"]["gafit.forms"]
    (info / "entry_points.txt").write_text(
        "[gafit.forms]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
    env = with_root_on_path(project, tmp_path / "site")

    page = (DOCS / "writing_a_form.md").read_text(encoding="utf-8")
    config = re.search(r"^```toml\n(.*?)^```", page, re.M | re.S).group(1)
    (tmp_path / "data").mkdir()
    shutil.copy(ROOT / "data" / "Cu_EMT.extxyz", tmp_path / "data")
    # the page's config with a short GA, so that the test takes seconds
    (tmp_path / "lj96.toml").write_text(config + "\n[ga]\npopulation = 24\ngenerations = 6\n")

    def gafit(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "gafit.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    listed = subprocess.run([sys.executable, "-c", "from gafit.forms import available_forms; "
                             "print(available_forms())"], env=env, capture_output=True, text=True)
    assert "'lj96'" in listed.stdout, listed.stderr
    assert "lj96" not in available_forms()  # this process is untouched
    fit = gafit("fit", "lj96.toml", "--out", "runs/lj96", "--quiet", "--no-report")
    assert fit.returncode == 0, fit.stderr
    saved = json.loads((tmp_path / "runs" / "lj96" / "potential.json").read_text())
    assert saved["forms"][0]["form"] == "lj96"
    assert "pair_style lj96/cut 6.0" in (tmp_path / "runs" / "lj96" / "lammps" / "pair.lmp").read_text()
    verify = gafit("verify", "runs/lj96/potential.json", "data/Cu_EMT.extxyz")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    rel = [float(x) for x in re.findall(r"max relative (\S+)", verify.stdout)]
    assert len(rel) == 3 and np.max(rel) < 1e-8, verify.stdout
