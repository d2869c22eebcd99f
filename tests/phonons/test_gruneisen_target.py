"""Mode Grüneisen parameters as fit targets ([phonons] gruneisen_reference): batched γ equal to
phonopy's, residuals, loss terms and config keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from helpers import RATIOS, ROOT, TRUE, cu_morse
from test_gruneisen import need_si_gruneisen

from gafit.checkpoint import problem_files
from gafit.config import parse_config
from gafit.gruneisen import gruneisen_along, scaled_cell
from gafit.objective import Objective
from gafit.parameters import build_space
from gafit.phonons import make_phonopy
from gafit.phonons.target import PhononTarget, PhononTargetConfig, read_target_reference
from gafit.potential import Potential
from gafit.potential_files import load_potential
from gafit.structures import GafitInputError, ReferenceSet

OTHER = TRUE * [1.1, 0.93, 1.01, 1.0]


def phonopy_gamma(potential: Potential, target: PhononTarget, ratios: tuple[float, float],
                  a: float | None = None) -> np.ndarray:
    """γ of ``potential`` at the target's q-points by phonopy's PhonopyGruneisen, the unit cell (at
    lattice constant ``a`` when given) and the cells of volume ratios ``ratios`` to it."""
    _, cell, smat = read_target_reference(target.config)
    if a is not None:
        cell = bulk("Cu", "fcc", a=a) if cell.get_chemical_symbols() == ["Cu"] else bulk(
            "Si", "diamond", a=a)
    phs = [make_phonopy(potential, scaled_cell(cell, r), smat) for r in (1.0, *ratios)]
    return gruneisen_along(*phs, [target.qpoints])[1]


def test_batched_gamma_is_phonopys_at_the_reference_volumes(three_volumes: Path) -> None:
    config = PhononTargetConfig(three_volumes / "orig", qpoints="GXLWK",
                                gruneisen_reference=three_volumes)
    target = PhononTarget.build(cu_morse(), config)
    assert target.volume_ratios == pytest.approx((RATIOS["plus"], RATIOS["minus"]), rel=1e-12)
    theta = np.vstack([TRUE, OTHER])
    gamma = target.gruneisen(theta)
    for b, values in enumerate(theta):
        want = phonopy_gamma(cu_morse(values), target, target.volume_ratios)
        assert np.array_equal(np.isnan(gamma[b]), np.isnan(want))
        np.testing.assert_allclose(gamma[b], want, atol=1e-9, rtol=0)
        # one individual alone gives what it gives in the batch
        np.testing.assert_allclose(target.gruneisen(values[None])[0], gamma[b], atol=1e-12)
    # the reference's own potential reproduces the reference's γ; another does not
    assert np.nanmax(np.abs(gamma[0] - target.gamma_reference)) < 1e-9
    assert np.nanmax(np.abs(gamma[1] - target.gamma_reference)) > 0.05
    # the acoustic modes at Γ have no γ: not fitted
    assert (~target.gamma_mask).sum() == 3
    r = target.residuals(theta)
    n_f, n_g = target.mask.sum(), target.gamma_mask.sum()
    assert r.shape == (2, n_f + n_g) and np.abs(r[0]).max() < 1e-8
    d = (gamma[1] - target.gamma_reference)[target.gamma_mask]
    np.testing.assert_allclose(r[1, n_f:], d * np.sqrt(1.0 / n_g), rtol=1e-12)


def test_batched_gamma_follows_each_potentials_own_lattice(three_volumes: Path,
                                                         tmp_path: Path) -> None:
    """lattice = "relaxed": γ at each individual's own zero-pressure lattice constant, from the
    dynamical matrices interpolated there and their derivative, equals phonopy's from ±0.5 %
    volumes at that lattice constant to the interpolation's accuracy."""
    from gafit.forms.morse import Morse
    from gafit.properties import lattice_constant

    def morse(values: np.ndarray) -> Potential:
        # cutoff 4.8 Å: no neighbour shell crosses it within ±2 % of these lattice constants
        return Potential(["Cu"], [Morse(["Cu"], 4.8)]).with_values(values)

    _, a0 = lattice_constant(morse(TRUE), bulk("Cu", "fcc", a=3.75, cubic=True))
    reference = tmp_path / "phonopy_params.yaml"  # the frequencies' reference, at a0
    make_phonopy(morse(TRUE), bulk("Cu", "fcc", a=a0), [2, 2, 2]).save(
        str(reference), settings={"force_sets": True})
    config = PhononTargetConfig(reference, qpoints="GXLWK", lattice="relaxed",
                                gruneisen_reference=three_volumes)
    target = PhononTarget.build(morse(TRUE), config)
    assert not target.volume_batches  # γ comes from the scaled batches
    # r0 moves the lattice constant (about -1 % and +0.7 %), off the tabulated scales
    theta = np.vstack([TRUE * [1.0, 1.0, 0.99, 1.0], TRUE * [1.05, 0.98, 1.007, 1.0]])
    gamma = target.gruneisen(theta)
    scale = target.scale_of(theta)  # the zero-pressure lattice, checked against ASE's relaxation
    for b in range(len(theta)):
        pot = morse(theta[b])
        a = scale[b] * a0
        assert 0.003 < abs(a / a0 - 1) < 0.015
        assert a == pytest.approx(lattice_constant(pot, bulk("Cu", "fcc", a=a0, cubic=True))[1],
                                  rel=5e-4)  # its relaxation stops at a force tolerance
        want = phonopy_gamma(pot, target, (1.005, 0.995), a)
        assert np.array_equal(np.isnan(gamma[b]), np.isnan(want))
        # the derivative of a quadratic interpolant on steps of 0.5 % in a, against phonopy's own
        # ±0.5 % volume difference: both err O(h²); measured 4.8e-5 (first row) and 2.3e-4 (second
        # row, at L), alone or after the other tests of this file alike
        np.testing.assert_allclose(gamma[b], want, atol=5e-4, rtol=0)


def test_si_tersoff_gamma_is_gafit_phonons_gruneisen() -> None:
    """Tersoff 1988 against PBE Si: the batched γ at the DFT's three volumes is phonopy's, and the
    reference γ is `gafit phonons --gruneisen-reference`'s at those q-points."""
    folder = need_si_gruneisen()
    pot = load_potential(ROOT / "potentials" / "Si_Tersoff_1988.tersoff")
    config = PhononTargetConfig(folder / "orig", qpoints="GXLWK", gruneisen_reference=folder)
    target = PhononTarget.build(pot, config)
    got = target.gruneisen(pot.values[None])[0]
    want = phonopy_gamma(pot, target, target.volume_ratios)
    np.testing.assert_allclose(got, want, atol=1e-9, rtol=0)
    assert got[1, 0] < -4  # TA at X, far softer than PBE's
    assert target.gamma_reference[1, 0] == pytest.approx(-1.80, abs=0.01)


def test_loss_has_a_gruneisen_term(three_volumes: Path) -> None:
    pot = cu_morse()
    space = build_space(pot, {"Cu-Cu.D0": [0.1, 1.0], "Cu-Cu.alpha": [0.8, 2.0]},
                        unspecified="fixed")
    target = PhononTarget.build(pot, PhononTargetConfig(three_volumes / "orig", qpoints="GXL",
                                                        weight=0.5, gruneisen_reference=three_volumes,
                                                        gruneisen_weight=3.0))
    objective = Objective(pot, space, ReferenceSet([]), phonons=[target])
    x = np.array([[0.38, 1.2], [0.3, 1.5]])
    parts = objective.breakdown(x)
    loss = objective.loss(x)
    for row, total in zip(parts, loss, strict=True):
        assert set(row) == {"phonons", "gruneisen"}
        assert row["phonons"] + row["gruneisen"] == pytest.approx(total, rel=1e-12)
        assert row["gruneisen"] > 0
    theta = space.expand(x)
    d = (target.gruneisen(theta) - target.gamma_reference)[:, target.gamma_mask]
    np.testing.assert_allclose([p["gruneisen"] for p in parts], 3.0 * np.mean(d**2, axis=1),
                               rtol=1e-10)


def test_config_keys(three_volumes: Path, tmp_path: Path) -> None:
    base = {"potential": {"form": "morse", "species": ["Cu"]}}
    config = parse_config(base | {"phonons": {"reference": str(three_volumes / "orig"),
                                              "gruneisen_reference": str(three_volumes),
                                              "gruneisen_weight": 2.5}})
    assert config.phonons[0].gruneisen_reference == three_volumes
    assert config.phonons[0].gruneisen_weight == 2.5
    # the three volumes' data decide the problem: a resumed fit checks them
    files = problem_files(config)
    assert all((three_volumes / v / "phonopy_params.yaml").absolute() in files for v in RATIOS)
    with pytest.raises(GafitInputError, match="gruneisen_weight needs gruneisen_reference"):
        parse_config(base | {"phonons": {"reference": str(three_volumes / "orig"),
                                         "gruneisen_weight": 2.5}})
    with pytest.raises(GafitInputError, match="gruneisen_weight = -1"):
        parse_config(base | {"phonons": {"reference": str(three_volumes / "orig"),
                                         "gruneisen_reference": str(three_volumes),
                                         "gruneisen_weight": -1}})
    with pytest.raises(GafitInputError, match=r"\[phonons\] gruneisen_reference .*no subfolder"):
        PhononTarget.build(cu_morse(), PhononTargetConfig(three_volumes / "orig",
                                                          gruneisen_reference=tmp_path))
