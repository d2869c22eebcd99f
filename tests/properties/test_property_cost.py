"""Cheaper [[properties]] tabulation: the strained and displaced cells that the crystal's symmetry
gives from others are not tabulated, and the values stay those of the full tabulation."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.spacegroup import crystal
from test_property_target import CU, KEYS, SI_TERSOFF, cu_morse, si_vectors

from gafit.forms.morse import Morse
from gafit.potential import Potential
from gafit.potential_files import load_potential
from gafit.property_cubic import PropertyCell
from gafit.property_target import PropertyTargetConfig, read_property_structure


def _cells(pot: Potential, structure: str, species: list[str] | None = None,
           a: float | None = None) -> tuple[PropertyCell, PropertyCell]:
    atoms, a0 = read_property_structure(PropertyTargetConfig("C44", 1.0, 1.0, structure, species, a))
    return (PropertyCell.build(pot, atoms, a0, True, "test", reduce=False),
            PropertyCell.build(pot, atoms, a0, True, "test"))


@pytest.mark.skipif(not SI_TERSOFF.is_file(), reason="no potentials/Si_Tersoff_1988.tersoff")
@pytest.mark.parametrize("conventional", [False, True])
def test_diamond_needs_four_cells_per_scale(tmp_path: Path, conventional: bool) -> None:
    """Diamond Si, Tersoff: ±ε1, +ε4 (−ε4 is its image under the 4-fold axis along x) and one
    displacement (the others are its images under the site's −43m) instead of 10 (primitive cell)
    or 46 (conventional cell) per scale; the values equal the full tabulation's to rounding."""
    pot = load_potential(SI_TERSOFF)
    if conventional:
        ase.io.write(tmp_path / "si.cif", bulk("Si", "diamond", 5.43, cubic=True))
        full, reduced = _cells(pot, str(tmp_path / "si.cif"))
    else:
        full, reduced = _cells(pot, "diamond", ["Si"], 5.43)
    assert (full.n_cells, reduced.n_cells) == ((46, 4) if conventional else (10, 4))
    theta = si_vectors()
    want, got = full.values(pot, theta), reduced.values(pot, theta)
    for k in KEYS:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10, err_msg=k)


def test_a15_internal_relaxation_survives_the_reduction(tmp_path: Path) -> None:
    """β-W (A15), Morse: atoms of two orbits that move under ε1 and ε4; 6 cells per scale
    instead of 46 give the full tabulation's relaxed C11, C12, C44."""
    atoms = crystal(["Cu", "Cu"], [(0, 0, 0), (0.25, 0, 0.5)], spacegroup=223,
                    cellpar=[5.05, 5.05, 5.05, 90, 90, 90])
    ase.io.write(tmp_path / "a15.cif", atoms)
    pot = Potential(["Cu"], [Morse(["Cu"], 3.45)]).with_values(CU)
    full, reduced = _cells(pot, str(tmp_path / "a15.cif"))
    assert reduced.n_cells < full.n_cells
    want, got = full.values(pot, CU[None]), reduced.values(pot, CU[None])
    for k in KEYS:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10, err_msg=k)


def test_fcc_conventional_cell() -> None:
    """fcc Cu's conventional cell (4 atoms, a structure file's cell): 4 cells instead of 22."""
    theta = np.vstack([CU, CU * [1.1, 0.95, 1.01, 1.0]])
    atoms = bulk("Cu", "fcc", 3.6, cubic=True)
    full = PropertyCell.build(cu_morse(), atoms, 3.6, True, "test", reduce=False)
    reduced = PropertyCell.build(cu_morse(), atoms, 3.6, True, "test")
    assert (full.n_cells, reduced.n_cells) == (22, 4)
    want, got = full.values(cu_morse(), theta), reduced.values(cu_morse(), theta)
    for k in KEYS:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10, err_msg=k)


@pytest.mark.skipif(not SI_TERSOFF.is_file(), reason="no potentials/Si_Tersoff_1988.tersoff")
def test_a_candidate_without_interactions_spoils_only_its_own_values(tmp_path: Path) -> None:
    """A = B = 0 (Tersoff Si) or D0 = 0 (Morse, A15's 8-atom cell): every force constant is 0. The
    batched solve of K⁻¹Λ raised LinAlgError for the whole population; now that candidate's
    relaxed-ion constants are NaN (scored bad by the objective) and the others are unchanged."""
    pot = load_potential(SI_TERSOFF)
    theta = si_vectors()
    names = list(pot.named_values())
    theta[1, [names.index("Si-Si-Si.A"), names.index("Si-Si-Si.B")]] = 0.0
    atoms = crystal(["Cu", "Cu"], [(0, 0, 0), (0.25, 0, 0.5)], spacegroup=223,
                    cellpar=[5.05, 5.05, 5.05, 90, 90, 90])
    ase.io.write(tmp_path / "a15.cif", atoms)
    morse = Potential(["Cu"], [Morse(["Cu"], 3.45)]).with_values(CU)
    cases = [(pot, theta, "diamond", ["Si"], 5.43),
             (morse, np.vstack([CU, CU * [0.0, 1, 1, 1]]), str(tmp_path / "a15.cif"), None, None)]
    for p, th, structure, species, a in cases:
        cell = _cells(p, structure, species, a)[1]
        with np.errstate(all="ignore"):
            got = cell.values(p, th)
        assert np.isnan(got["C44"][1]), structure
        alone = cell.values(p, th[:1])
        for k in KEYS:
            np.testing.assert_allclose(got[k][0], alone[k][0], rtol=1e-12, err_msg=k)
