"""The rigid-ion oxide sets of potentials/ (BKS SiO2, Henkelman MgO, formal-charge MgO): they load,
carry the published numbers of the shared parameter table, are what potentials/make_oxide_sets.py
writes, and gafit agrees with LAMMPS on them."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import numpy as np
import pytest
from ase import Atoms
from ase.spacegroup import crystal
from helpers import ROOT, mgo_rattled, mgo_rocksalt, shared_file

from gafit.lammps.verify import verify
from gafit.potential_files import load_potential
from gafit.structures import ReferenceSet, Structure

TOL = 1e-10
POTENTIALS = ROOT / "potentials"
#: shipped file -> id of its set in ../shared/data/buckingham_parameters/buckingham_parameters.yaml
FILES = {"SiO2_BKS_1990.json": "SiO2_BKS_1990",
         "MgO_Henkelman_2005.json": "MgO_Henkelman_2005_partial_charge",
         "MgO_rigid_ion_formal_charge.json": "MgO_rigid_ion_formal_charge_variant"}


def make_oxide_sets() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_oxide_sets",
                                                  POTENTIALS / "make_oxide_sets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parameter_table() -> dict:
    yaml = pytest.importorskip("yaml")
    path = shared_file("buckingham_parameters/buckingham_parameters.yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alpha_quartz(rattle: float = 0.05, seed: int = 0) -> Atoms:
    """alpha-quartz (P3_221, 9 atoms; room-temperature a, c in Å and positions, Si (x, 0, 0) and
    O (x, y, z) shifted by c·2/3 to ASE's origin of the group), the atoms displaced at random
    (std ``rattle`` Å) so that forces are not zero."""
    at = crystal(["Si", "O"], basis=[(0.4697, 0.0, 2 / 3), (0.4135, 0.2669, 0.1191 + 2 / 3)],
                 spacegroup=154, cellpar=[4.9134, 4.9134, 5.4052, 90, 90, 120])
    at.rattle(rattle, seed=seed)
    return at


@pytest.mark.parametrize("name", FILES)
def test_shipped_set_loads_without_e0_and_with_its_citation(name: str) -> None:
    pot = load_potential(POTENTIALS / name)
    assert [f.name for f in pot.forms] == ["buckingham", "coulomb"]
    assert not pot.e0_given
    assert np.all(pot.values[pot.e0_slice] == 0.0)
    assert pot.check() == []
    assert "Citation:" in pot.provenance and "Caveat:" in pot.provenance


@pytest.mark.parametrize("name", FILES)
def test_shipped_set_holds_the_published_numbers(name: str) -> None:
    """Every pair the table gives (A or C non-zero) and every charge, read by name."""
    entry = next(s for s in parameter_table()["parameter_sets"] if s["id"] == FILES[name])
    pot = load_potential(POTENTIALS / name)
    value = dict(zip(pot.names, pot.values, strict=True))
    for pair, p in entry["pairs"].items():
        if p["A"] or p["C"]:
            for key in ("A", "rho", "C"):
                assert value[f"{pair}.{key}"] == p[key], (pair, key)
        else:
            assert value[f"{pair}.A"] == 0.0 and value[f"{pair}.C"] == 0.0
    for species, q in entry["charges"].items():
        assert value[f"{species}.q"] == q


def test_shipped_files_are_what_the_script_writes() -> None:
    mod = make_oxide_sets()
    produced = mod.oxide_sets(parameter_table())
    assert set(produced) == set(FILES)
    for name, content in produced.items():
        assert (POTENTIALS / name).read_text(encoding="utf-8") == mod.file_text(content), name


@pytest.mark.parametrize("name", ["MgO_Henkelman_2005.json", "MgO_rigid_ion_formal_charge.json"])
def test_mgo_sets_match_lammps(name: str, lammps_available) -> None:
    refset = ReferenceSet([Structure(mgo_rocksalt(4.2), name="rocksalt"),
                           Structure(mgo_rattled(2), name="rattled")])
    report = verify(load_potential(POTENTIALS / name), refset)
    print(report.text())
    assert report.max_relative < TOL, report.text()


def test_bks_matches_lammps_on_alpha_quartz(lammps_available) -> None:
    ideal = alpha_quartz(rattle=0.0)
    assert ideal.get_chemical_formula() == "O6Si3"
    d_si_o = ideal.get_all_distances(mic=True)[ideal.numbers == 14][:, ideal.numbers == 8]
    assert np.all(np.sort(d_si_o, axis=1)[:, 3] < 1.62)  # four O around each Si
    quartz = alpha_quartz()
    refset = ReferenceSet([Structure(quartz, name="alpha-quartz")])
    report = verify(load_potential(POTENTIALS / "SiO2_BKS_1990.json"), refset)
    print(report.text())
    assert report.max_relative < TOL, report.text()
