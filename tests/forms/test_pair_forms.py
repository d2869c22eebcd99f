"""Morse and Buckingham: LAMMPS agreement, finite differences, batching, LAMMPS file round trip."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import strain_derivative, varied_structures

from gafit.evaluate import predict
from gafit.forms.buckingham import Buckingham
from gafit.forms.morse import Morse
from gafit.lammps.files import read_pair_lmp, write_lammps
from gafit.lammps.verify import verify
from gafit.potential import Potential
from gafit.structures import GafitInputError, ReferenceSet, Structure

SPECIES = ["Cu", "Ag"]


def morse() -> Potential:
    pot = Potential(SPECIES, [Morse(SPECIES, 5.1)])
    # Cu-Cu, Cu-Ag, Ag-Ag blocks of (D0, alpha, r0), then E0 of Cu and Ag
    return pot.with_values(np.array([0.34, 1.36, 2.87, 0.30, 1.30, 2.95, 0.33, 1.37, 3.00,
                                     -1.2, -0.7]))


def buckingham() -> Potential:
    pot = Potential(SPECIES, [Buckingham(SPECIES, 6.3)])
    return pot.with_values(np.array([1200.0, 0.29, 9.0, 900.0, 0.31, 12.0, 1500.0, 0.30, 20.0,
                                     0.5, -0.25]))


POTENTIALS = {"morse": morse, "buckingham": buckingham}


@pytest.mark.parametrize("name", POTENTIALS)
def test_lammps_agreement(name: str, lammps_available: None) -> None:
    data = varied_structures(seed=3)
    report = verify(POTENTIALS[name](), data)
    assert set(report.max_rel) == {"energy", "forces", "stress"}
    for q, rel in report.max_rel.items():
        assert rel < 1e-8, (q, report.text())


def _energy(pot: Potential, st: Structure) -> float:
    return float(predict(pot, ReferenceSet([st]))[0][0])


@pytest.mark.parametrize("name", POTENTIALS)
def test_forces_are_minus_energy_gradient(name: str) -> None:
    pot = POTENTIALS[name]()
    st = varied_structures(seed=1)[0]
    forces = predict(pot, ReferenceSet([st]))[1]
    h = 1e-5
    for i in range(0, len(st.atoms), 3):
        for c in range(3):
            e = []
            for sgn in (1, -1):
                at = st.atoms.copy()
                at.positions[i, c] += sgn * h
                e.append(_energy(pot, Structure(at)))
            assert forces[i, c] == pytest.approx(-(e[0] - e[1]) / (2 * h), abs=1e-6)


@pytest.mark.parametrize("name", POTENTIALS)
def test_stress_is_strain_derivative(name: str) -> None:
    pot = POTENTIALS[name]()
    st = varied_structures(seed=2)[0]
    stress = predict(pot, ReferenceSet([st]))[2][0]
    expected = strain_derivative(lambda at: _energy(pot, Structure(at)), st.atoms)
    np.testing.assert_allclose(stress, expected, rtol=0, atol=1e-7)


def test_batch_equals_single() -> None:
    pot = morse()
    data = varied_structures(seed=4)
    tables = pot.build_tables(data)
    rng = np.random.default_rng(0)
    theta = pot.values * (1 + 0.05 * rng.normal(size=(5, pot.n_params)))
    batch = pot.evaluate(theta, tables)
    for b in range(5):
        one = pot.evaluate(theta[b : b + 1], tables)
        np.testing.assert_allclose(batch.energy[b], one.energy[0], rtol=1e-13)
        np.testing.assert_allclose(batch.forces[b], one.forces[0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(batch.virial[b], one.virial[0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", POTENTIALS)
def test_pair_lmp_round_trip(name: str, tmp_path) -> None:
    pot = POTENTIALS[name]()
    path = write_lammps(pot, tmp_path)
    back = read_pair_lmp(path)
    assert back.species == pot.species
    assert back.forms[0].cutoff == pot.forms[0].cutoff
    np.testing.assert_array_equal(back.values, pot.values)


def test_cutoff_is_hard_and_strict() -> None:
    """A pair at exactly the cutoff does not interact (LAMMPS uses r² < rc²)."""
    from ase import Atoms

    pot = Potential(["Cu"], [Morse(["Cu"], 3.0)]).with_values(np.array([0.3, 1.3, 2.8, 0.0]))
    inside = Atoms("Cu2", positions=[[0, 0, 0], [2.999999, 0, 0]])
    at_cut = Atoms("Cu2", positions=[[0, 0, 0], [3.0, 0, 0]])
    e_in = predict(pot, ReferenceSet([Structure(inside)]))[0][0]
    e_cut = predict(pot, ReferenceSet([Structure(at_cut)]))[0][0]
    x = np.exp(-1.3 * (2.999999 - 2.8))
    assert e_in == pytest.approx(0.3 * (x * x - 2 * x), rel=1e-12)
    assert e_cut == 0.0


@pytest.mark.parametrize("body, message", [
    ("pair_style morse 6\npair_coeff 1 1 0.3 1.3 x\n", "line 3: r0 'x' is not a number"),
    ("pair_style morse 6\npair_coeff 1 3 0.3 1.3 2.8\n", "line 3: atom type 3 is outside"),
    ("pair_style morse 6\npair_coeff 1 1 0.3 1.3\n", "line 3: pair_coeff 1 1 0.3 1.3: expected"),
    ("pair_style lj/cut 6\n", "line 2: pair_style 'lj/cut' is not a gafit form"),
    ("pair_style morse 6\nmass 1 63.5\n", "line 3: expected pair_style or pair_coeff"),
])
def test_malformed_pair_lmp_names_the_line(tmp_path, body: str, message: str) -> None:
    path = tmp_path / "pair.lmp"
    path.write_text("# gafit species: Cu Ag\n" + body)
    with pytest.raises(GafitInputError, match=message):
        read_pair_lmp(path)


@pytest.mark.parametrize("name", POTENTIALS)
def test_fused_kernel_equals_numpy_path(name: str) -> None:
    from gafit.forms import pair_kernel

    if not pair_kernel.available():
        pytest.skip("numba is not installed")
    pot = POTENTIALS[name]()
    data = varied_structures(seed=5)
    tab = pot.build_tables(data).form_tables[0]
    rng = np.random.default_rng(1)
    theta = pot.values[:9] * (1 + 0.05 * rng.normal(size=(7, 9)))
    fused = pot.forms[0].evaluate(theta, tab)
    plain = pot.forms[0].evaluate_numpy(theta, tab)
    for a, b in ((fused.energy, plain.energy), (fused.forces, plain.forces),
                 (fused.virial, plain.virial)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())
