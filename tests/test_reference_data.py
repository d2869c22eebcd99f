"""Reference data of a fit: several training files and globs, forced ASE formats, per-file
config_type and weight, binding curves without species columns, dropping duplicated structures."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_file

from gafit.config import DataFile, files_label, load_config
from gafit.fit import read_data
from gafit.io import read_reference, write_reference
from gafit.structures import GafitInputError, ReferenceSet

ROOT = Path(__file__).resolve().parents[1]
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
