"""LO-TO splitting of polar crystals (issue 12 item 5): the model's non-analytic correction.

phonopy is the judge of the batched NAC term; the LO-TO splitting of a rigid-ion rocksalt is checked
against the textbook formula with an independent unit conversion; the DFT reference (phonopy_MgO with
its BORN file) is compared with NAC along the same direction as gafit.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.io import read
from helpers import ROOT
from scipy import constants

from gafit.config import parse_config
from gafit.nac import gamma_directions, parse_epsilon
from gafit.phonons import PhononBatch, frequencies_at, make_phonopy, new_phonopy
from gafit.phonons.target import PhononTarget, PhononTargetConfig
from gafit.potential import Potential
from gafit.potential_files import load_potential
from gafit.structures import GafitInputError

MGO = ROOT / "potentials" / "MgO_Henkelman_2005.json"
DATA = ROOT.parent / "shared" / "data" / "phonopy_MgO"
NAN3 = [np.nan] * 3


def henkelman() -> Potential:
    return load_potential(MGO)


def charge_slots(pot: Potential) -> list[int]:
    return [pot.names.index("Mg.q"), pot.names.index("O.q")]


def need_data() -> None:
    if not (DATA / "phonopy_disp.yaml").exists():
        pytest.skip(f"{DATA} not present")


def born_epsilon() -> float:
    """ε∞ of the shared BORN file, read here without phonopy (line 2: the 3x3 tensor, isotropic)."""
    rows = [line.split() for line in (DATA / "BORN").read_text().splitlines()]
    eps = np.array(rows[1], float).reshape(3, 3)
    assert np.allclose(eps, eps[0, 0] * np.eye(3))
    return float(eps[0, 0])


def test_lo_to_splitting_of_a_rigid_ion_rocksalt_is_the_textbook_one() -> None:
    """LO² - TO² at Γ = (4π/Ω) Z² e²/(4πε₀) / (μ ε∞) for rocksalt, in THz² with units done here."""
    pot = henkelman()
    z = pot.named_values()["Mg.q"]
    atoms = bulk("MgO", "rocksalt", a=4.21)
    for eps in (1.0, 3.3812):
        ph = make_phonopy(pot, atoms, [2, 2, 2], dielectric=eps * np.eye(3))
        omega = abs(np.linalg.det(np.array(ph.primitive.cell)))  # Å³
        m1, m2 = ph.primitive.masses
        mu = m1 * m2 / (m1 + m2)  # amu
        k_e = constants.e / (4 * np.pi * constants.epsilon_0) / constants.angstrom  # eV·Å per e²
        w2 = 4 * np.pi * z * z * k_e / (omega * mu * eps)  # eV/(Å² amu)
        w2_si = w2 * constants.e / (constants.angstrom**2 * constants.atomic_mass)  # 1/s²
        want = w2_si / (2 * np.pi) ** 2 / 1e24  # THz²
        for direction in ([0.5, 0.0, 0.5], [0.5, 0.5, 0.5], [0.1, 0.2, 0.7]):
            f = frequencies_at(ph, [[0, 0, 0]], np.array([direction]))[0]
            assert f[3] == pytest.approx(f[4], abs=1e-8)  # two TO
            assert f[5] ** 2 - f[3] ** 2 == pytest.approx(want, rel=1e-6)
        # without a direction phonopy gives Γ's TO triplet: no splitting
        f0 = frequencies_at(ph, [[0, 0, 0]])[0]
        assert f0[5] == pytest.approx(f0[3], abs=1e-6)


def test_batched_nac_equals_phonopy_for_any_charges() -> None:
    """PhononBatch with NAC (a quadratic form in the fitted charges) against phonopy's own NAC on the
    same force constants: Γ along two directions and without one, a commensurate point (X), points
    that are not (L, a general q)."""
    pot = henkelman()
    cell = bulk("MgO", "rocksalt", a=4.2, cubic=True)  # 8-atom supercell 1x1x1: fast
    q = np.array([[0, 0, 0], [0, 0, 0], [0, 0, 0], [0.5, 0, 0.5], [0.5, 0.5, 0.5], [0.1, 0.2, 0.3]])
    directions = np.array([[0.5, 0, 0.5], [0.2, 0.3, 0.4], NAN3, NAN3, NAN3, NAN3])
    eps = 2.5 * np.eye(3)
    batch = PhononBatch(pot, cell, [1, 1, 1], q, dielectric=eps, directions=directions)
    slots = charge_slots(pot)
    theta = np.repeat(pot.values[None], 3, axis=0)
    theta[1, slots] = [1.3, -1.3]
    theta[2, slots] = [2.2, -2.2]
    got = batch.frequencies(theta)
    forces = batch.forces(theta)
    for b in range(len(theta)):
        ph = new_phonopy(cell, [1, 1, 1])
        ph.force_constants = batch.force_constants(forces[b : b + 1])[0]
        ph.nac_params = {"born": theta[b, slots][:, None, None] * np.eye(3), "dielectric": eps,
                         "factor": 14.399645}
        want = frequencies_at(ph, q, directions)
        optic = np.abs(want) > 0.5
        np.testing.assert_allclose(got[b][optic], want[optic], rtol=0, atol=1e-8)
        np.testing.assert_allclose(got[b], want, rtol=0, atol=1e-5)  # acoustic: √ of round-off
        single = batch.frequencies(theta[b : b + 1])[0]  # a batch equals single evaluations
        np.testing.assert_allclose(single[optic], got[b][optic], rtol=0, atol=1e-10)
    # the LO follows the charges; the TO at Γ without a direction too (the force constants), but the
    # splitting is there only along a direction
    assert got[2, 0, 5] - got[2, 0, 3] > got[1, 0, 5] - got[1, 0, 3] + 1.0
    assert got[1, 2, 5] == pytest.approx(got[1, 2, 3], abs=1e-6)
    plain = PhononBatch(pot, cell, [1, 1, 1], q)  # no ε∞: no NAC
    assert plain.nac is None
    np.testing.assert_allclose(plain.frequencies(theta[:1])[0, 2:4], got[0, 2:4], atol=1e-8)


def test_batched_nac_equals_phonopy_for_wurtzite_with_an_anisotropic_epsilon() -> None:
    """Four atoms per primitive cell, a uniaxial ε∞: LO along c and in the plane differ."""
    from gafit.forms import get_form

    species = ["Zn", "O"]
    forms = [get_form("buckingham")(species, 8.0), get_form("coulomb")(species, 8.0)]
    values = [0.0, 0.3, 0.0, 700.0, 0.33, 0.0, 9547.96, 0.2192, 32.0, 1.6, -1.6, 0.0, 0.0]
    pot = Potential(species, forms, np.array(values))
    cell = bulk("ZnO", "wurtzite", a=3.29, c=5.30, u=0.38)
    q = np.array([[0, 0, 0], [0, 0, 0], [0.5, 0, 0], [1 / 3, 1 / 3, 0], [0.1, 0.2, 0.3]])
    directions = np.array([[0.5, 0, 0], [0, 0, 0.5], NAN3, NAN3, NAN3])
    eps = np.diag([6.0, 6.0, 4.5])
    batch = PhononBatch(pot, cell, [1, 1, 1], q, dielectric=eps, directions=directions)
    slots = [pot.names.index("Zn.q"), pot.names.index("O.q")]
    theta = np.repeat(pot.values[None], 2, axis=0)
    theta[1, slots] = [2.0, -2.0]
    got = batch.frequencies(theta)
    for b in range(len(theta)):
        ph = new_phonopy(cell, [1, 1, 1])
        ph.force_constants = batch.force_constants(batch.forces(theta[b : b + 1]))[0]
        z_k = [theta[b, slots[species.index(s)]] for s in ph.primitive.symbols]
        ph.nac_params = {"born": np.array(z_k)[:, None, None] * np.eye(3), "dielectric": eps,
                         "factor": 14.399645}
        want = frequencies_at(ph, q, directions)
        optic = np.abs(want) > 0.5
        np.testing.assert_allclose(got[b][optic], want[optic], rtol=0, atol=1e-8)
    assert np.abs(got[1, 0] - got[1, 1]).max() > 0.1  # Γ along a and along c differ


def test_gamma_directions_of_separate_points() -> None:
    q = np.array([[0, 0, 0], [0.5, 0, 0.5], [0.5, 0.5, 0.5], [1, 1, 1]], float)
    d = gamma_directions(q)
    np.testing.assert_allclose(d[0], [0.5, 0, 0.5])  # towards the next point
    np.testing.assert_allclose(d[3], [-0.5, -0.5, -0.5])  # a last Γ: towards the previous one
    assert np.isnan(d[1:3]).all()
    np.testing.assert_allclose(gamma_directions(q, [0, 0, 1])[[0, 3]], [[0, 0, 1], [0, 0, 1]])
    assert np.isnan(gamma_directions(q[:1])).all()  # Γ alone: no direction


@pytest.mark.parametrize("value", ["borm", "-1", 0, "nan", True, [1.0]])
def test_bad_epsilon_is_one_line(value: object) -> None:
    with pytest.raises(GafitInputError, match="epsilon_inf") as info:
        parse_epsilon(value, "[phonons] epsilon_inf")
    assert "\n" not in str(info.value)


def test_config_epsilon_and_direction(tmp_path: Path) -> None:
    base = {"data": {"train": "x.extxyz"}}
    config = parse_config({**base, "phonons": {"reference": "p.yaml", "epsilon_inf": "born",
                                                "q_direction": [0.5, 0, 0.5]}})
    assert config.phonons[0].epsilon_inf == "born"
    assert config.phonons[0].q_direction == [0.5, 0.0, 0.5]
    assert parse_config({**base, "phonons": {"reference": "p.yaml", "epsilon_inf": 2}}
                        ).phonons[0].epsilon_inf == 2.0
    assert parse_config({**base, "phonons": {"reference": "p.yaml"}}).phonons[0].epsilon_inf == 1.0
    with pytest.raises(GafitInputError, match="epsilon_inf"):
        parse_config({**base, "phonons": {"reference": "p.yaml", "epsilon_inf": "bron"}})
    for bad in ([0, 0, 0], [1, 2], "x", [1, "a", 2]):
        with pytest.raises(GafitInputError, match="q_direction"):
            parse_config({**base, "phonons": {"reference": "p.yaml", "q_direction": bad}})


def test_phonons_command_splits_lo_and_to_as_dft(tmp_path: Path) -> None:
    """gafit phonons on MgO with --epsilon-inf born: DFT's Γ along Γ-X has its LO (19.975 THz,
    dft_phonon_band.csv), gafit's too, the direction is named, ε∞ is the BORN file's."""
    need_data()
    from gafit.cli import main

    out = tmp_path / "o"
    assert main(["phonons", str(MGO), "--reference", str(DATA / "phonopy_disp.yaml"), "--npoints",
                 "5", "--epsilon-inf", "born", "--out", str(out)]) == 0
    with open(out / "errors.csv", newline="") as fh:
        rows = {r["point"]: r for r in csv.DictReader(fh)}
    ref = [float(x) for x in rows["Gamma"]["reference_THz"].split()]
    mine = [float(x) for x in rows["Gamma"]["gafit_THz"].split()]
    assert ref[3:] == pytest.approx([11.198, 11.198, 19.975], abs=1e-3)
    assert mine[5] > mine[4] + 5  # LO above TO
    assert rows["Gamma"]["q_direction"] == "Gamma-X: 0.5 0 0.5"
    assert "ε∞ = 3.381 (BORN)" in rows["whole path"]["nac"]
    summary = json.loads((out / "phonons.json").read_text())
    assert np.allclose(summary["nac"]["epsilon_inf"], born_epsilon() * np.eye(3))
    assert summary["nac"]["born_charges_e"] == {"Mg1": 1.7, "O2": -1.7}


def test_phonons_command_epsilon_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from gafit.cli import main

    args = ["phonons", str(MGO), "--structure", "rocksalt", "--lattice-constant", "4.2",
            "--supercell", "1", "1", "1", "--out", str(tmp_path / "o")]
    assert main([*args, "--epsilon-inf", "x"]) == 2
    assert "--epsilon-inf = 'x'" in capsys.readouterr().err
    assert main([*args, "--epsilon-inf", "born"]) == 2
    assert "there is no reference" in capsys.readouterr().err
    assert not (tmp_path / "o" / "phonons.png").exists()


def test_target_from_a_band_file_keeps_its_gamma_direction() -> None:
    """A Γ row of dft_phonon_band.csv was computed by phonopy along Γ-X: the target takes gafit's LO
    along the same direction (phonopy's own frequencies for the same force constants and NAC)."""
    need_data()
    pot = henkelman()
    config = PhononTargetConfig(DATA / "dft_phonon_band.csv", qpoints="GX",
                                structure=DATA / "POSCAR-unitcell", supercell=[1, 1, 1],
                                epsilon_inf="born")
    target = PhononTarget.build(pot, config)
    assert target.reference[0, 3:] == pytest.approx([11.198, 11.198, 19.975], abs=1e-3)
    assert target.directions is not None
    np.testing.assert_allclose(target.directions[0], [-0.5, 0, -0.5])  # phonopy: start - end
    eps = born_epsilon() * np.eye(3)
    ph = make_phonopy(pot, read(DATA / "POSCAR-unitcell"), [1, 1, 1], dielectric=eps)
    want = frequencies_at(ph, target.qpoints, target.directions)
    got = target.frequencies(pot.values[None])[0]
    np.testing.assert_allclose(got[:, 3:], want[:, 3:], atol=1e-8)
    assert got[0, 5] > got[0, 4] + 3
    assert target.table(pot.values)[0]["q_direction"] == "-0.5 0 -0.5"
    # another direction, given: the same LO for a cubic crystal, named in the table
    other = PhononTarget.build(pot, PhononTargetConfig(
        DATA / "dft_phonon_band.csv", qpoints="GX", structure=DATA / "POSCAR-unitcell",
        supercell=[1, 1, 1], epsilon_inf="born", q_direction=[0.5, 0.5, 0.5]))
    assert other.table(pot.values)[0]["q_direction"] == "0.5 0.5 0.5"
    np.testing.assert_allclose(other.frequencies(pot.values[None])[0], got, atol=1e-6)


def test_fit_recovers_a_charge_from_lo_and_to(tmp_path: Path) -> None:
    """A phonopy data set with a BORN file (ε∞ = 2) made from Henkelman MgO: a fit of Mg's charge
    (O neutral) to its Γ (TO and, along Γ-X, LO) and X phonons with epsilon_inf = "born" finds 1.7;
    with ε∞ = 1 the same charge leaves the LO wrong, so the NAC term is what the fit matches."""
    from gafit.evaluate import evaluate_potential
    from gafit.fitting import Fit
    from gafit.io import write_reference
    from gafit.structures import ReferenceSet, Structure

    pot = henkelman()
    cell = bulk("MgO", "rocksalt", a=4.2, cubic=True)
    ph = make_phonopy(pot, cell, [1, 1, 1])
    ph.save(str(tmp_path / "phonopy_params.yaml"), settings={"force_sets": True})
    z = pot.named_values()["Mg.q"]
    (tmp_path / "BORN").write_text("14.399645\n2 0 0 0 2 0 0 0 2\n"
                                   f"{z} 0 0 0 {z} 0 0 0 {z}\n{-z} 0 0 0 {-z} 0 0 0 {-z}\n")
    predicted, _ = evaluate_potential(pot, ReferenceSet([Structure(cell, name="cell")]))
    write_reference(predicted, tmp_path / "cell.extxyz")  # for the formula unit of "neutral"
    params = {k: v for k, v in pot.named_values().items() if not k.endswith((".q", ".E0"))}
    config = parse_config({
        "data": {"train": str(tmp_path / "cell.extxyz")},
        "potential": {"form": "buckingham", "species": ["Mg", "O"], "cutoff": 10.0,
                      "charges": {"Mg": [1.2, 2.2], "O": "neutral"}, "parameters": params},
        "weights": {"energy": 0.0, "forces": 1.0},
        "phonons": {"reference": str(tmp_path / "phonopy_params.yaml"), "qpoints": "GX",
                    "epsilon_inf": "born", "weight": 1.0},
        "ga": {"population": 12, "generations": 4, "seed": 3},
    })
    result = Fit.from_config(config).run(tmp_path / "out", quiet=True)
    fitted = result.potential.named_values()
    assert fitted["Mg.q"] == pytest.approx(z, abs=1e-4)
    assert result.rmse["train"]["phonons"] < 1e-3
    gamma = result.phonons[0][0]
    assert gamma["label"] == "Γ" and gamma["q_direction"] == "0.5 0 0.5"
    assert gamma["reference"][5] > gamma["reference"][4] + 3  # the reference's LO
    wrong = PhononTarget.build(pot, PhononTargetConfig(tmp_path / "phonopy_params.yaml",
                                                       qpoints="GX", epsilon_inf=1.0))
    assert np.abs(wrong.differences(pot.values[None])).max() > 1.0


def test_epsilon_of_a_potential_without_charges_is_said_to_be_ignored(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from gafit.cli import main

    args = ["phonons", str(ROOT / "potentials" / "Cu_Morse_Girifalco_Weizer_1959.json"), "--structure",
            "fcc", "--supercell", "2", "2", "2", "--npoints", "3", "--out", str(tmp_path / "o")]
    assert main(args) == 0
    assert "--epsilon-inf" not in capsys.readouterr().out
    assert main([*args, "--epsilon-inf", "2"]) == 0
    assert "note: --epsilon-inf ignored: the potential has no Coulomb charges" in capsys.readouterr().out
    assert "nac" not in json.loads((tmp_path / "o" / "phonons.json").read_text())
