"""The E–V and melt–quench checks of `gafit validate`: E(V) against frames of one crystal scaled
uniformly (RMS after a constant shift), g(r) and coordination numbers (diamond: its neighbour shells,
four neighbours), melt-quench in LAMMPS with the exported files, summary.png, and bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from test_validate import TERSOFF, write

from gafit.cli import main
from gafit.ev_curve import compare_ev, uniform_scaling
from gafit.melt_quench import MeltQuenchSettings, coordination, melt_quench, rdf
from gafit.potential import Potential
from gafit.potential_files import load_potential
from gafit.structures import GafitInputError
from gafit.validate import load_suite

A_SI = 5.431
SCALES = np.linspace(0.96, 1.04, 9)  # linear scale factors


def lammps_energies(potential: Potential, frames: list, tmp: Path) -> np.ndarray:
    """Energies (eV) of ``frames`` by LAMMPS with the exported files: the judge, not gafit's code."""
    from gafit.lammps.files import write_lammps
    from gafit.lammps.runner import lammps_compute

    pair = write_lammps(potential, tmp)
    return np.array([lammps_compute(f, potential.species, [f"include {pair.name}"], tmp)[0]
                     for f in frames])


def dft_like_frames(tmp: Path, offset: float, bump: np.ndarray | None = None) -> list:
    """Diamond Si at SCALES with Tersoff's LAMMPS energies + ``offset`` (+ ``bump``) eV/atom."""
    pot = load_potential(TERSOFF)
    frames = []
    for s in SCALES:
        at = bulk("Si", "diamond", a=A_SI, cubic=True)
        at.set_cell(at.cell * s, scale_atoms=True)
        frames.append(at)
    e = lammps_energies(pot, frames, tmp)
    extra = np.zeros(len(frames)) if bump is None else bump
    for f, ek, xk in zip(frames, e, extra, strict=True):
        f.calc = SinglePointCalculator(f, energy=float(ek) + (offset + xk) * len(f))
    return frames


# --------------------------------------------------------------------------- structure analysis


def test_rdf_of_diamond_has_its_peaks_at_the_neighbour_shells() -> None:
    atoms = bulk("Si", "diamond", a=A_SI, cubic=True).repeat(2)
    r_b, g_b = rdf([atoms], 6.0, 600)
    shells = A_SI * np.sqrt(np.array([3, 8, 11, 16, 19]) / 16)  # the shells of diamond below 6 Å
    width = 6.0 / 600
    occupied = r_b[g_b > 0]
    assert all(np.min(np.abs(shells - r)) < width for r in occupied)
    assert all(np.min(np.abs(occupied - s)) < width for s in shells)
    # rho g(r) summed over the bins' shell volumes up to between the shells counts the neighbours:
    # 4, then 4 + 12
    rho = len(atoms) / atoms.get_volume()
    lo, hi = r_b - width / 2, r_b + width / 2
    counts = np.cumsum(rho * g_b * 4 / 3 * np.pi * (hi**3 - lo**3))
    assert counts[np.searchsorted(r_b, 2.85)] == pytest.approx(4.0, rel=1e-9)
    assert counts[np.searchsorted(r_b, 4.0)] == pytest.approx(16.0, rel=1e-9)


def test_coordination_of_diamond_and_fcc() -> None:
    diamond = bulk("Si", "diamond", a=A_SI)
    assert coordination(diamond, 2.85).tolist() == [4, 4]
    assert coordination(diamond, 4.0).tolist() == [16, 16]
    fcc = bulk("Cu", "fcc", a=3.61, cubic=True)
    assert set(coordination(fcc, 3.0).tolist()) == {12}


# --------------------------------------------------------------------------- E(V)


def test_ev_of_a_shifted_curve_has_no_error(tmp_path: Path, lammps_available: None) -> None:
    frames = dft_like_frames(tmp_path, offset=-5.0)
    ev = compare_ev(load_potential(TERSOFF), frames, "test")
    assert ev.shift == pytest.approx(-5.0, abs=1e-7)
    assert ev.rms < 1e-7
    assert ev.eos_potential["a0"] == pytest.approx(ev.eos_dft["a0"], rel=1e-6)
    assert ev.eos_potential["B"] == pytest.approx(ev.eos_dft["B"], rel=1e-5)
    # Tersoff (1988) Si(B): a0 = 5.432 Å, B = 98 GPa (Phys. Rev. B 38, 9902, Table I)
    assert ev.eos_dft["a0"] == pytest.approx(5.432, abs=0.003)
    assert ev.eos_dft["B"] == pytest.approx(98.0, rel=0.03)


def test_ev_rms_is_what_remains_after_the_best_shift(tmp_path: Path, lammps_available: None) -> None:
    bump = 0.004 * np.array([1, -1, 1, -1, 0, 1, -1, 1, -1])  # zero mean: the shift does not absorb it
    frames = dft_like_frames(tmp_path, offset=1.5, bump=bump)
    ev = compare_ev(load_potential(TERSOFF), frames, "test")
    assert ev.shift == pytest.approx(1.5, abs=1e-7)
    assert ev.rms == pytest.approx(float(np.sqrt(np.mean(bump**2))), rel=1e-6)


def test_frames_not_scaled_uniformly_are_an_error() -> None:
    frames = [bulk("Si", "diamond", a=A_SI * s, cubic=True) for s in SCALES[:6]]
    uniform_scaling(frames, "x")
    strained = frames[3].copy()
    strained.set_cell(strained.cell * [1.01, 1.0, 1.0], scale_atoms=True)
    with pytest.raises(GafitInputError, match="where: frame 3 is not frame 0 scaled uniformly"):
        uniform_scaling(frames[:3] + [strained] + frames[4:], "where")
    moved = frames[2].copy()
    moved.positions[0] += 0.05
    with pytest.raises(GafitInputError, match="frame 2 is not"):
        uniform_scaling(frames[:2] + [moved] + frames[3:], "where")
    with pytest.raises(GafitInputError, match="3 frames; an E–V curve needs at least 5"):
        uniform_scaling(frames[:3], "where")


# --------------------------------------------------------------------------- melt-quench


def test_melt_quench_short_run(lammps_available: None) -> None:
    """A few hundred steps: too short to melt (so it says so), but the stages, samples and structure
    analysis of the anneal are all there; a crystal barely warmed keeps four neighbours."""
    settings = MeltQuenchSettings(melt_temperature=600.0, melt_time=0.2, quench_time=0.1,
                                  anneal_time=0.1, supercell=(3, 3, 3), sample_steps=25)
    samples = []
    res = melt_quench(load_potential(TERSOFF), bulk("Si", "diamond", a=A_SI), settings,
                      lambda s, total: samples.append((s.ensemble, s.step, total)))
    assert res.n_atoms == 54 and res.steps_done == 400 and res.frames == 4
    assert [e for e, _, _ in samples] == ["melt"] * 8 + ["quench"] * 4 + ["anneal"] * 4
    assert {t for _, _, t in samples} == {400}
    assert res.lost_atoms == 0 and res.error is None
    assert any(f.startswith("did not melt") for f in res.failures)
    assert res.coordination_mean == 4.0 and res.fourfold == 1.0
    r_peak = res.r[int(np.argmax(res.g))]
    assert abs(r_peak - A_SI * math.sqrt(3) / 4) < 0.1


def test_melt_quench_same_seed_same_result(lammps_available: None) -> None:
    settings = MeltQuenchSettings(melt_temperature=3500.0, melt_time=0.1, quench_time=0.05,
                                  anneal_time=0.05, supercell=(2, 2, 2), sample_steps=25)
    runs = [melt_quench(load_potential(TERSOFF), bulk("Si", "diamond", a=A_SI), settings) for _ in range(2)]
    assert runs[0].g == runs[1].g and runs[0].melt_msd == runs[1].melt_msd


@pytest.mark.parametrize(("change", "key"), [({"melt_temperature": 200.0}, "must be above"),
                                             ({"cutoff": 7.0}, "must be below r_max"),
                                             ({"quench_time": 0.0}, "quench_time"),
                                             ({"seed": 0}, "seed"),
                                             ({"supercell": (2, 2)}, "supercell")])
def test_bad_melt_quench_settings(change: dict, key: str) -> None:
    settings = MeltQuenchSettings(**({"melt_temperature": 3000.0, "melt_time": 1.0, "quench_time": 1.0}
                                     | change))
    with pytest.raises(GafitInputError, match=key):
        settings.check()


# --------------------------------------------------------------------------- in a suite

SUITE = """\
[suite]
name = "ev and melt-quench"

[[check]]
name = "E-V"
quantity = "ev"
reference = "frames.extxyz"
abs_tol = {abs_tol}
a_rel_tol = 0.01
B_rel_tol = 0.1

[[check]]
name = "mq"
quantity = "melt_quench"
structure = "diamond"
species = ["Si"]
a = 5.431
supercell = [2, 2, 2]
melt_temperature = 600.0
melt_time = 0.1
quench_time = 0.05
anneal_time = 0.05
cutoff = 2.85
reference = 4.0
abs_tol = 0.1
"""


def test_suite_with_ev_and_melt_quench(tmp_path: Path, lammps_available: None) -> None:
    bump = 0.004 * np.array([1, -1, 1, -1, 0, 1, -1, 1, -1])
    ase.io.write(tmp_path / "frames.extxyz", dft_like_frames(tmp_path, offset=-1.0, bump=bump))
    out = tmp_path / "v"
    suite = write(tmp_path, SUITE.format(abs_tol=0.005))
    assert main(["validate", str(TERSOFF), "--suite", str(suite), "--out", str(out), "--quiet"]) == 1
    doc = json.loads((out / "validate.json").read_text(encoding="utf-8"))
    ev, mq = doc["checks"][0], doc["checks"][1]
    assert ev["status"] == "pass" and ev["value"] == pytest.approx(0.004 * math.sqrt(8 / 9), rel=1e-6)
    assert (out / "ev" / "E-V.png").is_file() and "ev/E-V.png" in (out / "index.html").read_text("utf-8")
    assert mq["status"] == "FAIL" and "did not melt" in mq["note"]
    assert (out / "summary.png").stat().st_size > 10_000
    # wall-clock seconds apart from the checks: two runs of one suite give the same checks
    assert set(doc["seconds"]) == {"E-V", "mq"}  # the suite's checks (the wall rows are not timed)
    assert all("seconds" not in c and "seconds" not in c["details"] for c in doc["checks"])
    # the same bump beyond a tighter tolerance fails
    out2 = tmp_path / "v2"
    suite2 = write(tmp_path, SUITE.format(abs_tol=0.003), "suite2.toml")
    main(["validate", str(TERSOFF), "--suite", str(suite2), "--out", str(out2), "--quiet"])
    doc2 = json.loads((out2 / "validate.json").read_text(encoding="utf-8"))
    assert doc2["checks"][0]["status"] == "FAIL" and "RMS" in doc2["checks"][0]["note"]


def test_absent_ev_data_is_skipped(tmp_path: Path) -> None:
    from gafit.validate import run_suite

    text = SUITE.format(abs_tol=0.005).replace('"frames.extxyz"', '"data:no_such_folder/frames.extxyz"')
    text = text[:text.index('[[check]]\nname = "mq"')]
    outcomes = run_suite(load_potential(TERSOFF), load_suite(write(tmp_path, text)), None, tmp_path)
    assert outcomes[0].status == "skipped" and "data absent" in outcomes[0].note


EV = '[[check]]\nquantity = "ev"\nreference = "f.extxyz"\nabs_tol = 0.01\n'
MQ = ('[[check]]\nquantity = "melt_quench"\nstructure = "diamond"\nmelt_temperature = 3000.0\n'
      "melt_time = 1.0\nquench_time = 1.0\ncutoff = 2.85\nreference = 3.9\nabs_tol = 0.2\n")


@pytest.mark.parametrize(("text", "expected"), [
    (EV.replace("abs_tol = 0.01\n", ""), "'abs_tol' (largest RMS error, eV/atom) is required"),
    (EV.replace('"f.extxyz"', "3.0"), "reference = 3.0: expected the path of DFT frames"),
    (EV + "temperature = 300.0\n", "unknown key 'temperature' for quantity 'ev'"),
    (EV + "index = 3\n", "index = 3: expected a non-empty string"),
    (MQ.replace("cutoff = 2.85\n", ""), "'cutoff' is required for a melt_quench check"),
    (MQ.replace("melt_time = 1.0\n", ""), "'melt_time' is required for a melt_quench check"),
    (MQ.replace("reference = 3.9\n", ""), "'reference' is required"),
    (MQ.replace("abs_tol = 0.2\n", ""), "give a tolerance"),
    (MQ.replace("melt_temperature = 3000.0", "melt_temperature = -5.0"), "melt_temperature = -5.0: must be"),
    (MQ + "final_temperature = 3500.0\n", "melt_quench: melt_temperature = 3000.0 K must be above "
                                          "final_temperature = 3500.0 K"),
    (MQ + "r_max = 2.5\n", "cutoff = 2.85 Å must be below r_max = 2.5 Å"),
])
def test_bad_ev_and_melt_quench_checks_are_one_line(tmp_path: Path, text: str, expected: str) -> None:
    suite = write(tmp_path, text)
    with pytest.raises(GafitInputError) as err:
        load_suite(suite)
    assert expected in str(err.value) and str(suite) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("problem", ["strained", "index"])
def test_bad_ev_frames_are_one_line(tmp_path: Path, problem: str, capsys: pytest.CaptureFixture) -> None:
    frames = [bulk("Si", "diamond", a=A_SI * s, cubic=True) for s in SCALES]
    for f in frames:
        f.calc = SinglePointCalculator(f, energy=-37.0)
    if problem == "strained":
        frames[4].set_cell(frames[4].cell * [1.02, 1, 1], scale_atoms=True)
    ase.io.write(tmp_path / "f.extxyz", frames)
    text = EV + ('index = "2:x"\n' if problem == "index" else "")
    suite = write(tmp_path, text)
    assert main(["validate", str(TERSOFF), "--suite", str(suite), "--out", str(tmp_path / "v"),
                 "--quiet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gafit: error: ") and str(suite) in lines[0]
    assert ("frame 4 is not frame 0 scaled uniformly" if problem == "strained"
            else "index '2:x': cannot read it") in lines[0]
