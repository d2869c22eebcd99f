"""Stability guards (gafit.stability): Born criteria per crystal class against the eigenvalues of the
6x6 tensor, bulk modulus bounds, imaginary phonon modes, plausibility of fitted E0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gafit.stability import (
    crystal_system,
    e0_check_of,
    e0_plausibility,
    imaginary_modes,
    mechanical_stability,
    property_flags,
    voigt_reuss_bulk,
)

ROOT = Path(__file__).resolve().parents[1]
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
    from gafit.potential import Potential

    data = read_reference(DATA / "mlearn_Si" / "Si_training.extxyz", ":20")
    pot = Potential.load(ROOT / "potentials" / "Si_Tersoff_1988.tersoff")
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
