"""Phonon targets at the relaxed lattice find each candidate's lattice where the property targets do:
at zero pressure, also when a pair term cut off without a shift puts a step into E(a)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from gafit.forms.morse import Morse
from gafit.phonons import make_phonopy
from gafit.phonons.target import PhononTarget, PhononTargetConfig
from gafit.potential import Potential
from gafit.property_target import PropertyTargetConfig, PropertyTargets

TRUE = np.array([0.3429, 1.3588, 2.866, 0.0])
#: r0 moves the lattice constant by about -0.5 % and +0.3 %
THETA = np.vstack([TRUE, TRUE * [1.0, 1.0, 0.995, 1.0], TRUE * [1.02, 1.0, 1.003, 1.0]])


def lattice_constants(cutoff: float, a_phonons: float, a_properties: float,
                      tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The relaxed fcc lattice constants (Å) of the Morse vectors THETA as a phonon target with its
    reference cell at ``a_phonons`` and as an ``a`` property target starting at ``a_properties`` see
    them."""
    pot = Potential(["Cu"], [Morse(["Cu"], cutoff)]).with_values(TRUE)
    path = tmp_path / "phonopy_params.yaml"
    make_phonopy(pot, bulk("Cu", "fcc", a=a_phonons), [2, 2, 2]).save(
        str(path), settings={"force_sets": True})
    phonons = PhononTarget.build(pot, PhononTargetConfig(path, qpoints="GX", lattice="relaxed"))
    props = PropertyTargets.build(pot, [PropertyTargetConfig("a", 4.0, 0.01, "fcc", ["Cu"],
                                                             a_properties)])
    return phonons.scale_of(THETA) * a_phonons, props.values(THETA)[0][:, 0]


@pytest.mark.parametrize("cutoff", [4.726, 4.5])
def test_phonon_and_property_targets_agree_on_the_relaxed_lattice(cutoff: float,
                                                                  tmp_path: Path) -> None:
    """Two neighbour shells within the cutoff (a near 3.94 Å; with cutoff 4.5 Å no other shell comes
    near it within the tabulated ranges); with cutoff 4.726 Å the third shell
    (r = 1.2247 a) enters at a = 3.859 Å, inside the phonon target's ±2 % around 3.9298 Å: a step of
    about -0.6 eV/atom in E(a) there, which the energy minimum of a quartic through the nine tabulated
    energies followed (it gave 3.8512 Å, the end of the range) and zero pressure does not. The
    property target starts at 4.02 Å, so its ±5 % do not reach the three-shell minimum near 3.75 Å."""
    from_phonons, from_properties = lattice_constants(cutoff, 3.9298, 4.02, tmp_path)
    assert np.all(np.abs(from_phonons / 3.94 - 1) < 0.01)  # within the range, not at an end
    np.testing.assert_allclose(from_phonons, from_properties, rtol=2e-6)


def test_a_lattice_outside_the_tabulated_range_is_flagged(tmp_path: Path) -> None:
    """Reference cell at 3.80 Å: the Morse's own lattice (3.94 Å, +3.7 %) lies beyond the +2 % the
    target tabulates, so its frequencies are the ones at 1.02 and the fit summary says so; at 3.93 Å
    (-0.3 %) nothing is flagged."""
    pot = Potential(["Cu"], [Morse(["Cu"], 4.5)]).with_values(TRUE)
    flags = {}
    for a in (3.80, 3.93):
        path = tmp_path / f"phonopy_params_{a}.yaml"
        make_phonopy(pot, bulk("Cu", "fcc", a=a), [2, 2, 2]).save(
            str(path), settings={"force_sets": True})
        target = PhononTarget.build(pot, PhononTargetConfig(path, qpoints="GX", lattice="relaxed"))
        flags[a] = target.lattice_flags(TRUE, 2)
    assert flags[3.93] == []
    assert len(flags[3.80]) == 1
    assert flags[3.80][0].startswith("! phonon target 2: ") and "scale 1.020" in flags[3.80][0]
