"""Crystal properties as fit targets ([[properties]]): batched values against gafit.properties (ASE
relaxations), the relaxed-ion C44 of diamond, config errors, and a fit that moves a lattice constant."""

from __future__ import annotations

import json
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from helpers import SI_TERSOFF

from gafit import properties
from gafit.config import parse_config
from gafit.fitting import Fit
from gafit.forms.morse import Morse
from gafit.potential import Potential
from gafit.potential_files import load_potential
from gafit.property_target import PropertyTargetConfig, PropertyTargets
from gafit.report import write_report
from gafit.structures import GafitInputError

CU = np.array([0.3429, 1.3588, 2.866, 0.0])  # Girifalco-Weizer Morse Cu, E0 = 0
KEYS = ["a", "E", "E_coh", "B", "C11", "C12", "C44", "C44_unrelaxed"]
#: batched vs gafit.properties, relative: a and E to 1e-5; B (an EOS fit over ±5 % there) and the
#: elastic constants (strain 0.005 there, 0.001 here) to 1 %
RTOL = {"a": 1e-5, "E": 1e-5, "E_coh": 1e-5, "B": 0.01, "C11": 0.01, "C12": 0.01, "C44": 0.01,
        "C44_unrelaxed": 0.01}


def cu_morse(values: np.ndarray = CU) -> Potential:
    # cutoff 4.8 Å: no neighbour shell of fcc Cu crosses it within the tabulated ±5 %
    return Potential(["Cu"], [Morse(["Cu"], 4.8)]).with_values(values)


def targets(pot: Potential, structure: str, species: list[str], a: float,
            keys: list[str] = KEYS) -> PropertyTargets:
    return PropertyTargets.build(pot, [PropertyTargetConfig(k, 1.0, 1.0, structure, species, a)
                                       for k in keys])


def reference_values(pot: Potential, atoms) -> dict[str, float]:
    """The same quantities from gafit.properties (ASE relaxations and BFGS internal relaxation)."""
    ref = properties.properties(pot, atoms)
    e0 = float(pot.values[pot.e0_slice].mean())  # one species
    return {k: (e0 - ref["E"]) if k == "E_coh" else ref[k] for k in KEYS}


def si_vectors() -> np.ndarray:
    """The published Si Tersoff and two perturbed copies (R, D and E0 kept; E0 set to 0.3 eV)."""
    pot = load_potential(SI_TERSOFF)
    names = list(pot.named_values())
    keep = np.array([n.split(".")[-1] in ("R", "D", "E0") for n in names])
    rng = np.random.default_rng(3)
    out = [pot.values.copy()]
    for _ in range(2):
        out.append(np.where(keep, pot.values, pot.values * (1 + 0.015 * rng.standard_normal(len(names)))))
    theta = np.array(out)
    theta[:, pot.e0_slice] = 0.3
    return theta


@pytest.mark.skipif(not SI_TERSOFF.is_file(), reason="no potentials/Si_Tersoff_1988.tersoff")
def test_batched_si_tersoff_agrees_with_gafit_properties() -> None:
    """Diamond Si, Tersoff: every batched value matches gafit.properties for three parameter
    vectors evaluated in one batch; the relaxed-ion C44 is far below the clamped-ion one."""
    pot = load_potential(SI_TERSOFF)
    theta = si_vectors()
    t = targets(pot, "diamond", ["Si"], 5.43)
    vals, inside = t.values(theta)
    assert inside.all()
    for b in range(len(theta)):
        want = reference_values(pot.with_values(theta[b]), bulk("Si", "diamond", 5.43))
        for k, v in zip(KEYS, vals[b], strict=True):
            assert v == pytest.approx(want[k], rel=RTOL[k]), (b, k)
        # each row is the same evaluated alone: batching does not mix individuals
        np.testing.assert_allclose(t.values(theta[b:b + 1])[0][0], vals[b], rtol=1e-10)
    c44, c44u = vals[:, KEYS.index("C44")], vals[:, KEYS.index("C44_unrelaxed")]
    assert (c44 < 0.5 * c44u).all()  # Tersoff Si(B): internal relaxation takes most of C44


def test_batched_fcc_morse_agrees_with_gafit_properties() -> None:
    """fcc Cu, Morse (one atom per cell: no internal relaxation), from a structure file (its
    conventional cell) and from a lattice name: the same values, and those of gafit.properties."""
    theta = np.vstack([CU, CU * [1.1, 0.95, 1.01, 1.0]])
    by_name = targets(cu_morse(), "fcc", ["Cu"], 3.6).values(theta)
    for b in range(len(theta)):
        want = reference_values(cu_morse(theta[b]), bulk("Cu", "fcc", 3.6, cubic=True))
        for k, v in zip(KEYS, by_name[0][b], strict=True):
            assert v == pytest.approx(want[k], rel=RTOL[k]), (b, k)
    assert by_name[1].all()
    vals = dict(zip(KEYS, by_name[0][0], strict=True))
    assert vals["C44"] == pytest.approx(vals["C44_unrelaxed"], rel=1e-12)


def test_structure_file_gives_the_same_values(tmp_path: Path) -> None:
    path = tmp_path / "cu.cif"
    ase.io.write(path, bulk("Cu", "fcc", 3.6, cubic=True))
    theta = np.vstack([CU, CU * [1.1, 0.95, 1.01, 1.0]])
    by_name = targets(cu_morse(), "fcc", ["Cu"], 3.6).values(theta)[0]
    by_file = PropertyTargets.build(cu_morse(), [PropertyTargetConfig(k, 1.0, 1.0, str(path))
                                                 for k in KEYS]).values(theta)[0]
    np.testing.assert_allclose(by_file, by_name, rtol=1e-6)


def test_outside_the_tabulated_range_is_flagged() -> None:
    """A start lattice constant 10 % off: a is held at the end of the range and flagged."""
    t = targets(cu_morse(), "fcc", ["Cu"], 3.3, ["a"])
    vals, inside = t.values(CU[None])
    assert not inside[0, 0]
    assert vals[0, 0] == pytest.approx(3.3 * 1.05)
    row = t.table(CU)[0]
    assert row["in_range"] is False and row["pass"] is False


def test_residuals_are_weighted_tolerance_units() -> None:
    a = targets(cu_morse(), "fcc", ["Cu"], 3.6, ["a"]).values(CU[None])[0][0, 0]
    cfg = PropertyTargetConfig("a", a + 0.02, 0.01, "fcc", ["Cu"], 3.6, weight=4.0)
    t = PropertyTargets.build(cu_morse(), [cfg])
    assert t.residuals(CU[None])[0, 0] == pytest.approx(-4.0, rel=1e-9)  # sqrt(4) * -0.02 / 0.01
    assert t.table(CU)[0]["pass"] is False
    cfg.tolerance = 0.03
    assert t.table(CU)[0]["pass"] is True


@pytest.mark.parametrize("entry, message", [
    ({"property": "C13"}, "property = 'C13' is unknown"),
    ({"tolerance": 0.0}, "tolerance must be positive"),
    ({"species": None}, "needs species"),
    ({"structure": "nowhere.cif", "species": None}, "no such file"),
    ({"colour": 1}, "unknown key 'colour'"),
    ({"reference": "big"}, "reference = 'big': expected float"),
    ({"tolerance": None}, "needs tolerance"),
    ({"a": -3.0}, "a must be a positive length"),
])
def test_config_errors_are_one_line(entry: dict, message: str) -> None:
    good = {"property": "C11", "reference": 1079.0, "tolerance": 50.0, "structure": "diamond",
            "species": ["C"], "a": 3.567}
    bad = {k: v for k, v in (good | entry).items() if v is not None}
    with pytest.raises(GafitInputError, match=message) as err:
        parse_config({"data": {"train": "x.extxyz"}, "properties": [good, bad]})
    assert "[[properties]] #2" in str(err.value) and "\n" not in str(err.value)


def test_config_round_trip() -> None:
    from gafit.config import config_table

    config = parse_config({"data": {"train": "x.extxyz"}, "properties": [
        {"property": "a", "reference": 3.567, "tolerance": 0.01, "structure": "diamond",
         "species": ["C"], "a": 3.55, "citation": "exp."}]})
    assert parse_config(config_table(config)).properties == config.properties


def test_fit_moves_the_lattice_constant_to_its_target(tmp_path: Path) -> None:
    """Training frames of the Morse Cu itself plus a lattice-constant target 2 % larger: the fit
    lands near the target instead of the data's lattice constant, and says so in its outputs."""
    a_true = targets(cu_morse(), "fcc", ["Cu"], 3.6, ["a"]).values(CU[None])[0][0, 0]
    frames = []
    for k in range(6):
        atoms = bulk("Cu", "fcc", a_true * (0.99 + 0.004 * k), cubic=True).repeat(2)
        atoms.rattle(0.05, seed=k)
        e, f, s = properties._predict(cu_morse(), [atoms])
        atoms.calc = SinglePointCalculator(atoms, energy=float(e[0]), forces=f[0], stress=s[0])
        frames.append(atoms)
    ase.io.write(tmp_path / "train.extxyz", frames)
    target = 1.02 * a_true
    table = {
        "data": {"train": str(tmp_path / "train.extxyz")},
        "potential": {"form": "morse", "species": ["Cu"], "cutoff": 4.8,
                      "parameters": {"Cu-Cu.D0": [0.2, 0.5], "Cu-Cu.alpha": [1.0, 1.8],
                                     "Cu-Cu.r0": [2.6, 3.1], "Cu.E0": 0.0}},
        "properties": [{"property": "a", "reference": target, "tolerance": 0.005 * target,
                        "weight": 10.0, "structure": "fcc", "species": ["Cu"], "a": 3.8,
                        "citation": "a test target"}],
        "ga": {"population": 24, "generations": 8, "seed": 2},
        "refine": {"starts": 1, "max_evaluations": 60},
    }
    config = parse_config(table)
    result = Fit.from_config(config).run(tmp_path / "out", quiet=True)
    row = result.properties[0]
    assert abs(row["value"] - target) < 0.25 * abs(a_true - target)
    assert row["pass"] is True
    assert row["in_range"] is True
    fitted_a = targets(result.potential, "fcc", ["Cu"], 3.8, ["a"]).values(
        result.potential.values[None])[0][0, 0]
    assert fitted_a == pytest.approx(row["value"], rel=1e-9)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["properties"][0]["citation"] == "a test target"
    assert "property targets:" in result.summary() and "pass" in result.summary()
    page = write_report(tmp_path / "out", config).read_text(encoding="utf-8")
    assert 'id="properties"' in page and "a test target" in page
    assert 'class="note error"' not in page


def test_crystals_with_free_internal_coordinates_are_refused(tmp_path: Path) -> None:
    """Pyrite-type (Pa-3, S at x x x): scaling the cell would need relaxing S; refused in one line,
    while every lattice name's sites are fixed."""
    from ase.spacegroup import crystal

    from gafit.crystals import LATTICES
    from gafit.property_cubic import free_coordinates
    from gafit.property_target import read_property_structure

    pyrite = crystal(["Fe", "S"], [(0, 0, 0), (0.385, 0.385, 0.385)], spacegroup=205,
                     cellpar=[5.42, 5.42, 5.42, 90, 90, 90])
    assert free_coordinates(pyrite)
    ase.io.write(tmp_path / "pyrite.cif", pyrite)
    with pytest.raises(GafitInputError, match="coordinates the symmetry does not fix"):
        read_property_structure(PropertyTargetConfig("a", 5.4, 0.1, str(tmp_path / "pyrite.cif")))
    species = {"rocksalt": ["Mg", "O"], "zincblende": ["Zn", "S"], "cesiumchloride": ["Cs", "Cl"],
               "fluorite": ["Ca", "F"]}
    for name in ("fcc", "bcc", "sc", "diamond", "rocksalt", "zincblende", "cesiumchloride",
                 "fluorite"):
        assert name in LATTICES
        atoms, a0 = read_property_structure(PropertyTargetConfig(
            "a", 4.0, 0.1, name, species.get(name, ["Cu"]), 4.0))
        assert not free_coordinates(atoms) and a0 == pytest.approx(4.0)


def test_a15_structure_file_relaxes_c11_and_c12(tmp_path: Path) -> None:
    """β-W (A15) with a Morse: 8 atoms whose 6c sites move under a uniaxial strain, so C11 and C12
    relax too (C12's relaxation comes from the hydrostatic identity, without ε2 cells); the
    values match gafit.properties (its BFGS relaxation at finite strain)."""
    from ase.spacegroup import crystal

    atoms = crystal(["Cu", "Cu"], [(0, 0, 0), (0.25, 0, 0.5)], spacegroup=223,
                    cellpar=[5.05, 5.05, 5.05, 90, 90, 90])
    ase.io.write(tmp_path / "a15.cif", atoms)
    # cutoff 3.45 Å: inside the gap between the third and fourth shells over the tabulated ±5 %
    pot = Potential(["Cu"], [Morse(["Cu"], 3.45)]).with_values(CU)
    keys = [k for k in KEYS if k != "E_coh"]
    got, inside = PropertyTargets.build(pot, [PropertyTargetConfig(k, 1.0, 1.0, str(tmp_path / "a15.cif"))
                                              for k in keys]).values(CU[None])
    assert inside.all()
    want = properties.properties(pot, atoms)
    for k, v in zip(keys, got[0], strict=True):
        assert v == pytest.approx(want[k], rel=RTOL[k]), k
    cell = properties.lattice_constant(pot, atoms)[0]
    c_rel, c_clamped = properties.elastic_tensor(pot, cell, strain=0.001)
    assert c_clamped[0, 0] - c_rel[0, 0] > 0.5  # GPa: the C11 relaxation is there to be tested
    assert abs(got[0, keys.index("C11")] - c_rel[0, 0]) < 0.1 * (c_clamped[0, 0] - c_rel[0, 0])
    assert abs(got[0, keys.index("C12")] - c_rel[1, 0]) < 0.1 * abs(c_clamped[1, 0] - c_rel[1, 0])


def test_zero_pressure_root_is_the_same_alone_as_in_a_batch() -> None:
    """The Newton root of each vector's pressure cubic is the same, bit for bit, computed alone as
    in a batch and compiled as in plain Python, and is a root inside its bracket; vectors without
    a bracket go to an end of SCALES, and NaN pressures do not stop the others."""
    from gafit import property_cubic as pc

    rng = np.random.default_rng(3)
    n, b = len(pc.SCALES), 400
    # pressures falling with the scale, with noise; some positive or negative everywhere, some NaN
    p = (np.sort(rng.normal(0, 1, (b, n)), axis=1)[:, ::-1] * rng.uniform(0.01, 10, (b, 1))
         + rng.normal(0, 0.05, (b, n)))
    p[:10] = np.abs(p[:10]) + 0.1
    p[10:20] = -np.abs(p[10:20]) - 0.1
    p[20:25, 3] = np.nan
    e = rng.normal(0, 1, (b, n))
    found, j0, t, c = pc._zero_pressure_root(p, e)
    lo = np.floor(t)
    for k in range(b):
        assert np.array_equal(pc._cubic_roots(c[k:k + 1], lo[k:k + 1]), t[k:k + 1], equal_nan=True)
    assert np.array_equal(pc._cubic_roots.py_func(c, lo), t, equal_nan=True)
    s, inside = pc.zero_pressure_scale(p, e)
    assert not inside[:20].any()
    assert (s[:10] == pc.SCALES[-1]).all() and (s[10:20] == pc.SCALES[0]).all()
    ok = np.flatnonzero(found)
    assert len(ok) > 300
    poly = c[ok, 0] + t[ok] * (c[ok, 1] + t[ok] * (c[ok, 2] + t[ok] * c[ok, 3]))
    assert np.abs(poly).max() < 1e-12 * np.abs(c[ok]).max()
    h = pc.SCALES[1] - pc.SCALES[0]
    k = np.searchsorted(pc.SCALES, pc.SCALES[j0[ok]] + h * t[ok]) - 1
    assert (p[ok, k] > 0).all() and (p[ok, k + 1] <= 0).all()  # on the bracket of the sign change


def test_the_adjugate_cross_products_are_numpys() -> None:
    """The 3 x 3 solves' cross products give numpy's cross's numbers bit for bit, on stacks of any
    shape, with infinite and NaN entries, and the solve still inverts its systems."""
    from gafit import property_cubic as pc

    rng = np.random.default_rng(8)
    for shape in [(3,), (4, 3), (5, 2, 3)]:
        a, b = rng.normal(size=shape), rng.normal(size=shape) * 1e3
        a.flat[0], b.flat[-1] = np.inf, np.nan
        np.testing.assert_array_equal(pc._cross(a, b), np.cross(a, b))
    k = rng.normal(size=(6, 3, 3)) + 3 * np.eye(3)
    rhs = rng.normal(size=(6, 3, 2))
    np.testing.assert_allclose(np.einsum("bij,bjr->bir", k, pc._solve(k, rhs)), rhs, atol=1e-12)
