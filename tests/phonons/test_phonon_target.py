"""Phonon frequencies as fit targets: residuals, batching, and a fit that recovers known parameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from helpers import TRUE, cu_morse

from gafit.config import parse_config
from gafit.fitting import Fit
from gafit.forms.morse import Morse
from gafit.phonons import make_phonopy
from gafit.phonons.target import PhononTarget, PhononTargetConfig
from gafit.potential import Potential
from gafit.structures import GafitInputError


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A phonopy data set (unit cell, 2x2x2 supercell, forces) made with the true Morse."""
    folder = tmp_path_factory.mktemp("ref")
    ph = make_phonopy(cu_morse(), bulk("Cu", "fcc", a=3.62), [2, 2, 2])
    path = folder / "phonopy_params.yaml"
    ph.save(str(path), settings={"force_sets": True})
    return path


def test_residuals_vanish_at_the_reference_and_batch(reference: Path) -> None:
    target = PhononTarget.build(cu_morse(), PhononTargetConfig(reference, qpoints="GXLWK"))
    assert target.labels == ["Γ", "X", "L", "W", "K"]
    assert (~target.mask).sum() == 3  # the three acoustic modes at Γ are not fitted
    theta = np.vstack([TRUE, TRUE * [1.1, 1.0, 1.0, 1.0], TRUE * [1.0, 0.9, 1.0, 1.0]])
    d = target.differences(theta)
    assert np.abs(d[0]).max() < 1e-6
    assert np.abs(d[1]).max() > 0.05 and np.abs(d[2]).max() > 0.05
    for b in range(3):  # a batch equals single evaluations
        np.testing.assert_allclose(target.differences(theta[b : b + 1])[0], d[b], atol=1e-10)


def test_bad_qpoint_letters(reference: Path) -> None:
    with pytest.raises(GafitInputError, match="'Q'"):
        PhononTarget.build(cu_morse(), PhononTargetConfig(reference, qpoints="GQ"))


def test_fit_to_phonons_recovers_parameters(reference: Path, tmp_path: Path) -> None:
    """Phonons alone fix alpha and D0 of a Morse at fixed r0 (frequencies are set by curvature)."""
    # a dimer curve supplies the energy data the fit needs besides the phonons
    r = np.linspace(2.2, 4.5, 12)
    x = np.exp(-TRUE[1] * (r - TRUE[2]))
    rows = [f"{float(a)!r},{float(e)!r},Cu,Cu" for a, e in
            zip(r, TRUE[0] * (x * x - 2 * x), strict=True)]
    (tmp_path / "dimer.csv").write_text("r,energy,species_a,species_b\n" + "\n".join(rows) + "\n")
    config = parse_config({
        "data": {"train": str(tmp_path / "dimer.csv")},
        "potential": {"form": "morse", "species": ["Cu"], "cutoff": 5.0,
                      "parameters": {"Cu-Cu.r0": float(TRUE[2]), "Cu-Cu.D0": [0.1, 1.0],
                                     "Cu-Cu.alpha": [0.8, 2.0]}},
        "weights": {"energy": 0.0},
        "phonons": {"reference": str(reference), "qpoints": "GXL", "weight": 1.0},
        "ga": {"population": 30, "generations": 15, "seed": 4},
    })
    result = Fit.from_config(config).run(tmp_path / "out", quiet=True)
    got = result.potential.named_values()
    assert got["Cu-Cu.D0"] == pytest.approx(TRUE[0], rel=1e-5)
    assert got["Cu-Cu.alpha"] == pytest.approx(TRUE[1], rel=1e-5)
    assert result.rmse["train"]["phonons"] < 1e-4
    assert result.phonons[0][0]["label"] == "Γ"


def test_relaxed_lattice_target_follows_each_potentials_own_lattice(tmp_path: Path) -> None:
    """lattice = "relaxed": each individual's frequencies are those at its own relaxed lattice
    constant, as `gafit phonons` computes them (gafit.crystals.relax + phonopy), to interpolation accuracy."""
    from gafit.phonons import frequencies_at
    from gafit.properties import lattice_constant

    def morse(values: np.ndarray) -> Potential:
        # cutoff 4.8 Å: no neighbour shell crosses it within ±5 % of these lattice constants
        return Potential(["Cu"], [Morse(["Cu"], 4.8)]).with_values(values)

    _, a0 = lattice_constant(morse(TRUE), bulk("Cu", "fcc", a=3.62, cubic=True))
    ph = make_phonopy(morse(TRUE), bulk("Cu", "fcc", a=a0), [2, 2, 2])
    path = tmp_path / "phonopy_params.yaml"
    ph.save(str(path), settings={"force_sets": True})
    fixed = PhononTarget.build(morse(TRUE), PhononTargetConfig(path, qpoints="GXLWK"))
    relaxed = PhononTarget.build(morse(TRUE), PhononTargetConfig(path, qpoints="GXLWK",
                                                                 lattice="relaxed"))
    # r0 moves the lattice constant (about -1 % and +0.7 %)
    theta = np.vstack([TRUE, TRUE * [1.0, 1.0, 0.99, 1.0], TRUE * [1.05, 0.98, 1.007, 1.0]])
    got = relaxed.frequencies(theta)
    for b in range(len(theta)):
        pot = morse(theta[b])
        _, a = lattice_constant(pot, bulk("Cu", "fcc", a=a0, cubic=True))
        assert abs(a / a0 - 1) < 0.015
        want = frequencies_at(make_phonopy(pot, bulk("Cu", "fcc", a=a), [2, 2, 2]),
                              relaxed.qpoints)
        np.testing.assert_allclose(got[b], np.sort(want, axis=1), atol=3e-4)
    # the reference's own potential: the same as the fixed target ...
    assert np.abs(got[0] - fixed.frequencies(theta[:1])[0]).max() < 3e-4
    # ... but not a potential with another lattice constant
    assert np.abs(got[1] - fixed.frequencies(theta[1:2])[0]).max() > 0.05
    with pytest.raises(GafitInputError, match="lattice"):
        parse_config({"data": {"train": "x.extxyz"},
                      "phonons": {"reference": str(path), "lattice": "own"}})
