"""``gafit phonons --ensemble`` (gafit.uncertainty.bands): the ensemble's band against phonopy run
independently on each member (ASE's calculator for the forces, a lattice constant from a scalar
minimisation of the energy), zero width for identical members, and the CLI's files."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from helpers import ROOT, TRUE, cu_morse
from phonopy import Phonopy
from phonopy.structure.atoms import PhonopyAtoms
from scipy.optimize import minimize_scalar

from gafit.calculator import GafitCalculator
from gafit.phonons import phonon_report
from gafit.potential import Potential
from gafit.structures import GafitInputError
from gafit.uncertainty.bands import band_spread

NAMES = ["Cu-Cu.D0", "Cu-Cu.alpha", "Cu-Cu.r0"]
SUPERCELL = [3, 3, 3]


def independent_band(pot: Potential, segments: list[np.ndarray]) -> np.ndarray:
    """Sorted frequencies (THz) of fcc Cu with ``pot`` on the reduced q ``segments``: the lattice
    constant minimising the energy (scipy), phonopy's displacements with the forces of gafit's
    ASE calculator, phonopy's band structure."""
    def energy(a: float) -> float:
        at = bulk("Cu", "fcc", a=a)
        at.calc = GafitCalculator(pot)
        return at.get_potential_energy()

    a = minimize_scalar(energy, bounds=(3.2, 4.2), method="bounded", options={"xatol": 1e-9}).x
    prim = bulk("Cu", "fcc", a=a)
    ph = Phonopy(PhonopyAtoms(symbols=prim.get_chemical_symbols(), cell=prim.cell[:],
                              scaled_positions=prim.get_scaled_positions()),
                 supercell_matrix=np.diag(SUPERCELL), primitive_matrix="auto", log_level=0)
    ph.generate_displacements(distance=0.01)
    forces = []
    for sc in ph.supercells_with_displacements:
        at = Atoms(sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions, pbc=True)
        at.calc = GafitCalculator(pot)
        forces.append(at.get_forces())
    ph.forces = np.array(forces)
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    ph.run_band_structure(segments)
    return np.sort(np.concatenate(ph.band_structure.frequencies), axis=1)


@pytest.fixture(scope="module")
def fitted() -> tuple[Potential, object]:
    pot = cu_morse()
    return pot, phonon_report(pot, bulk("Cu", "fcc", a=3.6), SUPERCELL, None, npoints=11)


def test_identical_members_give_a_band_of_zero_width(fitted: tuple[Potential, object]) -> None:
    pot, res = fitted
    values = np.repeat(TRUE[None, :3], 3, axis=0)
    spread = band_spread(pot, NAMES, values, res, SUPERCELL, progress=False)
    assert spread.members == 3 and spread.failed == 0
    assert spread.std.max() < 1e-12  # rounding of the mean of equal numbers only
    np.testing.assert_allclose(spread.mean, res.band.frequencies, atol=1e-6)


def test_two_members_against_phonopy_on_each(fitted: tuple[Potential, object]) -> None:
    """The band's mean and std (N - 1) of two members equal those of the two members'
    dispersions computed independently (each relaxed to its own lattice constant)."""
    pot, res = fitted
    values = np.array([[0.3429, 1.3588, 2.866], [0.36, 1.32, 2.89]])
    spread = band_spread(pot, NAMES, values, res, SUPERCELL, progress=False)
    each = [independent_band(pot.with_values(np.r_[v, 0.0]), res.band.path.segments)
            for v in values]
    np.testing.assert_allclose(spread.mean, np.mean(each, axis=0), atol=2e-4)
    np.testing.assert_allclose(spread.std, np.std(each, axis=0, ddof=1), atol=2e-4)
    assert spread.std.max() > 0.05  # the members differ: a band of visible width


def test_too_few_members_that_give_phonons(fitted: tuple[Potential, object]) -> None:
    pot, res = fitted
    with pytest.raises(GafitInputError, match="parameter Cu-Cu.nope is not one of"):
        band_spread(pot, ["Cu-Cu.nope"], np.ones((2, 1)), res, SUPERCELL, progress=False)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "gafit.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_cli_writes_the_band_and_records_it_for_the_report(tmp_path: Path) -> None:
    """An ensemble in a run folder's uncertainty/: band_ensemble.csv (fitted, mean, std per
    band), phonons.json's ensemble and the record the report reads; a second run without
    --ensemble removes the stale band_ensemble.csv."""
    run = tmp_path / "run"
    (run / "uncertainty").mkdir(parents=True)
    (run / "summary.json").write_text("{}")
    ens = run / "uncertainty" / "ensemble_fisher.csv"
    ens.write_text("Cu-Cu.D0,Cu-Cu.alpha,Cu.E0\n0.3429,1.3588,0\n0.35,1.34,0\n0.338,1.37,0\n")
    pot = str(ROOT / "potentials" / "Cu_Morse_Girifalco_Weizer_1959.json")
    out = tmp_path / "ph"
    done = run_cli("phonons", pot, "--structure", "fcc", "--supercell", "2", "2", "2",
                   "--npoints", "5", "--ensemble", str(ens), "--members", "3", "--out", str(out),
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ensemble band (3 members)" in done.stdout
    rows = list(csv.reader(line for line in (out / "band_ensemble.csv").open()
                           if not line.startswith("#")))
    assert rows[0][7:] == ["f1_THz", "f2_THz", "f3_THz", "mean1_THz", "mean2_THz", "mean3_THz",
                           "std1_THz", "std2_THz", "std3_THz"]
    band = list(csv.reader(line for line in (out / "band.csv").open() if not line.startswith("#")))
    assert [r[:10] for r in rows] == [r[:10] for r in band]
    summary = json.loads((out / "phonons.json").read_text())
    assert summary["ensemble"]["members"] == 3 and summary["ensemble"]["max_std_THz"] > 0
    record = json.loads((run / "uncertainty" / "phonons_fisher.json").read_text())
    assert record["members"] == 3 and np.shape(record["std"]) == (len(rows) - 1, 3)
    again = run_cli("phonons", pot, "--structure", "fcc", "--supercell", "2", "2", "2",
                    "--npoints", "5", "--out", str(out), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert not (out / "band_ensemble.csv").exists()
    bad = run_cli("phonons", pot, "--structure", "fcc", "--supercell", "2", "2", "2",
                  "--ensemble", str(ens), "--members", "1", "--out", str(tmp_path / "x"),
                  cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip() == "gafit: error: --members 1: need at least 2"


def test_a_propagation_is_recorded_only_beside_a_run_folders_ensemble(tmp_path: Path) -> None:
    from gafit.uncertainty.propagate import record_path

    folder = tmp_path / "run" / "uncertainty"
    folder.mkdir(parents=True)
    ens = folder / "ensemble_mcmc_model-error.csv"
    assert record_path(ens, "phonons") is None  # no summary.json: not a run folder
    (tmp_path / "run" / "summary.json").write_text("{}")
    assert record_path(ens, "phonons") == folder / "phonons_mcmc_model-error.json"
    assert record_path(folder / "members.csv", "phonons") is None
    assert record_path(tmp_path / "ensemble_fisher.csv", "properties") is None
