"""Reference values derived from DFT frames (gafit.frame_reference): synthetic frames made from Tersoff
1988 Si give back the elastic constants and equation of state `gafit properties` computes for it, and
bad frame sets or config tables fail in one line naming the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from helpers import SI_TERSOFF

from gafit import properties
from gafit.config import config_table, parse_config
from gafit.frame_reference import (
    derive_from_frames,
    elastic_from_frames,
    eos_from_frames,
    lagrangian_strain,
)
from gafit.potential import Potential
from gafit.potential_files import load_potential
from gafit.properties import _voigt_strain
from gafit.structures import GafitInputError

#: strains of the synthetic frames (Lagrangian size of each mode, ±)
SIZES = (0.01, 0.02)


def si() -> Potential:
    return load_potential(SI_TERSOFF)


def relaxed_cell(pot: Potential) -> Atoms:
    """Tersoff Si's conventional diamond cell at zero stress (8 atoms, cube along x, y, z)."""
    cell, _ = properties.lattice_constant(pot, Atoms("Si2", scaled_positions=[[0, 0, 0], [0.25] * 3],
                                                     cell=[[0, 2.715, 2.715], [2.715, 0, 2.715],
                                                           [2.715, 2.715, 0]], pbc=True))
    return cell


def labelled(pot: Potential, atoms: Atoms, config_type: str) -> Atoms:
    """``atoms`` with the potential's energy, forces and stress as DFT-like labels."""
    e, f, s = properties._predict(pot, [atoms])
    out = atoms.copy()
    out.calc = SinglePointCalculator(out, energy=float(e[0]), forces=f[0], stress=s[0])
    out.info["config_type"] = config_type
    return out


def strained(ref: Atoms, j: int, size: float) -> Atoms:
    """``ref`` strained in Voigt mode j: normal modes by the symmetric stretch, shear modes by a simple
    shear (F = I + 2 size e_a ⊗ e_b, which carries a rotation, as mlearn's sheared cells do)."""
    if j < 3:
        f = np.eye(3) + _voigt_strain(j, size)
    else:
        a, b = ((1, 2), (0, 2), (0, 1))[j - 3]
        f = np.eye(3)
        f[a, b] = 2 * size
    img = ref.copy()
    img.set_cell(np.array(ref.cell) @ f.T, scale_atoms=True)
    return img


def elastic_frames(pot: Potential, relax: bool, modes: range = range(6)) -> list[Atoms]:
    ref = relaxed_cell(pot)
    frames = [labelled(pot, ref, "Elastic")]
    for j in modes:
        for size in SIZES:
            for sign in (1, -1):
                img = strained(ref, j, sign * size)
                if relax:
                    img = properties.relax_positions(pot, img)
                frames.append(labelled(pot, img, "Elastic"))
    return frames


def write(path: Path, frames: list[Atoms]) -> Path:
    ase.io.write(path, frames, format="extxyz")
    return path


@pytest.fixture(scope="module")
def expected() -> dict[str, float]:
    """`gafit properties`' elastic constants of Tersoff Si (relaxed cell, central differences at
    ±0.001: their O(strain²) error is 1/25 of the 2e-4 they change by from ±0.005, below 1e-5)."""
    pot = si()
    return properties.elastic_constants_cubic(pot, relaxed_cell(pot), strain=0.001)


@pytest.fixture(scope="module")
def clamped_file(tmp_path_factory) -> Path:
    """Homogeneously strained frames (forces on the atoms in the shears) plus unrelated MD frames."""
    pot = si()
    md = relaxed_cell(pot).repeat((1, 1, 2))
    md.rattle(0.05, seed=1)
    frames = elastic_frames(pot, relax=False) + [labelled(pot, md, "MD")]
    return write(tmp_path_factory.mktemp("frames") / "si.extxyz", frames)


# Tolerance of the recovered constants: the frames hold two strain sizes per mode (0.01, 0.02), so the
# fit takes the energy to 4th order in η and errs by O(η⁴) (~1e-6 relative); the reference's own
# error is below 1e-5 (above). 1e-4 leaves room for both and catches any O(η²) slip (3e-3 here).
RTOL = 1e-4


def test_clamped_ion_frames_give_c11_c12_and_c44_unrelaxed(clamped_file: Path, expected) -> None:
    ref = elastic_from_frames(clamped_file, "Elastic")
    assert set(ref.values) == {"C11", "C12", "C44_unrelaxed"}
    for key in ref.values:
        assert ref.values[key] == pytest.approx(expected[key], rel=RTOL), key
    assert ref.n_frames == 24
    assert ref.scatter < 1e-3  # GPa: noise-free frames leave the 5th-order term
    assert "order 4" in ref.method
    assert "clamped-ion shears" in ref.describe()
    assert ref.citation() == f"derived from DFT frames {clamped_file} (config_type Elastic)"


def test_one_strain_size_fits_to_third_order(clamped_file: Path, expected) -> None:
    """With only the ±0.01 frames η and η³ cannot be told apart: the fit stops at 3rd order and errs
    by O(η²) (a few 1e-3), more than with both sizes."""
    both = elastic_from_frames(clamped_file, "Elastic").values
    narrow = elastic_from_frames(clamped_file, "Elastic", max_strain=0.011)
    assert "order 3" in narrow.method and narrow.n_frames == 12
    for key in ("C11", "C12", "C44_unrelaxed"):
        assert narrow.values[key] == pytest.approx(expected[key], rel=5e-3), key
        assert abs(narrow.values[key] - expected[key]) > abs(both[key] - expected[key]), key


def test_relaxed_ion_frames_give_the_relaxed_c44(tmp_path: Path, expected) -> None:
    pot = si()
    path = write(tmp_path / "relaxed.extxyz", elastic_frames(pot, relax=True, modes=range(0, 6, 3)))
    ref = elastic_from_frames(path)
    assert set(ref.values) == {"C11", "C12", "C44"}
    for key in ref.values:  # both sides relax the atoms by BFGS to 1e-5 eV/Å
        assert ref.values[key] == pytest.approx(expected[key], rel=1e-3), key
    # diamond's internal relaxation softens C44 several-fold: the two are not confused
    assert ref.values["C44"] < 0.5 * expected["C44_unrelaxed"]


def test_lagrangian_strain_ignores_rotations() -> None:
    rng = np.random.default_rng(0)
    cell = 5.4 * np.eye(3)
    u = np.eye(3) + 0.01 * (lambda m: m + m.T)(rng.standard_normal((3, 3)))
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    q *= np.sign(np.linalg.det(q))
    _, eta_u = lagrangian_strain(cell, cell @ u.T)
    _, eta_ru = lagrangian_strain(cell, cell @ (q @ u).T)
    assert eta_ru == pytest.approx(eta_u, abs=1e-12)


def test_eos_frames_give_a_e_and_b(tmp_path: Path) -> None:
    pot = si()
    cell = relaxed_cell(pot)
    frames = [labelled(pot, cell.copy(), "EV") for _ in range(11)]
    for img, x in zip(frames, np.linspace(-0.05, 0.05, 11), strict=True):
        img.set_cell(np.array(cell.cell) * (1 + x) ** (1 / 3), scale_atoms=True)
    frames = [labelled(pot, img, "EV") for img in frames]
    path = write(tmp_path / "ev.extxyz", frames)
    ref = eos_from_frames(path)
    eos = properties.equation_of_state(pot, cell)
    assert ref.values["a"] == pytest.approx(cell.cell[0, 0], rel=1e-5)
    assert ref.values["E"] == pytest.approx(eos.energy, rel=1e-6)
    assert ref.values["B"] == pytest.approx(eos.bulk_modulus, rel=1e-3)
    assert derive_from_frames(path).values == ref.values  # uniform scalings: the EOS


def test_cu_ev_curve_matches_its_provenance() -> None:
    """phonopy's Cu E-V data: PROVENANCE.md's own ase.eos fit of e-v.dat gives a0 = 3.5670 Å and
    B0 = 167 GPa."""
    from helpers import shared_file

    ref = eos_from_frames(shared_file("phonopy_Cu_EV_PBEsol/Cu_EV_PBEsol.extxyz"))
    assert ref.values["a"] == pytest.approx(3.5670, abs=5e-4)
    assert ref.values["B"] == pytest.approx(167, abs=0.5)


def one_line(err: pytest.ExceptionInfo, *parts: str) -> None:
    text = str(err.value)
    assert "\n" not in text
    for part in parts:
        assert part in text, (part, text)


def test_bad_frame_sets(tmp_path: Path, clamped_file: Path) -> None:
    pot = si()
    with pytest.raises(GafitInputError) as err:
        elastic_from_frames(clamped_file, "Elastc")
    one_line(err, str(clamped_file), "no frames with config_type 'Elastc'", "Elastic, MD")
    normal_only = write(tmp_path / "normal.extxyz", elastic_frames(pot, relax=False, modes=range(3)))
    with pytest.raises(GafitInputError) as err:
        elastic_from_frames(normal_only)
    one_line(err, str(normal_only), "no shear")
    with pytest.raises(GafitInputError) as err:
        elastic_from_frames(clamped_file, "Elastic", max_strain=0.005)
    one_line(err, "the smallest strain there is 0.00995")
    frames = elastic_frames(pot, relax=False, modes=range(3, 4))
    no_stress = []
    for a in frames:
        b = a.copy()
        b.calc = SinglePointCalculator(b, energy=a.get_potential_energy(), forces=a.get_forces())
        no_stress.append(b)
    path = write(tmp_path / "nostress.extxyz", no_stress)
    with pytest.raises(GafitInputError) as err:
        elastic_from_frames(path)
    one_line(err, str(path), "has no stress")
    moved = elastic_frames(pot, relax=False)
    for a in moved[1:]:
        a.positions[0] += 0.05  # neither relaxed nor homogeneous
        a.calc = SinglePointCalculator(a, **{k: a.calc.results[k] for k in ("energy", "forces",
                                                                              "stress")})
    path = write(tmp_path / "moved.extxyz", moved)
    with pytest.raises(GafitInputError) as err:
        elastic_from_frames(path)
    one_line(err, str(path), "neither relaxed-ion", "nor homogeneously strained")
    tilted = relaxed_cell(pot)
    tilted.set_cell(np.array(tilted.cell) @ (np.eye(3) + _voigt_strain(3, 0.03)).T, scale_atoms=True)
    path = write(tmp_path / "tilted.extxyz", [labelled(pot, tilted, "E")])
    with pytest.raises(GafitInputError) as err:
        elastic_from_frames(path)
    one_line(err, str(path), "not a cube along x, y, z")


def test_bad_eos_frame_sets(tmp_path: Path) -> None:
    pot = si()
    cell = relaxed_cell(pot)
    frames = []
    for s in np.linspace(0.98, 1.02, 6):
        img = cell.copy()
        img.set_cell(np.array(cell.cell) * s, scale_atoms=True)
        frames.append(labelled(pot, img, "EV"))
    path = write(tmp_path / "few.extxyz", frames[:4])
    with pytest.raises(GafitInputError) as err:
        eos_from_frames(path)
    one_line(err, str(path), "4 frames", "at least 5")
    frames[3] = labelled(pot, strained(frames[3], 0, 0.01), "EV")
    path = write(tmp_path / "sheared.extxyz", frames)
    with pytest.raises(GafitInputError) as err:
        eos_from_frames(path)
    one_line(err, str(path), "is not a uniform scaling")


def properties_entry(**reference) -> dict:
    return {"property": "C44_unrelaxed", "reference": reference, "tolerance": 5.0,
            "structure": "diamond", "species": ["Si"], "a": 5.43}


def test_config_reference_table(tmp_path: Path, clamped_file: Path, capsys) -> None:
    """reference = {frames, config_type} is derived when the config is read (said on stderr), relative
    to the config's folder; the citation says where it came from, and a checkpoint keeps the number."""
    source = clamped_file.parent / "fit.toml"
    entry = properties_entry(frames=clamped_file.name, config_type="Elastic")
    entry["citation"] = "PBE"
    config = parse_config({"data": {"train": str(clamped_file)}, "properties": [entry]}, source)
    target = config.properties[0]
    expected = elastic_from_frames(clamped_file, "Elastic").values["C44_unrelaxed"]
    assert target.reference == pytest.approx(expected, rel=1e-12)
    assert target.citation.startswith(f"PBE; derived from DFT frames {clamped_file.name} "
                                      "(config_type Elastic): 24 frames")
    assert "C44_unrelaxed: reference" in capsys.readouterr().err
    assert parse_config(config_table(config)).properties == config.properties


@pytest.mark.parametrize("reference, prop, message", [
    ({"frames": "si.extxyz", "config": "Elastic"}, "C11", "config"),
    ({"config_type": "Elastic"}, "C11", "needs frames"),
    ({"frames": "nowhere.extxyz"}, "C11", "no such file"),
    ({"frames": "si.extxyz", "config_type": "Elastic"}, "C44", 'use property = "C44_unrelaxed"'),
    ({"frames": "si.extxyz", "config_type": "Elastic"}, "E_coh", "cannot be derived from frames"),
    ({"frames": "si.extxyz", "config_type": "Elastic"}, "a", "not a uniform scaling"),
    ({"frames": "si.extxyz", "config_type": "Elastic", "max_strain": 0.001}, "C11",
     "the smallest strain there is 0.00995"),
])
def test_config_reference_table_errors(clamped_file: Path, reference: dict, prop: str,
                                       message: str) -> None:
    source = clamped_file.parent / "fit.toml"
    entry = properties_entry(**reference)
    entry["property"] = prop
    with pytest.raises(GafitInputError) as err:
        parse_config({"data": {"train": str(clamped_file)}, "properties": [entry]}, source)
    one_line(err, str(source), "[[properties]] #1 reference", message)


def gafit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gafit.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=os.environ.copy(), timeout=300)


def test_cli_from_frames(clamped_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "derived.json"
    run = gafit("properties", "--from-frames", str(clamped_file), "--config-type", "Elastic",
                "--out", str(out), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    values = elastic_from_frames(clamped_file, "Elastic").values
    assert f"C44_unrelaxed = {values['C44_unrelaxed']:.5g}" in run.stdout
    assert json.loads(out.read_text())["values"] == pytest.approx(values)
    # with a potential: the derived values are the reference column
    run = gafit("properties", str(SI_TERSOFF), "--structure", "diamond", "--from-frames",
                str(clamped_file), "--config-type", "Elastic", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    row = next(line for line in run.stdout.splitlines() if line.startswith("C11 "))
    assert f"{values['C11']:.5g}"[:5] in row
    run = gafit("properties", "--from-frames", str(clamped_file), "--config-type", "Elast",
                cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"gafit: error: {clamped_file}: no frames with config_type 'Elast' (config types there: "
        "Elastic, MD)"]
    run = gafit("properties", cwd=tmp_path)
    assert run.returncode == 2 and "POTENTIAL is required" in run.stderr
