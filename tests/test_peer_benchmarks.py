"""benchmarks/peers: potfit's files written from gafit's structures and potentials, each peer skipped
with one line when absent, and (when a potfit binary or kimpy is installed) the peers computing what
gafit computes at the same parameters."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from helpers import ROOT, shared_file

from gafit.io import read_reference
from gafit.lammps.runner import potentials_dir
from gafit.potential_files import load_potential
from gafit.structures import ReferenceSet, Structure

sys.path[:0] = [str(ROOT / "benchmarks" / "peers"), str(ROOT / "benchmarks")]

import compiled_fitters  # noqa: E402
import kim_models  # noqa: E402
import potfit_files  # noqa: E402


def _read_config(text: str) -> list[dict]:
    """potfit's configuration file as potfit reads it (config.c): header lines, then atoms."""
    out: list[dict] = []
    lines = iter(text.splitlines())
    for line in lines:
        assert line.startswith("#N ")
        conf = {"n": int(line.split()[1])}
        for head in lines:
            tag, *vals = head.split()
            if tag == "#F":
                break
            conf[tag] = vals
        conf["atoms"] = np.array([[float(v) for v in next(lines).split()]
                                  for _ in range(conf["n"])])
        out.append(conf)
    return out


def test_config_file_holds_cells_positions_targets_in_potfit_order() -> None:
    atoms = bulk("Cu", "fcc", a=3.6) * (2, 1, 1)
    atoms.rattle(0.05, seed=1)
    f_nc = np.arange(6.0).reshape(2, 3)
    s_voigt = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])  # ASE: xx yy zz yz xz xy
    with_stress = Structure(atoms, energy=-7.0, forces=f_nc, stress=s_voigt)
    without = Structure(atoms.copy(), energy=-6.0, forces=f_nc)
    first, second = _read_config(potfit_files.config_text([with_stress, without], ["Cu"]))
    assert first["#C"] == ["Cu"]
    np.testing.assert_allclose([[float(v) for v in first[t]] for t in ("#X", "#Y", "#Z")],
                               atoms.cell.array, atol=1e-12)
    assert float(first["#E"][0]) == pytest.approx(-3.5)  # per atom
    stress = dict(zip(["xx", "yy", "zz", "xy", "yz", "zx"],
                      map(float, first["#S"]), strict=True))
    voigt = dict(zip(["xx", "yy", "zz", "yz", "zx", "xy"], s_voigt, strict=True))
    assert stress == voigt
    assert "#S" not in second  # no stress target: potfit fits none
    np.testing.assert_allclose(first["atoms"][:, 1:4], atoms.positions, atol=1e-12)
    np.testing.assert_allclose(first["atoms"][:, 4:], f_nc)
    assert (first["atoms"][:, 0] == 0).all()


def test_tersoff_file_maps_lammps_cutoff_and_fixes_all_but_the_free_parameter() -> None:
    pot = load_potential(potentials_dir() / "Si.tersoff")
    value = {n.rsplit(".", 1)[1]: v for n, v in zip(pot.names, pot.values, strict=True)}
    text = potfit_files.tersoff_potential_text(pot, free=("A",))
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]]
            for line in text.splitlines() if line and not line.startswith("#")
            and line.split()[0] not in ("type",)}
    assert rows["cutoff"] == [pytest.approx(value["R"] + value["D"])]
    assert rows["S"][0] == pytest.approx(value["R"] + value["D"])
    assert rows["R"][0] == pytest.approx(value["R"] - value["D"])
    assert rows["gamma"][0] == value["beta"] and rows["mu"][0] == value["lambda2"]
    assert rows["A"][1] < rows["A"][0] < rows["A"][2]
    assert all(r[1] == r[2] == r[0] for k, r in rows.items() if k not in ("A", "cutoff"))


def test_missing_peers_are_skipped_with_one_line(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # the KIM API writes kim.log to the working folder
    monkeypatch.delenv("GAFIT_POTFIT_TERSOFF", raising=False)
    case = compiled_fitters.CASES["tersoff_gpuga"]
    res = compiled_fitters.run_potfit(case, None, None, None, 1)  # type: ignore[arg-type]
    assert set(res) == {"potfit_skipped"}
    assert "GAFIT_POTFIT_TERSOFF" in res["potfit_skipped"] and "\n" not in res["potfit_skipped"]
    why = kim_models.missing("No_Such_Model__MO_000000000000_000")
    assert why is not None and "\n" not in why


def test_a_potfit_binary_that_fails_is_skipped_with_one_line(monkeypatch, tmp_path) -> None:
    failing = tmp_path / "potfit"
    failing.write_text("#!/bin/sh\necho 'This potfit binary only supports PAIR' >&2\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setenv("GAFIT_POTFIT_TERSOFF", str(failing))
    case = compiled_fitters.CASES["tersoff_gpuga"]
    pot = case.potential()
    data = ReferenceSet([Structure(bulk("Si", "diamond", a=5.43), energy=-9.0)], "Si")
    res = compiled_fitters.run_potfit(case, pot, data, None, 1)
    assert set(res) == {"potfit_skipped"}
    assert "only supports PAIR" in res["potfit_skipped"] and "\n" not in res["potfit_skipped"]


def _small_gpuga(n: int = 6) -> ReferenceSet:
    """The first ``n`` structures of gpuga_Si_diamond."""
    data = read_reference(shared_file("gpuga_Si_diamond/Si_gpuga_train.extxyz"))
    return ReferenceSet(data.structures[:n], "gpuga head")


def test_potfit_tersoff_energies_equal_gafits_without_lambda3(tmp_path: Path) -> None:
    binary = os.environ.get("GAFIT_POTFIT_TERSOFF")
    if not binary:
        pytest.skip("GAFIT_POTFIT_TERSOFF (a potfit binary built with interaction tersoff) not set")
    pot = load_potential(potentials_dir() / "Si.tersoff")
    data = _small_gpuga()
    (tmp_path / "config").write_text(potfit_files.config_text(data.structures, pot.species))
    (tmp_path / "startpot").write_text(potfit_files.tersoff_potential_text(pot))
    run = potfit_files.run_potfit(Path(binary), tmp_path, optimize=False)
    obj, _ = compiled_fitters.objective_and_population(pot, data, 1)
    values = pot.values.copy()
    values[[k for k, n in enumerate(pot.names) if n.endswith(".lambda3")]] = 0.0
    e_atom = compiled_fitters.gafit_reference(pot, obj.tables, values)[0] / obj.tables.n_atoms_s
    np.testing.assert_allclose(run.energy_per_atom, e_atom, atol=1e-8)  # potfit prints 10 digits


def test_potfit_morse_energies_equal_gafits(tmp_path: Path) -> None:
    binary = os.environ.get("GAFIT_POTFIT_PAIR")
    if not binary:
        pytest.skip("GAFIT_POTFIT_PAIR (a potfit binary built with interaction pair) not set")
    pot = compiled_fitters.CASES["morse_cu"].potential()
    data = read_reference(shared_file("mlearn_Cu/Cu_test.extxyz"))
    data = ReferenceSet(data.structures[:6], "mlearn_Cu head")
    (tmp_path / "config").write_text(potfit_files.config_text(data.structures, pot.species))
    (tmp_path / "startpot").write_text(potfit_files.morse_potential_text(pot))
    run = potfit_files.run_potfit(Path(binary), tmp_path, optimize=False)
    obj, _ = compiled_fitters.objective_and_population(pot, data, 1)
    e_atom = compiled_fitters.gafit_reference(pot, obj.tables, pot.values)[0] / obj.tables.n_atoms_s
    # potfit tabulates the analytic function and interpolates it by splines
    np.testing.assert_allclose(run.energy_per_atom, e_atom, atol=1e-5)


@pytest.mark.parametrize("key", ["tersoff_gpuga", "morse_cu"])
def test_kim_driver_computes_gafits_energies_and_forces(key: str, monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)  # the KIM API writes kim.log to the working folder
    case = compiled_fitters.CASES[key]
    why = kim_models.missing(case.kim_model)
    if why is not None:
        pytest.skip(why)
    pot = case.potential()
    data = read_reference(shared_file(case.data))
    data = ReferenceSet(data.structures[:6], "head")
    obj, _ = compiled_fitters.objective_and_population(pot, data, 1)
    kim = kim_models.KimSet(case.kim_model, data.structures,
                            compiled_fitters.kim_values(case, pot, pot.values))
    # not the model's own parameters: the mapping of each is what is tested
    fittable = np.concatenate([f.fittable() for f in pot.forms] + [[False]])
    values = pot.values * (1 + 0.01 * fittable)
    kim.set_parameters(compiled_fitters.kim_values(case, pot, values))
    kim.compute()
    e_kim, f_kim = kim.results()
    e_mine, f_mine, _ = compiled_fitters.gafit_reference(pot, obj.tables, values)
    np.testing.assert_allclose(f_kim, f_mine, atol=1e-9)
    if not case.energy_shifted:
        np.testing.assert_allclose(e_kim / obj.tables.n_atoms_s, e_mine / obj.tables.n_atoms_s,
                                   atol=1e-10)
