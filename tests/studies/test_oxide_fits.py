"""The shipped rigid-ion oxide fits (potentials/MgO_buck_coul.*, potentials/ZnO_buck_coul.*) meet what
issue 12 asks of them, against the DFT data they were fitted to (../shared/data; skipped without it):
MgO's lattice constant, stress at the DFT cell, TO and LO at Γ (NAC with the model's charges as Born
charges and the ε∞ of the BORN file); ZnO's cell and mechanically stable elastic constants. The targets
are the issue's numbers and the DFT data's, not the potentials' own."""

from __future__ import annotations

import numpy as np
import pytest
from ase.io import read
from helpers import ROOT, shared_file
from phonopy.file_IO import parse_BORN

from gafit.crystals import relax
from gafit.nac import set_model_nac
from gafit.phonons import load_reference, make_phonopy, to_ase_atoms
from gafit.potential import Potential
from gafit.potential_files import load_potential
from gafit.properties import elastic_tensor
from gafit.structures import GPa, ReferenceSet, Structure

POTENTIALS = ROOT / "potentials"


def _stress_at(potential: Potential, atoms) -> np.ndarray:
    """Voigt stress (GPa, tensile positive) of ``atoms`` under ``potential``."""
    tables = potential.build_tables(ReferenceSet([Structure(atoms)], "cell"))
    return potential.evaluate(potential.values[None], tables).virial[0, 0] / atoms.get_volume() / GPa


@pytest.mark.parametrize("name", ["MgO_buck_coul", "ZnO_buck_coul"])
def test_shipped_pair_lmp_holds_the_shipped_potential(name: str) -> None:
    pot = load_potential(POTENTIALS / f"{name}.json")
    back = load_potential(POTENTIALS / f"{name}.lmp")
    assert back.species == pot.species
    assert [f.name for f in back.forms] == [f.name for f in pot.forms]
    np.testing.assert_allclose(back.values, pot.values, rtol=1e-12, atol=1e-12)


def test_mgo_fit_meets_the_targets_of_issue_12() -> None:
    disp = shared_file("phonopy_MgO/phonopy_disp.yaml")
    pot = load_potential(POTENTIALS / "MgO_buck_coul.json")
    ref = load_reference(disp)
    unit = to_ase_atoms(ref.phonopy.unitcell)
    supercell = to_ase_atoms(ref.phonopy.supercell)
    assert np.abs(_stress_at(pot, supercell)).max() < 0.5  # GPa, at the DFT cell
    cell = relax(pot, unit).atoms
    assert cell.cell.cellpar()[0] == pytest.approx(4.256, rel=0.005)
    ph = make_phonopy(pot, cell, ref.phonopy.supercell_matrix)
    ph.run_qpoints([[0, 0, 0]])
    to = np.sort(ph.qpoints.frequencies[0])[3:]
    assert to == pytest.approx([11.20] * 3, rel=0.02)
    dielectric = parse_BORN(ph.primitive, filename=str(disp.parent / "BORN"))["dielectric"]
    assert set_model_nac(ph, pot, dielectric) is not None
    ph.run_qpoints([[0, 0, 0]], nac_q_direction=[0.5, 0, 0.5])  # towards X
    lo = np.sort(ph.qpoints.frequencies[0])[-1]
    assert lo == pytest.approx(19.97, rel=0.05)


def test_zno_fit_cell_and_born_stable_elastic_constants() -> None:
    poscar = shared_file("phonopy_ZnO/POSCAR-unitcell")
    pot = load_potential(POTENTIALS / "ZnO_buck_coul.json")
    cell = relax(pot, read(poscar)).atoms
    a, _, c = cell.cell.cellpar()[:3]
    assert (a, c) == (pytest.approx(3.2872, rel=0.005), pytest.approx(5.3046, rel=0.005))
    # relaxed-ion, GPa, c along z; at ±0.2 % strain: the central differences' O(strain²) error is
    # 1.35e-3 of C66 - (C11 - C12)/2 at gafit's default ±0.5 % for this set (2.3e-4 at ±0.2 %, LAMMPS
    # shows the same at ±0.5 %: docs/oxides/lammps_elastic.py), which is not a broken symmetry
    cij, _ = elastic_tensor(pot, cell, strain=0.002)
    c11, c12, c13, c33, c44, c66 = cij[0, 0], cij[0, 1], cij[0, 2], cij[2, 2], cij[3, 3], cij[5, 5]
    assert c11 > abs(c12) and c44 > 0 and c66 > 0 and (c11 + c12) * c33 > 2 * c13**2
    assert c66 == pytest.approx((c11 - c12) / 2, rel=1e-3)  # hexagonal symmetry kept


def test_verify_measures_the_stress_of_a_fitted_equilibrium_cell_against_its_terms() -> None:
    """At the DFT cell the fitted MgO's Buckingham and Coulomb stresses (~1 eV/Å³) cancel to ~1e-5;
    LAMMPS and gafit differ there by rounding of the terms (~1e-14), which relative to the cancelled
    total read 2.4e-9 and failed `gafit verify --tolerance 1e-10`. The scale is now the largest term."""
    from gafit.io import read_reference
    from gafit.lammps.verify import term_stress_scale, verify

    data = read_reference(shared_file("phonopy_MgO/MgO_supercells_DFT.extxyz"))
    pot = load_potential(POTENTIALS / "MgO_buck_coul.json")
    total = max(np.abs(_stress_at(pot, s.atoms)).max() for s in data) * GPa  # eV/Å³
    assert term_stress_scale(pot, data) > 1e3 * total
    report = verify(pot, data)
    assert report.max_relative < 1e-10
