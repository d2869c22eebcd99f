"""Equation of state fitted to energies integrated from the pressure (gafit.properties.equation_of_state).

A Buckingham term cut off without a shift (as LAMMPS's buck/coul/long) puts a step into E(V) whenever a
pair crosses the cutoff; no force or stress sees it. In a 36-atom sodalite cell the steps moved the EOS
minimum 3 % below the zero-stress volume and gave B = 40.5 GPa beside Reuss/Voigt bounds 11.7/24.5 GPa.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from ase.units import GPa
from helpers import ROOT, shared_file

from gafit import crystals
from gafit.potential_files import load_potential
from gafit.properties import elastic_tensor, equation_of_state, pressure_energies
from gafit.stability import voigt_reuss_bulk

SIO2_ZEOLITE = ROOT / "potentials" / "SiO2_zeolite_buck_coul.json"


def test_pressure_energies_integrate_a_birch_murnaghan_pressure() -> None:
    # third-order Birch-Murnaghan E(V) and its analytic P = -dE/dV (V0 10 Å³, B0 1 eV/Å³, B0' 4.5)
    v0, b0, bp = 10.0, 1.0, 4.5

    def energy(v: np.ndarray) -> np.ndarray:
        eta = (v0 / v) ** (2 / 3)
        return 9 * v0 * b0 / 16 * ((eta - 1) ** 3 * bp + (eta - 1) ** 2 * (6 - 4 * eta))

    def pressure(v: np.ndarray) -> np.ndarray:
        eta = (v0 / v) ** (2 / 3)
        return 1.5 * b0 * (eta ** 3.5 - eta ** 2.5) * (1 + 0.75 * (bp - 4) * (eta - 1))

    v = np.linspace(9.5, 10.5, 11)
    e = pressure_energies(v, pressure(v), float(energy(v)[3]), 3)
    assert np.abs(e - energy(v)).max() < 1e-6 * np.ptp(energy(v))


@pytest.mark.skipif(not SIO2_ZEOLITE.is_file(), reason="no potentials/SiO2_zeolite_buck_coul.json")
def test_sodalite_eos_bulk_modulus_lies_within_the_tensor_bounds() -> None:
    frames = shared_file("SiO2_zeolite_SiZEO22/sod_every10th.extxyz")
    pot = load_potential(SIO2_ZEOLITE)
    cell = crystals.relax(pot, crystals.read_structure(frames)).atoms
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy logm accuracy notes of the cell filter
        eos = equation_of_state(pot, cell)
        c_rel, _ = elastic_tensor(pot, cell)
    voigt, reuss = voigt_reuss_bulk((c_rel + c_rel.T) / 2)
    # the zero-stress volume of the relaxation is the EOS minimum, and P = 0 there
    assert eos.volume == pytest.approx(cell.get_volume() / len(cell), rel=1e-3)
    assert abs(eos.pressures[len(eos.pressures) // 2]) < 1e-4
    # isotropic scaling with the ions relaxed: B is the Voigt bound of the relaxed-ion tensor (up to the
    # anharmonicity of ±5 % volume against ±0.5 % strain), and never outside the Reuss-Voigt bounds
    assert reuss <= eos.bulk_modulus <= voigt * 1.05
    assert eos.bulk_modulus == pytest.approx(voigt, rel=0.05)
    # the pressures are the stress of the potential: B from their slope at V0 agrees with the fit
    slope = np.gradient(eos.pressures * GPa, eos.volumes)[len(eos.volumes) // 2]
    assert -eos.volume * slope / GPa == pytest.approx(eos.bulk_modulus, rel=0.05)
