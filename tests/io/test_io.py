"""Tests for gafit.io: CSV layouts, extxyz, round trips and error messages."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from helpers import SHARED_DATA

import gafit.io.ase_format as ase_format
from gafit.io import read_reference, write_reference
from gafit.io.ase_format import frame_to_structure
from gafit.structures import GPA_TO_EV_A3, GafitInputError, ReferenceSet, Structure

SHARED = SHARED_DATA

HEADER = (
    "structure,species,x,y,z,fx,fy,fz,energy,"
    "cell_ax,cell_ay,cell_az,cell_bx,cell_by,cell_bz,cell_cx,cell_cy,cell_cz,"
    "stress_xx,stress_yy,stress_zz,stress_yz,stress_xz,stress_xy,weight,config_type\n"
)
CELL = "3.6,0,0,0,3.6,0,0,0,3.6"
STRESS = "1.5,-2,0.25,0,0.125,-0.5"
# bulk: periodic with forces, energy, stress; cluster: no cell, no forces, no stress;
# the rows of bulk are not contiguous
GOOD = (
    HEADER
    + f"bulk,Cu,0,0,0,0.1,0.2,0.3,-7.5,{CELL},{STRESS},2,fcc\n"
    + f"bulk,Cu,1.8,1.8,0,-0.1,-0.2,-0.3,-7.5,{CELL},{STRESS},2,fcc\n"
    + "clu,Cu,0,0,0,,,,-1.25,,,,,,,,,,,,,,,,,\n"
    + "clu,Ni,2.5,0,0,,,,-1.25,,,,,,,,,,,,,,,,,\n"
    + f"bulk,Ni,0,1.8,1.8,0,0,0,-7.5,{CELL},{STRESS},2,fcc\n"
)


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def assert_same(a: ReferenceSet, b: ReferenceSet) -> None:
    assert len(a) == len(b)
    for s, t in zip(a, b, strict=True):
        assert s.name == t.name
        assert s.config_type == t.config_type
        assert s.weight == t.weight
        assert s.energy == t.energy
        assert s.atoms.get_chemical_symbols() == t.atoms.get_chemical_symbols()
        assert np.array_equal(s.atoms.positions, t.atoms.positions)
        assert np.array_equal(s.atoms.pbc, t.atoms.pbc)
        assert np.array_equal(s.atoms.cell.array, t.atoms.cell.array)
        for x, y in ((s.forces, t.forces), (s.stress, t.stress)):
            assert (x is None) == (y is None)
            if x is not None:
                np.testing.assert_allclose(x, y, rtol=1e-15, atol=0)


# ----------------------------------------------------------------------------- per-atom layout


def test_per_atom_csv(tmp_path):
    ref = read_reference(write(tmp_path, GOOD))
    assert [s.name for s in ref] == ["bulk", "clu"]
    assert ref.species == ["Cu", "Ni"]
    bulk, clu = ref
    assert bulk.atoms.get_chemical_symbols() == ["Cu", "Cu", "Ni"]
    np.testing.assert_array_equal(bulk.atoms.positions[2], [0, 1.8, 1.8])
    assert bulk.periodic and bulk.atoms.pbc.all()
    np.testing.assert_array_equal(bulk.atoms.cell.array, np.eye(3) * 3.6)
    np.testing.assert_array_equal(bulk.forces, [[0.1, 0.2, 0.3], [-0.1, -0.2, -0.3], [0, 0, 0]])
    assert bulk.energy == -7.5
    assert bulk.weight == 2.0 and bulk.config_type == "fcc"
    # cluster: no cell -> not periodic; missing forces/stress are None, not zero
    assert not clu.periodic and not clu.atoms.pbc.any()
    assert clu.forces is None and clu.stress is None
    assert clu.energy == -1.25
    assert clu.weight == 1.0 and clu.config_type == "default"


def test_stress_units_gpa(tmp_path):
    ref = read_reference(write(tmp_path, GOOD))
    gpa = np.array([1.5, -2, 0.25, 0, 0.125, -0.5])
    np.testing.assert_allclose(ref[0].stress, gpa * GPA_TO_EV_A3, rtol=1e-15)
    assert abs(ref[0].stress[0] - 1.5 / 160.21766208) < 1e-9  # 1 eV/Å³ = 160.2 GPa
    out = tmp_path / "out.csv"
    write_reference(ref, out)
    lines = out.read_text().splitlines()
    header = lines[0].split(",")
    row = dict(zip(header, lines[1].split(","), strict=True))
    np.testing.assert_allclose([float(row[c]) for c in header[18:24]], gpa, rtol=1e-14)


def test_minimal_columns_and_missing_targets(tmp_path):
    ref = read_reference(write(tmp_path, "structure,species,x,y,z\na,Si,0,0,0\na,Si,1,1,1\n"))
    (s,) = ref
    assert s.energy is None and s.forces is None and s.stress is None
    assert not s.periodic
    # writing only emits columns that some structure has
    out = tmp_path / "out.csv"
    write_reference(ref, out)
    assert out.read_text().splitlines()[0] == "structure,species,x,y,z,weight,config_type"


def test_zero_forces_are_not_missing(tmp_path):
    text = "structure,species,x,y,z,fx,fy,fz\na,Si,0,0,0,0,0,0\nb,Si,0,0,0,,,\n"
    a, b = read_reference(write(tmp_path, text))
    np.testing.assert_array_equal(a.forces, np.zeros((1, 3)))
    assert b.forces is None


def test_triclinic_cell(tmp_path):
    cell = np.array([[3.0, 0.1, 0.0], [1.5, 2.6, 0.2], [0.7, 0.8, 2.9]])
    cols = ",".join(f"cell_{v}{c}" for v in "abc" for c in "xyz")
    vals = ",".join(repr(x) for x in cell.reshape(9).tolist())
    rows = f"tri,Si,0,0,0,-5,{vals}\ntri,Si,1,1,1,-5,{vals}\n"
    text = f"structure,species,x,y,z,energy,{cols}\n{rows}"
    (s,) = read_reference(write(tmp_path, text))
    np.testing.assert_array_equal(s.atoms.cell.array, cell)
    assert s.atoms.pbc.all()
    out = tmp_path / "tri.extxyz"
    write_reference(ReferenceSet([s]), out)
    (t,) = read_reference(out)
    np.testing.assert_array_equal(t.atoms.cell.array, cell)


def test_index_selects_structures(tmp_path):
    ref = read_reference(write(tmp_path, GOOD), index="-1")
    assert [s.name for s in ref] == ["clu"]


def test_header_case_and_whitespace(tmp_path):
    ref = read_reference(write(tmp_path, "Structure, Species ,X,Y,Z\n a ,Si, 0,0,0\n"))
    assert ref[0].name == "a"


# ----------------------------------------------------------------------------- binding curve


def test_binding_curve_with_species(tmp_path):
    text = "r,energy,species_a,species_b,weight\n2.0,-1.5,Cu,Ni,3\n2.5,-2.25,Cu,Cu,\n"
    a, b = read_reference(write(tmp_path, text, "curve.csv"))
    assert a.atoms.get_chemical_symbols() == ["Cu", "Ni"]
    np.testing.assert_array_equal(a.atoms.positions, [[0, 0, 0], [2.0, 0, 0]])
    assert a.energy == -1.5 and a.weight == 3.0 and a.config_type == "dimer"
    assert a.forces is None and a.stress is None and not a.periodic
    assert b.weight == 1.0 and b.atoms.get_distance(0, 1) == 2.5


def test_binding_curve_dimer_species_keyword(tmp_path):
    p = write(tmp_path, "r,energy\n2.2,-1.0\n", "curve.csv")
    (s,) = read_reference(p, dimer_species=("Si", "Si"))
    assert s.atoms.get_chemical_symbols() == ["Si", "Si"]
    with pytest.raises(GafitInputError, match="species_a,species_b"):
        read_reference(p)


def test_binding_curve_round_trip_through_csv(tmp_path):
    p = write(tmp_path, "r,energy,species_a,species_b\n2.0,-1.5,Cu,Ni\n", "curve.csv")
    ref = read_reference(p)
    out = tmp_path / "atoms.csv"
    write_reference(ref, out)
    assert_same(ref, read_reference(out))


# ---------------------------------------------------------------------------------- round trips


def test_round_trip_csv_extxyz_csv(tmp_path):
    ref = read_reference(write(tmp_path, GOOD))
    xyz = tmp_path / "ref.extxyz"
    write_reference(ref, xyz)
    ref2 = read_reference(xyz)
    assert_same(ref, ref2)
    csv2 = tmp_path / "again.csv"
    write_reference(ref2, csv2)
    assert_same(ref, read_reference(csv2))


def test_full_precision_csv(tmp_path):
    rng = np.random.default_rng(1)
    atoms = Atoms("CuNi", positions=rng.random((2, 3)), cell=rng.random((3, 3)) + np.eye(3) * 3)
    atoms.pbc = True
    s = Structure(
        atoms,
        energy=rng.random(),
        forces=rng.random((2, 3)),
        stress=rng.random(6),
        weight=0.1,
        config_type="odd, name",
        name='a "quoted", name',
    )
    out = tmp_path / "p.csv"
    write_reference(ReferenceSet([s]), out)
    assert_same(ReferenceSet([s]), read_reference(out))


def test_write_is_atomic(tmp_path, monkeypatch):
    out = write(tmp_path, "old content\n", "ref.extxyz")
    ref = read_reference(write(tmp_path, GOOD))

    def broken_write(filename, images, format):
        Path(filename).write_text("partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(ase_format.ase.io, "write", broken_write)
    with pytest.raises(RuntimeError):
        write_reference(ref, out)
    assert out.read_text() == "old content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "ref.extxyz"]


def test_write_rejects_unknown_suffix(tmp_path):
    ref = read_reference(write(tmp_path, GOOD))
    with pytest.raises(GafitInputError, match="out.traj"):
        write_reference(ref, tmp_path / "out.traj")


def test_write_csv_rejects_partial_pbc(tmp_path):
    atoms = Atoms("Si", cell=np.eye(3) * 4, pbc=[True, True, False])
    with pytest.raises(GafitInputError, match="extxyz"):
        write_reference(ReferenceSet([Structure(atoms, name="slab")]), tmp_path / "x.csv")


# ---------------------------------------------------------------------------------- ASE frames


def test_extxyz_missing_targets_and_info(tmp_path):
    a = Atoms("Si2", positions=[[0, 0, 0], [1, 1, 1]], cell=np.eye(3) * 5, pbc=True)
    a.info.update(config_type="bulk", weight=0.5, tag="x")
    b = Atoms("Si", pbc=False)
    p = tmp_path / "f.extxyz"
    ase.io.write(p, [a, b])
    s, t = read_reference(p)
    assert s.energy is None and s.forces is None and s.stress is None
    assert s.config_type == "bulk" and s.weight == 0.5 and s.info == {"tag": "x"}
    assert s.name == "f.extxyz:0" and t.name == "f.extxyz:1"
    assert t.config_type == "default" and t.weight == 1.0


def test_frame_targets_from_info_and_arrays():
    a = Atoms("Si2", positions=[[0, 0, 0], [1, 1, 1]], cell=np.eye(3) * 5, pbc=True)
    a.info["energy"] = -3.0
    a.info["stress"] = np.arange(9.0).reshape(3, 3)
    a.arrays["forces"] = np.ones((2, 3))
    s = frame_to_structure(a, "x:0")
    assert s.energy == -3.0
    np.testing.assert_array_equal(s.forces, np.ones((2, 3)))
    np.testing.assert_array_equal(s.stress, [0, 4, 8, 5, 2, 1])
    assert "forces" not in s.atoms.arrays and s.atoms.calc is None and s.info == {}


def test_ase_errors(tmp_path):
    with pytest.raises(GafitInputError, match="nope.extxyz: file not found"):
        read_reference(tmp_path / "nope.extxyz")
    bad = write(tmp_path, "2\nProperties=species:S:1:pos:R:3\nCu 0 0 0\nCu 0 0 x\n", "bad.extxyz")
    with pytest.raises(GafitInputError, match="bad.extxyz"):
        read_reference(bad)
    with pytest.raises(GafitInputError, match="weird.foo"):
        read_reference(write(tmp_path, "hello\n", "weird.foo"))
    with pytest.raises(GafitInputError, match="empty.extxyz"):
        read_reference(write(tmp_path, "", "empty.extxyz"))


def test_mlearn_cu():
    path = SHARED / "mlearn_Cu" / "Cu_test.extxyz"
    if not path.exists():
        pytest.skip(f"{path} not available")
    ref = read_reference(path)
    assert len(ref) == 31 and ref.n_atoms == 3178
    for s in ref:
        assert s.energy is not None and s.stress is not None
        assert s.forces is not None and s.forces.shape == (s.n_atoms, 3)
    assert ref[0].config_type == "Vacancy"


def test_gpuga_si():
    path = SHARED / "gpuga_Si_diamond" / "Si_gpuga_train.extxyz"
    if not path.exists():
        pytest.skip(f"{path} not available")
    ref = read_reference(path)
    assert len(ref) == 168
    for s in ref[:5]:
        assert s.energy is None and s.stress is None and s.forces is not None
    rest = ref.structures[5:]
    assert all(s.energy is not None and s.forces is None for s in rest)
    assert sum(s.stress is None for s in rest) == 4


# ------------------------------------------------------------------------------- error messages

H5 = "structure,species,x,y,z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # disagreeing per-structure value: line of the conflict, column, earlier line
        (
            "structure,species,x,y,z,energy\nb3,Si,0,0,0,-3.1\nb3,Si,1,1,1,-3.2\n",
            ["data.csv line 3, column 'energy'", "-3.2 here but -3.1 on line 2"],
        ),
        (
            "structure,species,x,y,z,energy\nb3,Si,0,0,0,-3.1\nb3,Si,1,1,1,\n",
            ["line 3, column 'energy'", "no value here but -3.1 on line 2"],
        ),
        (
            f"{H5},config_type\na,Si,0,0,0,x\na,Si,1,1,1,y\n",
            ["line 3, column 'config_type'"],
        ),
        ("structure,species,x,y\na,Si,0,0\n", ["data.csv line 1, column 'z'", "missing"]),
        (f"{H5},enrgy\na,Si,0,0,0,1\n", ["line 1, column 'enrgy'", "did you mean 'energy'"]),
        (f"{H5}\na,Si,0,abc,0\n", ["data.csv line 2, column 'y'", "'abc' is not a number"]),
        (f"{H5}\na,Si,0,0,0\na,Si,0,nan,0\n", ["line 3, column 'y'", "not a finite"]),
        (f"{H5}\na,Si,0,0,0\n\na,Si,0,inf,0\n", ["line 4, column 'y'", "not a finite"]),
        (f"{H5}\na,Qq,0,0,0\n", ["line 2, column 'species'", "unknown chemical symbol 'Qq'"]),
        (f"{H5}\na,si,0,0,0\n", ["line 2, column 'species'", "did you mean 'Si'"]),
        (f"{H5},fx,fy,fz\na,Si,0,0,0,1,,2\n", ["line 2, column 'fy'", "fx, fy, fz"]),
        (f"{H5},fx,fy\na,Si,0,0,0,1,1\n", ["line 1, column 'fz'"]),
        (
            f"{H5},fx,fy,fz\na,Si,0,0,0,1,1,1\na,Si,1,1,1,,,\n",
            ["line 3, column 'fx'", "structure 'a' has no forces here but has them on line 2"],
        ),
        (
            f"{H5},{','.join(f'cell_{v}{c}' for v in 'abc' for c in 'xyz')}\n"
            "a,Si,0,0,0,1,0,0,0,1,0,0,0,\n",
            ["line 2, column 'cell_cz'"],
        ),
        (
            f"{H5},{','.join(f'cell_{v}{c}' for v in 'abc' for c in 'xyz')}\n"
            "a,Si,0,0,0,1,0,0,2,0,0,0,0,1\n",
            ["line 2, column 'cell_ax'", "singular"],
        ),
        (
            f"{H5},stress_xx,stress_yy,stress_zz,stress_yz,stress_xz,stress_xy\n"
            "a,Si,0,0,0,1,1,1,0,0,\n",
            ["line 2, column 'stress_xy'"],
        ),
        (
            f"{H5},stress_xx,stress_yy,stress_zz,stress_yz,stress_xz,stress_xy\n"
            "a,Si,0,0,0,1,1,1,0,0,0\n",
            ["line 2, column 'stress_xx'", "no cell"],
        ),
        (f"{H5},weight\na,Si,0,0,0,-1\n", ["line 2, column 'weight'", ">= 0"]),
        (f"{H5},x\na,Si,0,0,0,0\n", ["data.csv line 1, column 'x'", "duplicate"]),
        (f"{H5}\n,Si,0,0,0\n", ["line 2, column 'structure'", "empty structure label"]),
        (f"{H5}\na,Si,0,0\n", ["data.csv line 2", "expected 5 values"]),
        ("", ["data.csv", "empty file"]),
        (f"{H5}\n", ["data.csv", "no data rows"]),
        ("r,energy,species_a,species_b\n0,-1,Si,Si\n", ["line 2, column 'r'", "> 0"]),
        ("r,energy,species_a,species_b\n-1.5,-1,Si,Si\n", ["line 2, column 'r'", "> 0"]),
        ("r,energy,species_a,species_b\n2,,Si,Si\n", ["line 2, column 'energy'"]),
        ("r,energy,species_a,species_b\n2,-1,Si,\n", ["line 2, column 'species_b'"]),
        ("r,energy,species_a\n2,-1,Si\n", ["line 1, column 'species_b'"]),
        ("r,energy,charge\n2,-1,0\n", ["line 1, column 'charge'", "unknown column"]),
    ],
)
def test_csv_errors(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(GafitInputError) as info:
        read_reference(path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    for part in expected:
        assert part in message
