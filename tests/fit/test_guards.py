"""Stability guards as constraints in the fit ([constraints] stable, e0_range; gafit.guards).

The mechanical case: a pair potential on simple cubic. A stiff Morse (alpha 1.6 /Å) gives sc a
negative C44 at its own lattice (pair forces barely resist shear there); frames made with it lead an
unconstrained fit back to it, and the guard must end somewhere C44 > 0 (a longer-ranged Morse),
judged independently by gafit.properties (ASE relaxation + finite strains) and gafit.stability."""

from __future__ import annotations

import json
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from gafit import properties
from gafit.config import parse_config
from gafit.fitting import Fit
from gafit.forms.morse import Morse
from gafit.guards import BORN_MARGIN, e0_default, e0_guard, imaginary_breach, stability_guard, stable_default
from gafit.objective import WALL_PENALTY, Objective
from gafit.parameters import build_space
from gafit.phonons import make_phonopy
from gafit.phonons.target import PhononTarget, PhononTargetConfig
from gafit.potential import Potential
from gafit.property_target import PropertyTargetConfig, PropertyTargets
from gafit.report import write_report
from gafit.stability import COHESIVE_MAX, cohesive_range, imaginary_modes, property_flags
from gafit.structures import GafitInputError, ReferenceSet, Structure

UNSTABLE = np.array([0.35, 1.6, 2.6, 0.0])  # D0 eV, alpha 1/Å, r0 Å, E0: sc C44 < 0
STABLE = np.array([0.35, 0.9, 3.0, 0.0])  # longer-ranged: sc Born criteria hold
A_SC = 2.31  # Å, about UNSTABLE's own sc lattice constant


def morse(values: np.ndarray = UNSTABLE) -> Potential:
    return Potential(["Po"], [Morse(["Po"], 4.8)]).with_values(values)


def sc_targets(pot: Potential, keys: list[str], elastic: bool = True) -> PropertyTargets:
    return PropertyTargets.build(pot, [PropertyTargetConfig(k, 1.0, 1.0, "sc", ["Po"], A_SC)
                                       for k in keys], elastic=elastic)


def born(pot: Potential) -> dict:
    """gafit.properties' own relaxed sc crystal and elastic tensor, judged by gafit.stability."""
    props = properties.properties(pot, bulk("Po", "sc", a=A_SC))
    return props | {"stability": property_flags(props)}


def test_born_breach_is_zero_when_stable_and_grows_with_the_breach() -> None:
    pot = morse()
    t = sc_targets(pot, ["a"])
    guard = stability_guard(t, [])
    assert guard.channels == ["sc Po C11-C12", "sc Po C11+2C12", "sc Po C44"]
    alphas = np.array([1.3, 1.45, 1.6])
    theta = np.vstack([STABLE, *(UNSTABLE * [1, a / 1.6, 1, 1] for a in alphas)])
    v = guard.violation(theta)
    assert np.all(v[0] == 0.0)
    c44 = np.array([cell["C44"] for cell in [t.cells[0].values(pot, theta)]])[0]
    assert np.all(c44[1:] < 0) and c44[0] > 0
    np.testing.assert_allclose(v[1:, 2], BORN_MARGIN - c44[1:], rtol=1e-12)  # GPa below the margin
    assert np.all(np.diff(v[1:, 2]) > 0)  # a stiffer Morse breaches more
    # the independent judge agrees on both ends
    assert born(morse(STABLE))["stability"]["flags"] == []
    assert any("C44" in f for f in born(morse())["stability"]["flags"])


def test_the_guard_needs_the_elastic_cells_and_reads_the_targets_values_once() -> None:
    pot = morse()
    with pytest.raises(ValueError, match="elastic cells"):
        stability_guard(sc_targets(pot, ["a"], elastic=False), [])
    t = sc_targets(pot, ["a"])
    theta = np.vstack([STABLE, UNSTABLE])
    first = t.cell_values(theta)
    assert t.cell_values(theta.copy()) is first  # the same theta: no second evaluation
    assert t.cell_values(theta[:1]) is not first


def test_imaginary_breach_counts_only_imaginary_non_acoustic_modes() -> None:
    f = np.array([[[-0.01, 0.0, 0.02, 5.0], [-2.0, -0.03, 1.0, 3.0]],  # Γ then another q
                  [[-1.0, 0.0, 0.0, 5.0], [0.5, 1.0, 2.0, 3.0]]])
    gamma = np.array([True, False])
    b = imaginary_breach(f, gamma, tolerance=0.05)
    # row 0: only -2.0 THz away from Γ counts (-0.03 is within the tolerance)
    assert b[0] == pytest.approx(4.0 - 0.05**2)
    assert b[1] == 0.0  # -1.0 is one of Γ's three acoustic modes
    assert (b > 0).tolist() == [imaginary_modes(f[k], gamma).count > 0 for k in range(2)]


@pytest.fixture(scope="module")
def fcc_reference(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ref")
    pot = Potential(["Cu"], [Morse(["Cu"], 5.0)]).with_values([0.3429, 1.3588, 2.866, 0.0])
    path = folder / "phonopy_params.yaml"
    make_phonopy(pot, bulk("Cu", "fcc", a=3.62), [2, 2, 2]).save(str(path),
                                                                  settings={"force_sets": True})
    return path


def test_phonon_guard_sees_imaginary_modes_and_adds_gamma(fcc_reference: Path) -> None:
    """fcc Cu at a fixed geometry: the Girifalco-Weizer Morse is stable; with r0 = 2.0 Å the
    nearest neighbours (2.56 Å) sit beyond the Morse inflection point and modes turn imaginary. A
    target without Γ gets Γ from a batch of its own."""
    pot = Potential(["Cu"], [Morse(["Cu"], 5.0)])
    good = np.array([0.3429, 1.3588, 2.866, 0.0])
    bad = np.array([0.3429, 1.3588, 2.0, 0.0])
    with_g = PhononTarget.build(pot, PhononTargetConfig(fcc_reference, qpoints="GXL"))
    without = PhononTarget.build(pot, PhononTargetConfig(fcc_reference, qpoints="XL"))
    g1, g2 = stability_guard(None, [with_g]), stability_guard(None, [without])
    assert g1.gamma == [None] and g2.gamma[0] is not None
    theta = np.vstack([good, bad])
    v1, v2 = g1.violation(theta)[:, 0], g2.violation(theta)[:, 0]
    assert v1[0] == 0.0 and v1[1] > 0.0
    np.testing.assert_allclose(v2, v1, rtol=1e-9)  # the same q-points, Γ computed apart
    f = with_g.frequencies(bad[None])[0]
    flagged = imaginary_modes(f, [lab == "Γ" for lab in with_g.labels])
    assert flagged.count > 0


def test_cohesive_range_restates_the_e0_flag_rules() -> None:
    assert cohesive_range(-4.63) == (0.0, pytest.approx(9.26))
    assert cohesive_range(-0.2) == (0.0, COHESIVE_MAX)  # not on a cohesive scale (EMT-like)
    assert cohesive_range(-4.63, coulomb=True) == (0.0, np.inf)


def test_e0_guard_is_zero_in_range_and_grows_outside() -> None:
    pot = Potential(["Cu"], [Morse(["Cu"], 4.8)])
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    data = ReferenceSet([Structure(atoms, energy=-3.5 * len(atoms))], "one frame")
    guard = e0_guard(pot, data, "data")
    assert (guard.low, guard.high) == (0.0, pytest.approx(7.0))
    depths = np.array([0.3429, 0.8, 1.2])
    theta = np.array([[d, 1.3588, 2.866, 5.0] for d in depths])  # E0 = 5 eV: it cancels
    coh = guard.cohesive(theta)
    e = properties._predict(pot.with_values(np.r_[depths[0], 1.3588, 2.866, 0.0]), [atoms])[0]
    assert coh[0] == pytest.approx(-float(e[0]) / len(atoms), rel=1e-12)
    v = guard.violation(theta)
    assert v[0].tolist() == [0.0, 0.0] and coh[0] < 7.0
    assert v[2, 1] > v[1, 1] > 0.0 and np.all(v[:, 0] == 0.0)
    np.testing.assert_allclose(v[1:, 1], coh[1:] - 7.0)
    assert e0_guard(pot, data, "off") is None
    assert e0_guard(pot, data, [0.0, 2.0]).violation(theta[:1])[0, 1] == pytest.approx(coh[0] - 2.0)


def test_objective_breakdown_and_penalty_of_the_guards() -> None:
    pot = morse()
    atoms = bulk("Po", "sc", a=A_SC).repeat(2)
    e, f, _ = properties._predict(pot, [atoms])
    data = ReferenceSet([Structure(atoms, energy=float(e[0]), forces=f[0])], "one frame")
    t = sc_targets(pot, ["a"])
    space = build_space(pot, {"Po-Po.D0": [0.1, 1.0], "Po-Po.alpha": [0.6, 2.0],
                              "Po-Po.r0": [2.3, 3.1], "Po.E0": 0.0})
    guards = {"stability": stability_guard(t, []), "e0": e0_guard(pot, data, [0.0, 0.5])}
    obj = Objective(pot, space, data, properties=t, guards=guards)
    x = np.vstack([UNSTABLE[:3], STABLE[:3]])
    parts = obj.breakdown(x)
    theta, _ = obj.evaluate(x)
    for k in range(2):
        assert sum(parts[k].values()) == pytest.approx(obj.loss(x[k:k + 1])[0], rel=1e-12)
        want = guards["stability"].violation(theta[k:k + 1])[0]
        assert parts[k]["stability"] == pytest.approx(np.sum((WALL_PENALTY * want) ** 2))
    assert parts[0]["stability"] > 0 and parts[1]["stability"] == 0.0
    assert parts[0]["e0"] > 0  # the cohesive energy is above 0.5 eV/atom
    assert [w for w in obj.residual_widths() if w[0] in ("stability", "e0")] == [("stability", 3),
                                                                                 ("e0", 2)]


def test_stable_default_and_bad_settings(tmp_path: Path) -> None:
    prop = PropertyTargetConfig("C44", 1.0, 1.0, "sc", ["Po"], A_SC)
    lattice = PropertyTargetConfig("a", 1.0, 1.0, "sc", ["Po"], A_SC)
    assert stable_default(None, [prop], []) is True
    assert stable_default(None, [lattice], []) is False
    assert stable_default(False, [prop], []) is False
    with pytest.raises(GafitInputError, match=r"\[constraints\] stable = true: nothing to guard"):
        stable_default(True, [], [])
    assert e0_default(None, [lattice], []) == "data"
    assert e0_default(None, [], []) == "off"  # frames alone: see e0_default and tests/fit/test_fit.py
    assert e0_default([0.0, 3.0], [], []) == [0.0, 3.0]
    base = {"data": {"train": "x.extxyz"}, "potential": {"form": "morse", "species": ["Po"]}}
    for value, message in (({"stable": "yes"}, r"\[constraints\] stable = 'yes': expected true"),
                           ({"e0_range": [5.0, 1.0]}, r"e0_range = \[5.0, 1.0\]: expected"),
                           ({"e0_range": "auto"}, r"e0_range = 'auto': expected"),
                           ({"e0_range": -1}, r"e0_range = -1: expected"),
                           ({"stabel": True}, r"did you mean 'stable'")):
        with pytest.raises(GafitInputError, match=message) as err:
            parse_config(base | {"constraints": value})
        assert "\n" not in str(err.value)
    ok = parse_config(base | {"constraints": {"stable": True, "e0_range": 6}}).constraints
    assert (ok.stable, ok.e0_range) == (True, [0.0, 6.0])
    unset = parse_config(base).constraints
    assert (unset.stable, unset.e0_range) == (None, None)


def _sc_frames(path: Path) -> None:
    """Rattled 3x3x3 sc cells of the UNSTABLE Morse at five scales: energies, forces, stresses."""
    frames = []
    for k in range(5):
        atoms = bulk("Po", "sc", a=A_SC * (0.98 + 0.01 * k)).repeat(3)
        atoms.rattle(0.04, seed=k)
        e, f, s = properties._predict(morse(), [atoms])
        atoms.calc = SinglePointCalculator(atoms, energy=float(e[0]), forces=f[0], stress=s[0])
        frames.append(atoms)
    ase.io.write(path, frames)


def _table(tmp_path: Path, stable: bool) -> dict:
    # an untargeted C44 (weight 0) on the free fit: its elastic cells give the summary its Born flags
    c44 = [{"property": "C44", "reference": 10.0, "tolerance": 10.0, "weight": 0.0,
            "structure": "sc", "species": ["Po"], "a": A_SC}] if not stable else []
    table = {
        "data": {"train": str(tmp_path / "train.extxyz")},
        "potential": {"form": "morse", "species": ["Po"], "cutoff": 4.8,
                      "parameters": {"Po-Po.D0": [0.1, 0.8], "Po-Po.alpha": [0.6, 2.0],
                                     "Po-Po.r0": [2.3, 3.1], "Po.E0": 0.0}},
        "properties": [{"property": "a", "reference": A_SC, "tolerance": 0.05, "weight": 0.1,
                        "structure": "sc", "species": ["Po"], "a": A_SC}, *c44],
        "constraints": {"stable": stable},
        "ga": {"population": 24, "generations": 8, "seed": 4},
        "refine": {"starts": 1, "max_evaluations": 60},
    }
    return table


def _fit(tmp_path: Path, stable: bool, name: str):
    return Fit.from_config(parse_config(_table(tmp_path, stable))).run(tmp_path / name, quiet=True)


def test_unconstrained_fit_ends_unstable_and_the_guard_ends_stable(tmp_path: Path) -> None:
    _sc_frames(tmp_path / "train.extxyz")
    free = _fit(tmp_path, False, "free")
    guarded = _fit(tmp_path, True, "guarded")
    assert not [g for g in free.guards if g["guard"] == "stability"]
    assert born(free.potential)["C44"] < 0  # the data's own potential: sc shears away
    # the summary, summary.json and the report say so without the guard
    assert any(f.startswith("! sc Po: C44 = -") for f in free.stability_flags)
    assert "! sc Po: C44 = -" in free.summary()
    free_summary = json.loads((tmp_path / "free" / "summary.json").read_text())
    assert free_summary["stability_flags"] == free.stability_flags
    page = write_report(tmp_path / "free", parse_config(_table(tmp_path, False))).read_text()
    assert "sc Po: C44 = -" in page
    judged = born(guarded.potential)
    assert judged["stability"]["flags"] == [], judged["stability"]["flags"]
    assert judged["C44"] > 0
    assert guarded.properties[0]["value"] == pytest.approx(judged["a"], rel=1e-3)
    assert guarded.properties[0]["in_range"] is True
    stab = next(g for g in guarded.guards if g["guard"] == "stability")
    assert stab["held"] is True and [c["channel"] for c in stab["channels"]] == [
        "sc Po C11-C12", "sc Po C11+2C12", "sc Po C44"]
    assert guarded.breakdown["stability"] == 0.0
    assert guarded.stability_flags == []
    assert "constraints held: " in guarded.summary() and "stability held" in guarded.summary()
    summary = json.loads((tmp_path / "guarded" / "summary.json").read_text())
    assert summary["guards"][0]["guard"] == "stability" and summary["guards"][0]["held"] is True
    assert "stability" in summary["loss_by_term"]
    # stability costs accuracy: the guarded fit cannot reproduce the data's own (unstable) potential
    assert guarded.rmse["train"]["forces"] > free.rmse["train"]["forces"]


def test_e0_range_keeps_the_forms_cohesive_energy_on_the_datas_scale(tmp_path: Path) -> None:
    """Frames of a Morse Cu (own cohesive energy ~3.5 eV/atom) whose energies carry E0 = +2 eV/atom,
    so the data sit at ~-1.5 eV/atom: the data's own potential puts the isolated atom farther from
    the reference than the crystal (the E0 flag), and an unguarded fit recovers it; with
    e0_range = "data" the form's cohesive energy ends within 2 x 1.5 eV/atom."""
    cu = Potential(["Cu"], [Morse(["Cu"], 4.8)]).with_values([0.3429, 1.3588, 2.866, 2.0])
    frames = []
    for k in range(4):
        atoms = bulk("Cu", "fcc", a=3.61 * (0.99 + 0.01 * k), cubic=True).repeat(2)
        atoms.rattle(0.03, seed=k)
        e, f, s = properties._predict(cu, [atoms])
        atoms.calc = SinglePointCalculator(atoms, energy=float(e[0]), forces=f[0], stress=s[0])
        frames.append(atoms)
    ase.io.write(tmp_path / "cu.extxyz", frames)
    de = min(a.get_potential_energy() / len(a) for a in frames)
    results = {}
    for setting in ("off", "data"):
        table = {"data": {"train": str(tmp_path / "cu.extxyz")},
                 "potential": {"form": "morse", "species": ["Cu"], "cutoff": 4.8,
                               "parameters": {"Cu-Cu.D0": [0.1, 0.6], "Cu-Cu.alpha": [1.0, 1.8],
                                              "Cu-Cu.r0": [2.6, 3.1]}},
                 "constraints": {"e0_range": setting},
                 "ga": {"population": 24, "generations": 8, "seed": 1},
                 "refine": {"starts": 1, "max_evaluations": 60}}
        results[setting] = Fit.from_config(parse_config(table)).run(tmp_path / setting, quiet=True)
    free, guarded = results["off"], results["data"]
    assert not free.guards
    assert any("implausible E0" in f for f in free.e0_check["flags"])
    g = guarded.guards[0]
    assert g["guard"] == "e0" and g["held"] is True
    assert g["high"] == pytest.approx(2 * abs(de)) and g["cohesive"] <= g["high"]
    form = guarded.e0_check["form_energy"]  # gafit.stability's own account of the fitted potential
    assert -form == pytest.approx(g["cohesive"], rel=1e-9)
    assert -free.e0_check["form_energy"] > g["high"]
    assert "constraints held: e0 held" in guarded.summary()
