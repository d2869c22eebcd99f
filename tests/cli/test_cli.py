"""The ``gafit`` command as a package: one module per subcommand, each with its help, and the
library functions its handlers call instead of holding logic themselves."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT

from gafit.checks import check_cutoff
from gafit.cli import COMMANDS, make_parser
from gafit.fit_data import evaluation_sets, read_check_input
from gafit.structures import GafitInputError

CU = ROOT / "data" / "Cu_EMT.extxyz"
CU_CONFIG = ROOT / "examples" / "cu_morse.toml"
BLAS_VARS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")


def _subparsers() -> dict:
    parser = make_parser()
    return next(a for a in parser._actions if a.dest == "command").choices


def test_every_subcommand_is_a_module_with_description_and_example() -> None:
    choices = _subparsers()
    assert sorted(choices) == sorted(m.__name__.rsplit(".", 1)[1] for m in COMMANDS)
    for module in COMMANDS:
        name = module.__name__.rsplit(".", 1)[1]
        p = choices[name]
        assert p.get_default("func") is module.run, name
        assert p.description and len(p.description.splitlines()) >= 3, name
        assert p.epilog and p.epilog.startswith("example") and f"gafit {name} " in p.epilog, name
        assert module.HELP and module.DESCRIPTION == p.description and module.EXAMPLE == p.epilog


def test_library_modules_do_not_import_the_command_line() -> None:
    """The command line calls the library, never the other way round (gafit.validate used the phonons
    command's supercell helper, gafit.fit_validate the validate command's progress display)."""
    offenders = []
    for path in sorted((ROOT / "gafit").rglob("*.py")):
        if "cli" in path.relative_to(ROOT / "gafit").parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names
                          if n == "gafit.cli" or n.startswith("gafit.cli.") or n.endswith("_cli")]
    assert offenders == []


def test_command_entry_limits_blas_threads_before_numpy_loads() -> None:
    """``import gafit`` leaves the environment alone; the ``gafit`` entry sets the thread variables
    to 1 (unless given) before numpy and its BLAS load."""
    code = ("import os, sys\nimport gafit\n"
            f"for v in {BLAS_VARS!r}:\n    os.environ.pop(v, None)\n"
            "assert 'numpy' not in sys.modules\n"
            "import gafit.cli\n"
            f"print(' '.join(os.environ.get(v, '-') for v in {BLAS_VARS!r}))\n"
            "from threadpoolctl import threadpool_info\n"
            "print(max([i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'] or [1]))\n")
    env = {k: v for k, v in os.environ.items() if k not in BLAS_VARS}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[:2] == ["1 1 1", "1"]
    env["OMP_NUM_THREADS"] = "2"  # a user's own setting stays
    code = "import gafit.cli, os\nprint(os.environ['OMP_NUM_THREADS'])\n"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert run.stdout.strip() == "2", run.stderr


def test_evaluation_sets_of_a_file_or_of_a_fit_config() -> None:
    from gafit.config import load_config
    from gafit.fit_data import fit_inputs, read_data
    from gafit.io import read_reference

    sets, inputs = evaluation_sets(data=CU)
    assert list(sets) == ["data"] and inputs == [CU]
    assert [s.name for s in sets["data"]] == [s.name for s in read_reference(CU)]
    sets, inputs = evaluation_sets(config=CU_CONFIG)
    config = load_config(CU_CONFIG)
    train, valid = read_data(config)
    assert list(sets) == ["train"] + (["validation"] if valid is not None else [])
    assert [s.name for s in sets["train"]] == [s.name for s in train]
    assert inputs == [CU_CONFIG, *fit_inputs(config)]
    for wrong in ({}, {"data": CU, "config": CU_CONFIG}):
        with pytest.raises(GafitInputError, match="either"):
            evaluation_sets(**wrong)


def test_check_input_of_files_names_each_structure_by_its_file(tmp_path: Path) -> None:
    from gafit.io import read_reference, write_reference

    full = read_reference(CU)
    write_reference(full, tmp_path / "more.extxyz")
    checked = read_check_input([CU, tmp_path / "more.extxyz"], index="::2")
    half = read_reference(CU, "::2")
    assert len(checked.data) == 2 * len(half)
    assert checked.sources == [CU.name] * len(half) + ["more.extxyz"] * len(half)
    assert checked.names == [str(CU), str(tmp_path / "more.extxyz")] and checked.potential is None
    assert check_cutoff(None, None) == 6.0 and check_cutoff(4.5, None) == 4.5


def test_check_input_of_a_config_is_its_training_data_and_start_potential() -> None:
    from gafit.config import load_config
    from gafit.fit_data import read_data

    checked = read_check_input(config=CU_CONFIG)
    train, _ = read_data(load_config(CU_CONFIG))
    assert [s.name for s in checked.data] == [s.name for s in train]
    assert checked.potential is not None and checked.potential.species == ["Cu"]
    assert check_cutoff(None, checked.potential) == pytest.approx(6.0)
    assert np.all(np.isfinite(checked.potential.values))


def test_reference_cells_come_from_a_phonopy_reference_unless_given() -> None:
    from helpers import shared_file

    from gafit.phonons import load_reference, reference_cells

    folder = shared_file("phonopy_Si_PBE/phonopy_disp.yaml").parent
    ref = load_reference(folder / "phonopy_disp.yaml")
    cell, supercell = reference_cells(ref, None, None)
    assert len(cell) == len(ref.phonopy.unitcell)
    assert np.allclose(cell.cell, ref.phonopy.unitcell.cell)
    assert np.array_equal(supercell, ref.phonopy.supercell_matrix)
    given = cell.copy()
    assert reference_cells(ref, given, [1, 1, 1]) == (given, [1, 1, 1])
    frequencies = load_reference(folder / "dft_phonon_band.csv")
    assert frequencies.phonopy is None
    assert reference_cells(frequencies, None, None) == (None, None)
    assert reference_cells(None, given, None) == (given, None)
