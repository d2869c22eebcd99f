"""Stability guards (gafit.stability): Born criteria per crystal class against the eigenvalues of the
6x6 tensor, bulk modulus bounds, imaginary phonon modes, plausibility of fitted E0."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT

from gafit.stability import (
    crystal_system,
    e0_check_of,
    e0_plausibility,
    imaginary_modes,
    mechanical_stability,
    property_flags,
    voigt_reuss_bulk,
)

DATA = ROOT.parent / "shared" / "data"

# one space group of each class: system name used by the criteria
GROUPS = {"cubic": 227, "hexagonal": 186, "tetragonal": 136, "tetragonal-II": 88, "trigonal": 154,
          "trigonal-II": 148, "orthorhombic": 62}


def sym(entries: dict[tuple[int, int], float]) -> np.ndarray:
    """A symmetric 6x6 tensor from 1-based upper-triangle entries (GPa)."""
    c = np.zeros((6, 6))
    for (i, j), v in entries.items():
        c[i - 1, j - 1] = c[j - 1, i - 1] = v
    return c


def cubic(c11: float, c12: float, c44: float) -> np.ndarray:
    return sym({(1, 1): c11, (2, 2): c11, (3, 3): c11, (1, 2): c12, (1, 3): c12, (2, 3): c12,
                (4, 4): c44, (5, 5): c44, (6, 6): c44})


def hexagonal(c11: float, c12: float, c13: float, c33: float, c44: float) -> np.ndarray:
    return sym({(1, 1): c11, (2, 2): c11, (3, 3): c33, (1, 2): c12, (1, 3): c13, (2, 3): c13,
                (4, 4): c44, (5, 5): c44, (6, 6): (c11 - c12) / 2})


def tetragonal(c11: float, c12: float, c13: float, c33: float, c44: float, c66: float,
               c16: float = 0.0) -> np.ndarray:
    return sym({(1, 1): c11, (2, 2): c11, (3, 3): c33, (1, 2): c12, (1, 3): c13, (2, 3): c13,
                (4, 4): c44, (5, 5): c44, (6, 6): c66, (1, 6): c16, (2, 6): -c16})


def trigonal(c11: float, c12: float, c13: float, c33: float, c44: float, c14: float,
             c15: float = 0.0) -> np.ndarray:
    return sym({(1, 1): c11, (2, 2): c11, (3, 3): c33, (1, 2): c12, (1, 3): c13, (2, 3): c13,
                (4, 4): c44, (5, 5): c44, (6, 6): (c11 - c12) / 2, (1, 4): c14, (2, 4): -c14,
                (5, 6): c14, (1, 5): c15, (2, 5): -c15, (4, 6): -c15})


def orthorhombic(c: tuple[float, ...]) -> np.ndarray:
    c11, c22, c33, c12, c13, c23, c44, c55, c66 = c
    return sym({(1, 1): c11, (2, 2): c22, (3, 3): c33, (1, 2): c12, (1, 3): c13, (2, 3): c23,
                (4, 4): c44, (5, 5): c55, (6, 6): c66})


def random_tensor(system: str, rng: np.random.Generator) -> np.ndarray:
    """A tensor of the class's form with values that are stable about half of the time."""
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    if system == "cubic":
        return cubic(u(50, 200), u(-60, 220), u(-20, 100))
    if system == "hexagonal":
        return hexagonal(u(50, 200), u(-50, 220), u(-100, 150), u(50, 250), u(-20, 80))
    if system == "tetragonal":
        return tetragonal(u(50, 200), u(-50, 220), u(-100, 150), u(50, 250), u(-20, 80), u(-20, 80))
    if system == "tetragonal-II":
        return tetragonal(u(50, 200), u(-50, 150), u(-80, 120), u(50, 250), u(5, 80), u(5, 80),
                          u(-60, 60))
    if system in ("trigonal", "trigonal-II"):
        c15 = u(-40, 40) if system == "trigonal-II" else 0.0
        return trigonal(u(50, 200), u(-50, 150), u(-80, 120), u(50, 250), u(5, 80), u(-60, 60), c15)
    return orthorhombic(tuple([u(30, 200) for _ in range(3)] + [u(-80, 150) for _ in range(3)]
                              + [u(-10, 80) for _ in range(3)]))


@pytest.mark.parametrize("system", list(GROUPS))
def test_class_criteria_agree_with_eigenvalues(system):
    """The class's Born conditions hold exactly when every eigenvalue of the 6x6 tensor is positive
    (they are necessary and sufficient), on random tensors of the class's form."""
    rng = np.random.default_rng(13)
    seen = set()
    for _ in range(400):
        c = random_tensor(system, rng)
        stable = bool(np.linalg.eigvalsh(c).min() > 0)
        res = mechanical_stability(c, GROUPS[system])
        assert res.system == system
        assert res.stable == stable
        assert all(k.holds for k in res.criteria) == stable
        assert bool(res.flags) == (not stable)
        seen.add(stable)
    assert seen == {True, False}  # both kinds were tried


def test_cubic_examples():
    si = cubic(166, 64, 80)  # silicon, experiment
    assert mechanical_stability(si, 227).flags == []
    soft = mechanical_stability(cubic(100, 120, 50), 227)
    assert not soft.stable
    assert len(soft.flags) == 1 and "C11 > |C12|" in soft.flags[0] and "cubic" in soft.flags[0]
    shear = mechanical_stability(cubic(166, 64, -3), 225)
    assert [f for f in shear.flags if "C44 = -3 GPa" in f]


def test_zno_like_tensor_with_negative_c66_is_flagged():
    """The issue's ZnO fit: C66 = -4.24 GPa (C12 above C11) in a wurtzite (P6_3mc, 186) tensor."""
    c11 = 190.0
    c = hexagonal(c11, c11 + 2 * 4.24, 105, 211, 44)
    assert c[5, 5] == pytest.approx(-4.24)
    res = mechanical_stability(c, 186)
    assert not res.stable and res.system == "hexagonal"
    text = "\n".join(res.flags)
    assert "C66 = -4.24 GPa <= 0: mechanically unstable (hexagonal Born criterion C66 > 0)" in text
    assert "C11 > |C12|" in text
    assert mechanical_stability(hexagonal(209, 121, 105, 211, 44), 186).stable  # ZnO, experiment


def test_class_criteria_name_the_failed_condition():
    rutile = tetragonal(268, 175, 147, 484, 124, 190)
    assert mechanical_stability(rutile, 136).stable
    bad = mechanical_stability(tetragonal(268, 175, 350, 484, 124, 190), 136)
    assert [f for f in bad.flags if "2 C13² < C33 (C11 + C12)" in f]
    scheelite = tetragonal(144, 64, 45, 127, 33, 45, -16)
    assert mechanical_stability(scheelite, 88).stable
    bad = mechanical_stability(tetragonal(144, 64, 45, 127, 33, 45, 50), 88)
    assert [f for f in bad.flags if "2 C16² < C66 (C11 - C12)" in f]
    quartz = trigonal(86.8, 7.0, 19.1, 105.8, 58.2, -18.0)
    assert mechanical_stability(quartz, 154).stable
    bad = mechanical_stability(trigonal(86.8, 7.0, 19.1, 105.8, 58.2, 50.0), 154)
    assert [f for f in bad.flags if "C14² + C15² < C44 (C11 - C12)/2" in f]
    ortho = (100, 120, 110, 40, 30, 35, 30, 25, 20)
    assert mechanical_stability(orthorhombic(ortho), 62).stable
    bad = mechanical_stability(orthorhombic(ortho[:7] + (-5, 20)), 62)
    assert [f for f in bad.flags if "C55 = -5 GPa" in f]


def test_general_criterion_off_axes_and_low_symmetry():
    """A tensor not of its class's form on its axes (a rotated cell) and monoclinic crystals get the
    general criterion; the smallest eigenvalue is named."""
    c = cubic(100, 120, 50)
    c[0, 4] = c[4, 0] = 30.0  # not cubic form on these axes
    res = mechanical_stability(c, 227)
    assert res.system == "general" and not res.stable
    assert f"{np.linalg.eigvalsh(c).min():.4g} GPa" in res.flags[0]
    mono = mechanical_stability(orthorhombic((100, 120, 110, 40, 30, 35, 30, 25, 20)), 14)
    assert mono.system == "general" and mono.stable


def test_crystal_systems():
    assert [crystal_system(n) for n in (1, 14, 62, 81, 139, 146, 166, 194, 229)] == [
        "triclinic", "monoclinic", "orthorhombic", "tetragonal-II", "tetragonal", "trigonal-II",
        "trigonal", "hexagonal", "cubic"]
    with pytest.raises(ValueError):
        crystal_system(231)


def test_bulk_modulus_against_voigt_reuss():
    """Cubic: Voigt = Reuss = (C11 + 2 C12)/3; the sodalite case (B 0.30 GPa beside C22 = 111) is
    flagged; an orthorhombic tensor's bounds bracket each other."""
    bv, br = voigt_reuss_bulk(cubic(166, 64, 80))
    assert bv == pytest.approx((166 + 2 * 64) / 3) and br == pytest.approx(bv)
    props = {"cubic": True, "spacegroup": "Fd-3m (227)", "C11": 166, "C12": 64, "C44": 80, "B": 97}
    assert property_flags(props)["flags"] == []
    ortho = orthorhombic((95, 111, 80, 40, 30, 35, 30, 25, 20))
    bv, br = voigt_reuss_bulk(ortho)
    assert br < bv
    props = {"cubic": False, "spacegroup": "P-43n (218)", "B": 0.30}
    props |= {f"C{i + 1}{j + 1}": ortho[i, j] for i in range(6) for j in range(i, 6)}
    flags = property_flags(props)["flags"]
    assert len(flags) == 1 and "B = 0.3 GPa (EOS) is outside" in flags[0]
    props["B"] = (bv + br) / 2
    assert property_flags(props)["flags"] == []


def test_imaginary_modes_skip_gamma_acoustic():
    f = np.array([[-0.03, -0.01, 0.02, 15.0, 15.0, 15.5],   # Γ: acoustic noise, not counted
                  [2.0, 2.0, 4.0, 13.0, 14.0, 14.0],
                  [-1.5, -0.2, 5.0, 12.0, 13.0, 14.0]])     # two imaginary modes
    res = imaginary_modes(f, [True, False, False], ["Γ", "", "X"])
    assert (res.count, res.n_qpoints, res.lowest, res.where) == (2, 1, -1.5, "X")
    assert "2 imaginary modes" in res.flags[0]
    g = f.copy()
    g[0, 3] = -0.5  # an optical mode at Γ is counted
    assert imaginary_modes(g, [True, False, False]).count == 3
    assert imaginary_modes(f[:2], [True, False]).flags == []


def test_e0_plausibility_rules():
    """The issue's Si fit: E0 +8.41 eV/atom, the form's own -13.1 eV/atom on data at -4.63."""
    res = e0_plausibility(np.array([-4.63, -4.5]), np.array([-13.1, -12.9]), np.array([8.47, 8.4]))
    assert not res.plausible and len(res.flags) == 2
    assert "-13.1 eV/atom" in res.flags[0] and "+8.47" in res.flags[1]
    ok = e0_plausibility(np.array([-5.42]), np.array([-4.63]), np.array([-0.79]))
    assert ok.plausible
    unbound = e0_plausibility(np.array([-5.42]), np.array([0.5]), np.array([-5.92]))
    assert [f for f in unbound.flags if "does not bind" in f]
    # all-electron totals (FHI-aims, -7900 eV/atom): large E0 are legitimate
    assert e0_plausibility(np.array([-7901.2]), np.array([-4.6]), np.array([-7896.6])).plausible
    # EMT-like data referenced to the crystal (near 0): no cohesive scale to compare with
    assert e0_plausibility(np.array([-0.01]), np.array([-3.5]), np.array([3.49])).plausible
    # Coulomb forms are referenced to separated ions: deep form energies are not flagged
    assert e0_plausibility(np.array([-5.9]), np.array([-21.0]), np.array([15.1]), coulomb=True).plausible
    assert e0_plausibility(np.array([np.nan]), np.array([-1.0]), np.array([0.0])) is None


@pytest.mark.skipif(not (DATA / "mlearn_Si").is_dir(), reason="needs ../shared/data/mlearn_Si")
def test_e0_check_of_a_potential_on_data():
    """Si Tersoff 1988 (E0 = 0) on mlearn_Si's VASP energies is plausible; the same form with
    E0 = +8.41 eV/atom is flagged."""
    from gafit.evaluate import evaluate
    from gafit.io import read_reference
    from gafit.potential_files import load_potential

    data = read_reference(DATA / "mlearn_Si" / "Si_training.extxyz", ":20")
    pot = load_potential(ROOT / "potentials" / "Si_Tersoff_1988.tersoff")
    ev = evaluate(pot, data)
    res = e0_check_of(pot, data, ev.energy, ev.e0)
    assert res.plausible and res.e0_energy == 0
    values = pot.values.copy()
    values[pot.e0_slice] = 8.41
    shifted = pot.with_values(values)
    ev2 = evaluate(shifted, data)
    res2 = e0_check_of(shifted, data, ev2.energy, ev2.e0)
    assert res2.form_energy == pytest.approx(res.form_energy)
    assert not res2.plausible and res2.e0_energy == pytest.approx(8.41)


# --------------------------------------------------------------------------- where the flags are printed


CU_MORSE = ROOT / "potentials" / "Cu_Morse_Girifalco_Weizer_1959.json"


def test_properties_flags_an_unstable_crystal(tmp_path, capsys):
    """Morse copper in a simple cubic cell has C44 < 0: `gafit properties` prints a '! ...' line
    naming the cubic criterion (exit 0) and records it in --out; fcc copper gets the 'stable' line."""
    from gafit.cli import main

    out = tmp_path / "sc.json"
    assert main(["properties", str(CU_MORSE), "--structure", "sc:2.4", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    doc = json.loads(out.read_text(encoding="utf-8"))
    props = doc["properties"]
    assert props["C44"] < 0  # computed by gafit.properties, checked here by its sign
    assert f"! C44 = {props['C44']:.4g} GPa <= 0: mechanically unstable (cubic Born criterion C44 > 0)" \
        in text
    assert doc["stability"]["mechanical"]["stable"] is False
    assert doc["stability"]["flags"] and all(f in text for f in doc["stability"]["flags"])
    assert main(["properties", str(CU_MORSE), "--structure", "fcc"]) == 0
    text = capsys.readouterr().out
    assert "!" not in text and "stable: elastic tensor positive definite (cubic Born criteria hold" in text


def test_phonons_flag_imaginary_modes(tmp_path, capsys):
    """The same unstable simple cubic Morse copper has imaginary modes on the path (band.csv, read
    back independently); fcc copper has none."""
    import csv

    from gafit.cli import main

    assert main(["phonons", str(CU_MORSE), "--structure", "sc:2.4", "--supercell", "3", "3", "3",
                 "--out", str(tmp_path / "sc")]) == 0
    text = capsys.readouterr().out
    with open(tmp_path / "sc" / "band.csv", encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh) if r and not r[0].startswith("#")][1:]
    freq = np.array([[float(x) for x in r[7:]] for r in rows])
    lowest = freq.min()
    assert lowest < -1.0
    flagged = [line for line in text.splitlines() if line.startswith("! ")]
    assert len(flagged) == 1 and "imaginary mode" in flagged[0] and f"{lowest:.3f} THz" in flagged[0]
    summary = json.loads((tmp_path / "sc" / "phonons.json").read_text(encoding="utf-8"))
    assert summary["imaginary_modes"]["count"] > 0 and summary["imaginary_modes"]["flags"] == flagged
    assert main(["phonons", str(CU_MORSE), "--structure", "fcc", "--supercell", "3", "3", "3",
                 "--out", str(tmp_path / "fcc")]) == 0
    text = capsys.readouterr().out
    assert "! " not in text and "no imaginary modes on the path" in text


def _small_si_data(tmp_path: Path) -> Path:
    from ase.io import read, write

    frames = read(DATA / "mlearn_Si" / "Si_training.extxyz", ":12")
    path = tmp_path / "si12.extxyz"
    write(path, frames)
    return path


@pytest.mark.skipif(not (DATA / "mlearn_Si").is_dir(), reason="needs ../shared/data/mlearn_Si")
def test_evaluate_and_check_flag_implausible_e0(tmp_path, capsys):
    """The published Si Tersoff with E0 = +8.41 eV/atom on VASP data (-5.4 eV/atom): `gafit
    evaluate` and `gafit check --potential` print the E0 flag; with E0 = 0 they do not."""
    from gafit.cli import main
    from gafit.potential_files import load_potential, save_potential

    data = _small_si_data(tmp_path)
    pot = load_potential(ROOT / "potentials" / "Si_Tersoff_1988.tersoff")
    values = pot.values.copy()
    values[pot.e0_slice] = 8.41
    save_potential(pot.with_values(values), tmp_path / "shifted.json")
    save_potential(pot, tmp_path / "plain.json")
    for name, flagged in (("shifted.json", True), ("plain.json", False)):
        assert main(["evaluate", str(tmp_path / name), str(data)]) == 0
        text = capsys.readouterr().out
        assert ("implausible E0" in text) == flagged, text
        main(["check", str(data), "--potential", str(tmp_path / name)])
        text = capsys.readouterr().out
        assert ("warning: E0 part +8.41 eV/atom exceeds" in text) == flagged, text


def test_fit_summary_and_report_flag_implausible_e0(tmp_path):
    """A Morse fit to EMT copper (energies near 0 eV/atom) with E0 fixed at +12 eV/atom must give the
    form about -12 eV/atom: summary.json, the fit summary and the report flag it."""
    from helpers import demo_config, to_toml

    from gafit.config import load_config
    from gafit.evaluate import evaluate
    from gafit.fitting import Fit
    from gafit.io import read_reference
    from gafit.potential_files import load_potential
    from gafit.report import write_report

    table = demo_config()
    table["data"]["validation_fraction"] = 0.0
    table["potential"]["parameters"]["Cu.E0"] = 12.0
    table["potential"]["parameters"]["Cu-Cu.D0"] = [0.05, 6.0]
    table["potential"]["parameters"]["Cu-Cu.r0"] = [2.0, 3.5]
    (tmp_path / "config.toml").write_text(to_toml(table), encoding="utf-8")
    run = tmp_path / "run"
    result = Fit.from_config(load_config(tmp_path / "config.toml")).run(run, quiet=True)
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    check = summary["e0_check"]
    # the form's own energy per atom at the data's lowest-energy structure, recomputed with E0 = 0
    pot = load_potential(run / "potential.json")
    values = pot.values.copy()
    values[pot.e0_slice] = 0.0
    data = read_reference(table["data"]["train"])
    ev = evaluate(pot.with_values(values), data)
    n = np.array([st.n_atoms for st in data])
    ref = np.array([st.energy for st in data]) / n
    ground = int(np.argmin(ref))
    form = ev.energy[ground] / n[ground]
    assert form < -10  # the fit had to put the form this deep
    assert check["form_energy"] == pytest.approx(form, rel=1e-9)
    flags = [f for f in check["flags"] if "cohesive energy beyond 10 eV/atom" in f]
    assert len(flags) == 1 and flags[0] in result.summary()
    page = write_report(run).read_text(encoding="utf-8")
    assert "cohesive energy beyond 10 eV/atom" in page


def test_report_notes_imaginary_modes_at_the_fitted_qpoints():
    """summary.json's phonon rows: gafit frequencies below -0.05 THz (not Γ's acoustic) give a warning."""
    from gafit.report import _imaginary_notes

    rows = [{"label": "Γ", "gafit": [-0.02, 0.0, 0.01, 15.0, 15.0, 15.0], "reference": [0] * 6},
            {"label": "X", "gafit": [-2.5, 4.0, 4.0, 12.0, 13.0, 13.0], "reference": [0] * 6}]
    notes = _imaginary_notes(rows)
    assert len(notes) == 1 and "1 imaginary mode at 1 q-point (down to -2.500 THz at X" in notes[0].html()
    rows[1]["gafit"][0] = 2.5
    assert _imaginary_notes(rows) == []
