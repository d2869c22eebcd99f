"""Reference data of a fit: several training files and globs, forced ASE formats, per-file
config_type and weight, binding curves without species columns, dropping duplicated structures;
phonon references (old disp.yaml, bare FORCE_SETS, frequencies files) and fits to phonons only."""

from __future__ import annotations

import copy
import csv
import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from helpers import ROOT, shared_file

from gafit.config import DataFile, files_label, load_config, parse_config
from gafit.fit_data import read_data
from gafit.fitting import Fit
from gafit.forms.morse import Morse
from gafit.io import read_reference, write_reference
from gafit.phonons import frequencies_at, load_reference, make_phonopy, read_structure
from gafit.phonons.target import PhononTarget
from gafit.potential import Potential
from gafit.structures import GafitInputError, ReferenceSet

CU = ROOT / "data" / "Cu_EMT.extxyz"


def config(tmp_path: Path, data: str, potential: str = 'species = ["Cu"]') -> Path:
    """A config file in tmp_path with the given [data] and [potential] bodies."""
    path = tmp_path / "fit.toml"
    path.write_text(f"[data]\n{data}\n[potential]\nform = \"morse\"\n{potential}\n", encoding="utf-8")
    return path


@pytest.fixture
def parts(tmp_path: Path) -> list[Path]:
    """Cu_EMT.extxyz split into three files data/part-0.extxyz .. part-2.extxyz."""
    ref = read_reference(CU)
    (tmp_path / "data").mkdir()
    out = []
    for k in range(3):
        out.append(tmp_path / "data" / f"part-{k}.extxyz")
        write_reference(ref.subset(range(k, len(ref), 3)), out[-1])
    return out


def names(refset: ReferenceSet) -> list[str]:
    return [s.name for s in refset]


def test_train_list_and_glob(tmp_path: Path, parts: list[Path]) -> None:
    by_list = read_data(load_config(config(
        tmp_path, 'train = ["data/part-2.extxyz", "data/part-0.extxyz"]')))[0]
    expected = read_reference(parts[2]) + read_reference(parts[0])
    assert names(by_list) == names(expected)
    # a glob (relative to the config's folder, from any working folder) is sorted
    by_glob = read_data(load_config(config(tmp_path, 'train = "data/part-*.extxyz"')))[0]
    assert names(by_glob) == names(read_reference(parts[0]) + read_reference(parts[1])
                                   + read_reference(parts[2]))
    cfg = load_config(config(tmp_path, 'train = ["data/part-[01].extxyz"]\nvalidation = '
                             '"data/part-2.extxyz"'))
    assert [f.path for f in cfg.data.train] == parts[:2]
    assert files_label(cfg.data.train) == f"{parts[0]}, {parts[1]}"
    train, valid = read_data(cfg)
    assert len(train) + len(valid) == len(read_reference(CU)) and names(valid) == names(
        read_reference(parts[2]))


def test_single_file_form_still_works(tmp_path: Path, parts: list[Path]) -> None:
    cfg = load_config(config(tmp_path, 'train = "data/part-1.extxyz"'))
    assert cfg.data.train == [DataFile(parts[1])] and cfg.data.validation == []
    assert names(read_data(cfg)[0]) == names(read_reference(parts[1]))
    parts[1].rename(tmp_path / "data" / "run[1].extxyz")  # a file name that looks like a glob
    cfg = load_config(config(tmp_path, 'train = "data/run[1].extxyz"'))
    assert [f.path.name for f in cfg.data.train] == ["run[1].extxyz"]


def test_seeded_split_of_a_glob_is_deterministic(tmp_path: Path, parts: list[Path]) -> None:
    text = 'train = "data/part-*.extxyz"\nvalidation_fraction = 0.3\nsplit_seed = 4'
    first = read_data(load_config(config(tmp_path, text)))
    for p in parts:  # files created in another order: the glob is sorted, the split the same
        p.rename(p.with_suffix(".tmp"))
    for p in reversed(parts):
        p.with_suffix(".tmp").rename(p)
    second = read_data(load_config(config(tmp_path, text)))
    assert names(first[0]) == names(second[0]) and names(first[1]) == names(second[1])


@pytest.mark.parametrize("value, message", [
    ('"data/nothing-*.xyz"', "[data] train = 'data/nothing-*.xyz' matches no file"),
    ('["data/part-0.extxyz", "data/none?.xyz"]', "[data] train[1] = 'data/none?.xyz' matches no file"),
    ("[]", "[data] train is an empty list"),
    ("[3]", "[data] train[0] must be a path or glob string"),
    ('[{format = "extxyz"}]', "[data] train[0] needs file ="),
    ('[{file = "data/part-0.extxyz", fromat = "extxyz"}]', "unknown key 'fromat' in [data] train[0] "
                                                             "(did you mean 'format'?)"),
    ('[{file = "data/part-0.extxyz", format = "vasp-xlm"}]', "format = 'vasp-xlm' is not a format "
                                                               "gafit or ASE reads (did you mean "
                                                               "'vasp-xml'?)"),
    ('[{file = "data/part-0.extxyz", weight = -1}]', "[data] train[0] weight = -1: expected a finite "
                                                      "number >= 0"),
    ('[{file = "data/part-0.extxyz", config_type = 2}]', "config_type must be a non-empty string"),
])
def test_train_errors_name_key_and_pattern(tmp_path: Path, parts: list[Path], value: str,
                                           message: str) -> None:
    path = config(tmp_path, f"train = {value}")
    with pytest.raises(GafitInputError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_per_file_config_type_and_weight(tmp_path: Path, parts: list[Path]) -> None:
    cfg = load_config(config(tmp_path, 'train = ["data/part-0.extxyz", {file = "data/part-1.extxyz", '
                                       'config_type = "second", weight = 2.5}]\n'
                                       'validation_config_types = ["second"]'))
    original = read_reference(parts[1])
    train, valid = read_data(cfg)
    assert names(train) == names(read_reference(parts[0]))
    assert names(valid) == names(original) and {s.config_type for s in valid} == {"second"}
    assert [s.weight for s in valid] == [2.5 * s.weight for s in original]


def test_vasprun_with_a_suffix_needs_and_takes_a_format(tmp_path: Path) -> None:
    vasprun = tmp_path / "vasprun.xml-00"
    shutil.copy(shared_file("phonopy_Si_PBE/vasprun.xml"), vasprun)
    with pytest.raises(GafitInputError, match=r"vasprun.xml-00: unknown or empty file format .*"
                                              r"format = \"vasp-xml\""):
        read_reference(vasprun)
    cfg = load_config(config(tmp_path, 'train = [{file = "vasprun.*", format = "vasp-xml"}]',
                             'species = ["Si"]'))
    (train, _), direct = read_data(cfg), read_reference(vasprun, format="vasp-xml")
    assert len(train) == 1 and train[0].n_atoms == 16
    import ase.io

    atoms = ase.io.read(vasprun, format="vasp-xml")
    assert train[0].energy == atoms.get_potential_energy() == direct[0].energy
    np.testing.assert_array_equal(train[0].forces, atoms.get_forces())


CURVE = "r,energy\n2.0,1.5\n2.3,-1.9\n2.8,-1.2\n"


def test_binding_curve_species_from_the_potential(tmp_path: Path) -> None:
    (tmp_path / "curve.csv").write_text(CURVE, encoding="utf-8")
    train, _ = read_data(load_config(config(tmp_path, 'train = "curve.csv"', 'species = ["Cu"]')))
    assert [s.atoms.get_chemical_symbols() for s in train] == [["Cu", "Cu"]] * 3
    assert [s.energy for s in train] == [1.5, -1.9, -1.2]
    for potential in ("", 'species = ["Cu", "Ag"]'):  # no species, or two: which dimer is it?
        with pytest.raises(GafitInputError) as err:
            read_data(load_config(config(tmp_path, 'train = "curve.csv"', potential)))
        assert str(err.value).startswith(f"{tmp_path / 'curve.csv'}: a binding-curve CSV needs the "
                                         "species of the dimer")
        assert '[potential] species = ["Cu"]' in str(err.value)


def test_drop_duplicates_before_the_split(tmp_path: Path, parts: list[Path],
                                          capsys: pytest.CaptureFixture) -> None:
    ref = read_reference(parts[0])
    copies = copy.deepcopy(ref.subset([1, 3]))
    for s in copies:
        s.name += "-copy"
        s.atoms.positions[0] += s.atoms.cell[1]  # a periodic image: the same structure
    write_reference(ref + copies, tmp_path / "data" / "dup.extxyz")
    text = 'train = "data/dup.extxyz"\nvalidation_fraction = 0.5\nsplit_seed = 1'
    train, valid = read_data(load_config(config(tmp_path, text)))
    assert len(train) + len(valid) == len(ref) + 2  # kept: copies may land on both sides
    capsys.readouterr()
    train, valid = read_data(load_config(config(tmp_path, text + "\ndrop_duplicates = true")))
    assert sorted(names(train) + names(valid)) == sorted(names(ref))  # the first of each kept
    err = capsys.readouterr().err
    assert f"dropped 2 of {len(ref) + 2} structures that repeat an earlier one" in err
    assert f"{ref[1].name}-copy (= {ref[1].name})" in err and f"{ref[3].name}-copy" in err


# --------------------------------------------------------------------------- phonon references


TRUE_MORSE = np.array([0.3429, 1.3588, 2.866, 0.0])  # Cu D0, alpha, r0, E0
#: Γ X L W K in the fcc primitive reciprocal basis
QPOINTS = [[0, 0, 0], [0.5, 0, 0.5], [0.5, 0.5, 0.5], [0.5, 0.25, 0.75], [0.375, 0.375, 0.75]]
NAMES = ["Gamma", "X", "L", "W", "K"]


def cu_morse(values: np.ndarray = TRUE_MORSE) -> Potential:
    return Potential(["Cu"], [Morse(["Cu"], 5.0)]).with_values(values)


def points_yaml(path: Path, qpoints: list, frequencies: np.ndarray, lattice: np.ndarray) -> Path:
    """A YAML list of named points (the layout of the shared dft_phonon_frequencies.yaml)."""
    import yaml

    path.write_text(yaml.safe_dump({
        "primitive_cell_angstrom": np.asarray(lattice).tolist(),
        "points": [{"name": n, "q_reduced_primitive": list(map(float, q)),
                    "frequencies_THz": [float(x) for x in f]}
                   for n, q, f in zip(NAMES, qpoints, frequencies, strict=True)]}))
    return path


def dft_points(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """q-points and sorted frequencies (THz) of a shared dft_phonon_frequencies.yaml (phonopy 4.8.6)."""
    import yaml

    pts = yaml.safe_load((folder / "dft_phonon_frequencies.yaml").read_text())["points"]
    return (np.array([p["q_reduced_primitive"] for p in pts]),
            np.sort(np.array([p["frequencies_THz"] for p in pts]), axis=1))


def test_old_disp_yaml_with_force_sets() -> None:
    """phonopy's older disp.yaml + FORCE_SETS + POSCAR-unitcell (Si-gruneisen example, 64 atoms)."""
    folder = shared_file("phonopy_Si_PBE/gruneisen/orig")
    ref = load_reference(folder / "disp.yaml")
    assert ref.kind == "disp.yaml" and ref.phonopy is not None
    assert np.asarray(ref.phonopy.supercell_matrix).tolist() == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    q, f = dft_points(folder)
    np.testing.assert_allclose(ref.frequencies_at(q), f, atol=2e-4)
    # a unit cell that does not make disp.yaml's supercell is refused (FORCE_SETS would not fit it)
    shifted = read_structure(folder / "POSCAR-unitcell")
    shifted.positions += [0.05, 0.0, 0.0]
    with pytest.raises(GafitInputError, match="disp.yaml: the supercell built from the unit cell"):
        load_reference(folder / "disp.yaml", shifted)


@pytest.mark.parametrize("name", ["phonopy_Si_PBE", "phonopy_MgO"])
def test_bare_force_sets_with_structure_and_supercell(name: str) -> None:
    """FORCE_SETS + POSCAR-unitcell + 2x2x2 gives phonopy's frequencies (MgO: with BORN beside)."""
    folder = shared_file(name)
    with pytest.raises(GafitInputError) as err:
        load_reference(folder / "FORCE_SETS")
    assert str(err.value).startswith(f"{folder / 'FORCE_SETS'}: a bare FORCE_SETS needs the unit "
                                     "cell and the supercell") and "structure = " in str(err.value)
    ref = load_reference(folder / "FORCE_SETS", read_structure(folder / "POSCAR-unitcell"), [2, 2, 2])
    assert ref.kind == "FORCE_SETS"
    q, f = dft_points(folder)
    np.testing.assert_allclose(ref.frequencies_at(q), f, atol=2e-4)
    with pytest.raises(GafitInputError, match="has forces on .* atoms, but the supercell has"):
        load_reference(folder / "FORCE_SETS", read_structure(folder / "POSCAR-unitcell"), [3, 3, 3])


def test_frequency_files_of_phonopy(tmp_path: Path) -> None:
    """phonopy's qpoints.yaml and mesh.yaml, and a YAML list of points, are fixed-q references."""
    import os

    ph = make_phonopy(cu_morse(), bulk("Cu", "fcc", a=3.62), [2, 2, 2])
    cwd = os.getcwd()
    os.chdir(tmp_path)  # phonopy writes them into the working folder
    try:
        ph.run_qpoints(QPOINTS)
        ph.write_yaml_qpoints_phonon()
        ph.run_mesh([4, 4, 4])
        ph.write_yaml_mesh()
    finally:
        os.chdir(cwd)
    qpoints = load_reference(tmp_path / "qpoints.yaml")
    np.testing.assert_allclose(qpoints.frequencies_at(QPOINTS), frequencies_at(ph, QPOINTS), atol=1e-6)
    np.testing.assert_allclose(qpoints.lattice, ph.primitive.cell, atol=1e-8)
    mesh = load_reference(tmp_path / "mesh.yaml")
    np.testing.assert_allclose(mesh.frequencies, np.sort(frequencies_at(ph, mesh.qpoints), axis=1),
                               atol=1e-6)
    listed = load_reference(points_yaml(tmp_path / "points.yaml", QPOINTS, frequencies_at(ph, QPOINTS),
                                        ph.primitive.cell))
    assert listed.kind == "points" and listed.labels == ["Γ", "X", "L", "W", "K"]


def phonon_config(reference: Path, **extra: object) -> dict:
    """A Cu Morse fit to phonons only (no [data]): r0 fixed, D0 and alpha free."""
    return {"potential": {"form": "morse", "cutoff": 5.0,
                          "parameters": {"Cu-Cu.r0": float(TRUE_MORSE[2]), "Cu-Cu.D0": [0.1, 1.0],
                                         "Cu-Cu.alpha": [0.8, 2.0]}},
            "phonons": {"reference": str(reference), "qpoints": "GXL", **extra},
            "ga": {"population": 24, "generations": 8, "seed": 4}}


def test_fit_to_phonons_only(tmp_path: Path) -> None:
    """No [data] train: the species come from the phonon reference, the fit recovers D0 and alpha."""
    ph = make_phonopy(cu_morse(), bulk("Cu", "fcc", a=3.62), [2, 2, 2])
    ph.save(str(tmp_path / "phonopy_params.yaml"), settings={"force_sets": True})
    config = parse_config(phonon_config(tmp_path / "phonopy_params.yaml"))
    assert config.data.train == []
    result = Fit.from_config(config).run(tmp_path / "out", quiet=True)
    got = result.potential.named_values()
    assert result.potential.species == ["Cu"]
    assert got["Cu-Cu.D0"] == pytest.approx(TRUE_MORSE[0], rel=1e-5)
    assert got["Cu-Cu.alpha"] == pytest.approx(TRUE_MORSE[1], rel=1e-5)
    finite = {k for k, v in result.rmse["train"].items() if np.isfinite(v)}
    assert finite == {"phonons"} and result.rmse["train"]["phonons"] < 1e-4
    # with the zero-stress supercell as the only structure (a = 3.62 Å is not this Morse's own
    # lattice constant: the fit trades stress against frequencies)
    with_eq = Fit.from_config(parse_config(phonon_config(tmp_path / "phonopy_params.yaml",
                                                 equilibrium_weight=1.0))).run(quiet=True)
    assert {k for k, v in with_eq.rmse["train"].items() if np.isfinite(v)} == {"stress", "virial",
                                                                                "phonons"}


def test_fit_to_a_frequencies_file(tmp_path: Path) -> None:
    """A YAML list of points is a fit target on [phonons] structure and supercell."""
    unit = bulk("Cu", "fcc", a=3.62)
    ph = make_phonopy(cu_morse(), unit, [2, 2, 2])
    ref = points_yaml(tmp_path / "freq.yaml", QPOINTS, frequencies_at(ph, QPOINTS), ph.primitive.cell)
    unit.write(tmp_path / "POSCAR", format="vasp")
    with pytest.raises(GafitInputError, match="frequencies alone do not say which crystal"):
        Fit.from_config(parse_config(phonon_config(ref))).run(quiet=True)
    config = parse_config(phonon_config(ref, structure=str(tmp_path / "POSCAR"), supercell=[2, 2, 2]))
    result = Fit.from_config(config).run(quiet=True)
    got = result.potential.named_values()
    assert got["Cu-Cu.D0"] == pytest.approx(TRUE_MORSE[0], rel=1e-5)
    assert [row["label"] for row in result.phonons[0]] == ["Γ", "X", "L"]
    target = PhononTarget.build(cu_morse(), config.phonons[0])
    assert target.labels == ["Γ", "X", "L"]
    every = PhononTarget.build(cu_morse(), dataclasses.replace(config.phonons[0], qpoints="all"))
    assert every.labels == ["Γ", "X", "L", "W", "K"]
    assert np.abs(every.differences(TRUE_MORSE[None])).max() < 1e-6
    with pytest.raises(GafitInputError, match=r"\['U'\] are not named in .*freq.yaml"):
        PhononTarget.build(cu_morse(), dataclasses.replace(config.phonons[0], qpoints="GU"))


def test_phonon_config_errors(tmp_path: Path) -> None:
    ph = make_phonopy(cu_morse(), bulk("Cu", "fcc", a=3.62), [2, 2, 2])
    ph.save(str(tmp_path / "phonopy_params.yaml"), settings={"force_sets": True})
    for bad in ([2, 2], [2, 0, 2], [[1, 0, 0], [0, 1, 0], [0, 0, 0]], "2x2x2"):
        with pytest.raises(GafitInputError, match=r"\[phonons\] supercell = .*expected 3 positive"):
            parse_config(phonon_config(tmp_path / "phonopy_params.yaml", supercell=bad))
    bulk("Cu", "fcc", a=3.62).write(tmp_path / "POSCAR", format="vasp")
    config = parse_config(phonon_config(tmp_path / "phonopy_params.yaml",
                                        structure=str(tmp_path / "POSCAR")))
    with pytest.raises(GafitInputError, match="a phonopy data set has its own unit cell"):
        Fit.from_config(config).run(quiet=True)


def test_cli_phonons_with_a_bare_force_sets(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = shared_file("phonopy_Si_PBE")
    from gafit.cli import main

    args = ["phonons", str(ROOT / "potentials" / "Si_Tersoff_1988.tersoff"), "--reference",
            str(folder / "FORCE_SETS"), "--npoints", "3", "--out", str(tmp_path / "o")]
    assert main(args) == 2
    assert "a bare FORCE_SETS needs the unit cell" in capsys.readouterr().err
    assert main([*args, "--structure", str(folder / "POSCAR-unitcell"), "--supercell", "2", "2",
                 "2"]) == 0
    with open(tmp_path / "o" / "errors.csv", newline="") as fh:
        rows = {r["point"]: r for r in csv.DictReader(fh)}
    assert [float(x) for x in rows["Gamma"]["reference_THz"].split()][-1] == pytest.approx(
        15.111, abs=1e-3)
