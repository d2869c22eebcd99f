"""Degenerate structures, absurd cutoffs, wide text encodings and exact stresses (issue 11, classes 3,
5 and 8): each is a one-line GafitInputError naming the file and frame (or setting), or is handled.

Degenerate structures start as valid random structures (``strategies.reference_sets``) written by ASE,
with one frame made degenerate: no atoms, an atom doubled (closer than MIN_DISTANCE), a zero or
dependent cell vector along a periodic direction.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import reference_sets

from gafit.checks import check_data
from gafit.config import parse_config
from gafit.fitting import Fit
from gafit.forms import get_form
from gafit.geometry import neighbour_pairs, neighbours_per_atom
from gafit.io import read_reference
from gafit.io.ase_format import structure_to_atoms
from gafit.potential import Potential
from gafit.structures import (
    GPA_TO_EV_A3,
    MIN_DISTANCE,
    GafitInputError,
    ReferenceSet,
    Structure,
    _boxed,
)

SETTINGS = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))


def _frames(refset: ReferenceSet) -> list[Atoms]:
    return [structure_to_atoms(s, f"s{k}") for k, s in enumerate(refset)]


# ------------------------------------------------------------------------- degenerate structures


def _degrade(draw, atoms: Atoms) -> tuple[Atoms, str]:
    """``atoms`` made degenerate in one of several ways; the words the error must contain."""
    kinds = ["empty", "double"] + (["zero-cell", "flat-cell"] if atoms.pbc.any() else [])
    kind = draw(st.sampled_from(kinds))
    out = atoms.copy()
    out.calc = None
    if kind == "empty":
        return out[[]], "no atoms"
    if kind == "double":
        k = draw(st.integers(0, len(out) - 1))
        shift = np.array(draw(st.lists(st.floats(-0.05, 0.05), min_size=3, max_size=3)))
        extra = out[[k]]
        extra.positions += shift
        out += extra
        return out, f"atoms {k + 1} ({out[k].symbol}) and {len(out)} "
    ax = draw(st.sampled_from(list(np.flatnonzero(out.pbc))))
    cell = out.cell.array.copy()
    if kind == "zero-cell":
        cell[ax] = 0.0
        words = f"cell vector {'abc'[ax]} is zero"
    else:  # the vector along ax in the span of the other periodic ones, give or take 1e-9 Å
        others = [m for m in np.flatnonzero(out.pbc) if m != ax]
        cell[ax] = cell[others[0]] * draw(st.floats(0.3, 2)) + 1e-9
        if len(others) > 1:
            cell[ax] += cell[others[1]]
        words = "singular (flat)"
    out.set_cell(cell)
    return out, words


@SETTINGS
@given(data=st.data())
def test_degenerate_frame_is_an_error_naming_it(tmp_path_factory, data):
    frames = _frames(data.draw(reference_sets(partial_pbc=True)))
    k = data.draw(st.integers(0, len(frames) - 1))
    bad, words = _degrade(data.draw, frames[k])
    bad.info["name"] = "the bad one"
    frames[k] = bad
    path = tmp_path_factory.mktemp("deg") / "data.extxyz"
    ase.io.write(path, frames, format="extxyz")
    with pytest.raises(GafitInputError) as info:
        read_reference(path)
    message = str(info.value)
    assert "\n" not in message
    assert f"{path}: frame 'the bad one': " in message, message
    assert words in message, message


@pytest.mark.parametrize("text, words", [
    # two rows of one structure at the same point
    ("a,Cu,0,0,0,,,,,,,,,\na,Cu,0,0,0.05,,,,,,,,,\n", ["line 2: structure 'a'", "atoms 1 (Cu) and 2 (Cu)",
                                                        "0.05 Å apart"]),
    # atom 2 on the image of atom 1 through the cell vector a
    ("a,Cu,0,0,0,3,0,0,0,3,0,0,0,3\na,Cu,3,0,0,3,0,0,0,3,0,0,0,3\n",
     ["line 2: structure 'a'", "periodic images", "0 Å apart"]),
    # an atom on its own image: a cell vector shorter than MIN_DISTANCE, the others fine
    ("a,Cu,0,0,0,0.01,0,0,0,3,0,0,0,3\n", ["line 2, column 'cell_ax'", "singular (flat)"]),
    ("a,Cu,0,0,0,3,0,0,0,3,0,3,3,1e-9\n",
     ["line 2, column 'cell_ax'", "singular (flat)", "periodic direction c"]),
])
def test_degenerate_csv_names_line_and_structure(tmp_path, text, words):
    path = tmp_path / "data.csv"
    cells = ",".join(f"cell_{v}{c}" for v in "abc" for c in "xyz")
    path.write_text(f"structure,species,x,y,z,{cells}\n" + text)
    with pytest.raises(GafitInputError) as info:
        read_reference(path)
    for w in words:
        assert w in str(info.value), str(info.value)


def test_binding_curve_below_min_distance(tmp_path):
    path = tmp_path / "curve.csv"
    path.write_text(f"r,energy,species_a,species_b\n2.0,-1,Cu,Cu\n{MIN_DISTANCE / 2},-1,Cu,Cu\n")
    with pytest.raises(GafitInputError, match=r"curve.csv line 3, column 'r': the dimer's atoms 1"):
        read_reference(path)


def test_pbc_without_lattice_in_extxyz(tmp_path):
    path = tmp_path / "nolattice.extxyz"
    path.write_text('2\nProperties=species:S:1:pos:R:3 energy=-1.0 pbc="T T T"\n'
                    "Cu 0 0 0\nCu 1.8 1.8 0\n")
    with pytest.raises(GafitInputError, match=r"nolattice.extxyz:0': periodic along a .*Lattice="):
        read_reference(path)


def test_structure_api_refuses_coincident_atoms():
    with pytest.raises(GafitInputError, match=r"structure 'x': atoms 1 \(Cu\) and 2 \(Ag\) are 0 Å"):
        Structure(Atoms("CuAg", positions=[[1, 1, 1], [1, 1, 1]]), name="x")


def test_cli_reports_degenerate_frame(tmp_path):
    frames = [bulk("Cu", "fcc", a=3.6, cubic=True), Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 0]])]
    for a in frames:
        a.calc = SinglePointCalculator(a, energy=-1.0)
    path = tmp_path / "two.extxyz"
    ase.io.write(path, frames)
    for cmd in (["check", str(path)], ["convert", str(path), str(tmp_path / "out.csv")]):
        run = subprocess.run([sys.executable, "-m", "gafit.cli", *cmd], capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 2, run.stderr
        assert run.stderr.startswith("gafit: error: ") and "Traceback" not in run.stderr
        assert "two.extxyz:1': atoms 1 (Cu) and 2 (Cu) are 0 Å apart" in run.stderr


# ------------------------------------------------------------------------- far-apart clusters


@pytest.mark.parametrize("far", [1e3, 1e9, 1e15])
def test_far_apart_cluster_is_computed_exactly_and_cheaply(far):
    near = Atoms("Cu3", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.4, 0.3]])
    whole = near + Atoms("Cu2", positions=[[far, -far, 0.5 * far], [far + 2.3, -far, 0.5 * far]])
    t0 = time.perf_counter()
    boxed = _boxed(whole, 6.0)
    assert boxed.cell.lengths().max() < 50  # the gap is closed: no far-reaching box to bin
    form = get_form("morse")(["Cu"], 6.0)
    pot = Potential(["Cu"], [form], np.array([0.4, 1.4, 2.6, -0.1]))
    theta = pot.values[None]
    got = pot.evaluate(theta, pot.build_tables(ReferenceSet([Structure(whole)])))
    apart = pot.evaluate(theta, pot.build_tables(ReferenceSet([Structure(near), Structure(whole[3:])])))
    assert time.perf_counter() - t0 < 10
    assert got.energy[0, 0] == pytest.approx(apart.energy[0].sum(), rel=1e-12)
    np.testing.assert_allclose(got.forces, apart.forces, atol=1e-12)


def test_slab_with_a_far_atom_keeps_its_pairs():
    slab = fcc111("Cu", size=(2, 2, 3), vacuum=5.0)
    slab.pbc = (True, True, False)
    lone = slab + Atoms("Cu", positions=[[0, 0, 1e9]])
    base = neighbour_pairs(ReferenceSet([Structure(slab)]), 5.0, half=True)
    far = neighbour_pairs(ReferenceSet([Structure(lone)]), 5.0, half=True)
    assert len(base.r_p) == len(far.r_p)
    np.testing.assert_allclose(np.sort(base.r_p), np.sort(far.r_p), rtol=1e-12)


# ------------------------------------------------------------------------- absurd cutoffs


@pytest.mark.parametrize("atoms, cutoff", [
    (bulk("Cu", "fcc", a=3.6), 6.0),
    (bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2), 9.0),
    (bulk("Si", "diamond", a=5.43), 12.0),
])
def test_neighbour_estimate_is_close_to_the_count(atoms, cutoff):
    count = len(neighbour_pairs(ReferenceSet([Structure(atoms)]), cutoff, half=False).r_p)
    estimate = len(atoms) * neighbours_per_atom(atoms, cutoff)
    assert 0.7 < estimate / count < 1.5


def _config(tmp_path: Path, data: Path, cutoff: str) -> dict:
    return {"data": {"train": str(data)},
            "potential": {"form": "morse", "species": ["Cu"], "cutoff": float(cutoff)},
            "ga": {"population": 4, "generations": 1, "seed": 1}}


@pytest.mark.parametrize("cutoff", ["1000", "1e308"])
def test_absurd_cutoff_is_refused_naming_the_setting(tmp_path, cutoff):
    frames = [bulk("Cu", "fcc", a=3.6 * s) for s in (0.98, 1.0, 1.02)]
    for a in frames:
        a.calc = SinglePointCalculator(a, energy=-3.0)
    data = tmp_path / "cu.extxyz"
    ase.io.write(data, frames)
    config = parse_config(_config(tmp_path, data, cutoff))
    t0 = time.perf_counter()
    with pytest.raises(GafitInputError, match=r"^\[potential\] cutoff = .* Å is far too long .* neighbour "
                                              r"pairs .* GB of neighbour tables"):
        Fit.from_config(config).run(tmp_path / "run", quiet=True)
    assert time.perf_counter() - t0 < 30
    with pytest.raises(GafitInputError, match=r"^cutoff = .* far too long"):
        check_data(read_reference(data), cutoff=float(cutoff))


def test_tersoff_file_with_huge_r_is_refused(tmp_path):
    line = ("Si Si Si 3.0 1.0 1.7322 100390 16.218 -0.59826 0.78734 1.0999e-6 1.7322 471.18 {R} 0.15 "
            "2.4799 1830.8\n")
    (tmp_path / "si.tersoff").write_text(line.format(R=1000.0))
    si = bulk("Si", "diamond", a=5.43)
    si.calc = SinglePointCalculator(si, energy=-10.0)
    ase.io.write(tmp_path / "si.extxyz", si)
    run = subprocess.run([sys.executable, "-m", "gafit.cli", "evaluate", str(tmp_path / "si.tersoff"),
                          str(tmp_path / "si.extxyz")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr
    assert re.match(r"gafit: error: tersoff cutoff \(the largest R \+ D\) = 1000.15 Å is far too long",
                    run.stderr), run.stderr


def test_tersoff_bounds_that_set_the_cutoff_are_named(tmp_path):
    si = bulk("Si", "diamond", a=5.43)
    si.calc = SinglePointCalculator(si, energy=-10.0)
    ase.io.write(tmp_path / "si.extxyz", si)
    table = {"data": {"train": str(tmp_path / "si.extxyz")},
             "potential": {"form": "tersoff", "species": ["Si"],
                           "parameters": {"Si-Si-Si.R": [2.5, 500.0], "Si-Si-Si.D": [0.1, 0.3]}},
             "ga": {"population": 4, "generations": 1, "seed": 1}}
    with pytest.raises(GafitInputError, match=r"^Si-Si-Si.R \+ Si-Si-Si.D \(from \[potential.parameters\]"):
        Fit.from_config(parse_config(table)).run(tmp_path / "run", quiet=True)


# ------------------------------------------------------------------------- text encodings


@pytest.mark.parametrize("encoding, words", [("utf-16-le", "UTF-16 little-endian"),
                                             ("utf-16-be", "UTF-16 big-endian"),
                                             ("utf-16", "byte-order mark")])
@pytest.mark.parametrize("suffix", [".csv", ".extxyz"])
def test_wide_encodings_are_named(tmp_path, encoding, words, suffix):
    text = ("structure,species,x,y,z,energy\na,Cu,0,0,0,-1\n" if suffix == ".csv" else
            '1\nProperties=species:S:1:pos:R:3 energy=-1.0 pbc="F F F"\nCu 0 0 0\n')
    path = tmp_path / f"data{suffix}"
    path.write_bytes(text.encode(encoding))
    with pytest.raises(GafitInputError) as info:
        read_reference(path)
    assert str(info.value).startswith(f"{path}: not UTF-8 text: looks like ")
    assert words in str(info.value)


# ------------------------------------------------------------------------- exact stresses


def _emt_set(cells: list[np.ndarray], base: Atoms, offset_gpa: float = 0.0) -> ReferenceSet:
    out = []
    for k, cell in enumerate(cells):
        a = base.copy()
        a.set_cell(cell, scale_atoms=True)
        a.calc = EMT()
        stress = a.get_stress() + offset_gpa * GPA_TO_EV_A3 * np.array([1, 1, 1, 0, 0, 0])
        out.append(Structure(a.copy(), energy=a.get_potential_energy(), forces=a.get_forces(),
                             stress=stress, name=f"emt.extxyz:{k}"))
    return ReferenceSet(out, "emt.extxyz")


def _stress_warnings(refset: ReferenceSet) -> list[str]:
    return [f.message for f in check_data(refset) if f.check == "stress" and f.severity == "warning"]


@pytest.mark.parametrize("seed, sigma", [(0, 0.03), (1, 0.05), (2, 0.05), (3, 0.04)])
def test_exact_emt_stresses_under_large_strains_raise_no_warning(seed, sigma):
    """Random strains of a few %: the energy changes follow from the stresses only to third order in
    the strain step, which must not pass for a Pulay offset or a wrong unit."""
    rng = np.random.default_rng(seed)
    base = bulk("Cu", "fcc", a=3.6)
    cells = []
    for _ in range(7):
        e = rng.normal(0, sigma, (3, 3))
        cells.append(base.cell.array @ (np.eye(3) + (e + e.T) / 2))
    assert _stress_warnings(_emt_set(cells, base)) == []


@pytest.mark.parametrize("offset", [0.0, 2.0, -1.5])
def test_eos_with_3_percent_volume_steps(offset):
    base = bulk("Cu", "fcc", a=3.6, cubic=True)
    cells = [base.cell.array * (1 + 0.03 * k) ** (1 / 3) for k in range(-4, 5)]
    found = _stress_warnings(_emt_set(cells, base, offset))
    if offset == 0.0:
        assert found == []
    else:
        assert len(found) == 1, found
        got = float(re.search(r"offset by ([-+0-9.]+) GPa", found[0]).group(1))
        assert got == pytest.approx(offset, abs=0.3), found
