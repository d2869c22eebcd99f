"""Analytic Jacobian rows of phonon targets (issue 17; ``[phonons] jacobian = "analytic"``):
first-order perturbation of the dynamical matrices' eigenvalues, from the parameter derivatives of the
displaced supercells' forces, checked against central differences of the target's own residuals.

Tolerance: central differences with steps 1e-5 |x| have a truncation error ~ h² f'''/6, about 1e-10
to 1e-8 of a row's largest slope on these cases, and rounding ~ 1e-16 |r| / h, below 1e-10; 1e-6 of
the row's largest central difference leaves a margin of 40 and more, while a wrong term (a missing
scale slope, NAC part or degenerate mean) is off by 1e-3 or more."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from helpers import ROOT, SHARED_DATA, TRUE, cu_morse, three_volume_sets

from gafit.config import load_config, parse_config
from gafit.fitting import Fit
from gafit.objective import Objective
from gafit.parameters import build_space
from gafit.phonons import make_phonopy
from gafit.phonons.harmonic import eigen_frequencies, eigen_frequency_slopes
from gafit.phonons.target import PhononTarget, PhononTargetConfig
from gafit.potential_files import load_potential
from gafit.structures import GafitInputError, ReferenceSet
from gafit.targets import PhononTerm

REL_STEP = 1e-5
TOLERANCE = 1e-6


def central_rows(residuals, x: np.ndarray, dtheta: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Central differences (n_residuals, n_x) of residuals(full vectors) along dtheta's columns, steps
    REL_STEP |x|."""
    h = REL_STEP * np.abs(x)
    steps = np.vstack([np.diag(h), -np.diag(h)]) @ dtheta.T
    r = residuals(theta + steps)
    return ((r[:len(x)] - r[len(x):]) / (2 * h[:, None])).T


def assert_rows_match(jac: np.ndarray, cd: np.ndarray) -> None:
    scale = np.abs(cd).max(axis=1)
    assert scale.min() > 0  # every row moves: there is something to compare
    err = np.abs(jac - cd).max(axis=1) / scale
    assert err.max() < TOLERANCE, (err.argmax(), err.max())


def hermitian_pair(block: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A complex dynamical matrix with eigenvalues (-0.5, 1, 1, 2, 3) and its derivative whose block
    on the degenerate pair (in the eigenbasis) is ``block``, coupled to nothing else there (as a
    symmetry's irreducible subspace is)."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(5, 5)) + 1j * rng.normal(size=(5, 5)))
    lam = np.array([-0.5, 1.0, 1.0, 2.0, 3.0])
    m = rng.normal(size=(5, 5)) + 1j * rng.normal(size=(5, 5))
    m = m + m.conj().T
    m[1:3, :] = 0
    m[:, 1:3] = 0
    m[1:3, 1:3] = block
    return u @ np.diag(lam) @ u.conj().T, u @ m @ u.conj().T


def test_slopes_of_a_symmetric_degeneracy_are_its_mean_and_equal_central_differences() -> None:
    dyn, ddyn = hermitian_pair(0.7 * np.eye(2), seed=1)
    freq, slopes = eigen_frequency_slopes(dyn[None], ddyn[None, None], 2.0)
    np.testing.assert_allclose(freq, eigen_frequencies(dyn[None], 2.0), rtol=1e-12)
    h = 1e-6
    cd = (eigen_frequencies(dyn + h * ddyn, 2.0) - eigen_frequencies(dyn - h * ddyn, 2.0)) / (2 * h)
    np.testing.assert_allclose(slopes[0, 0], cd, rtol=1e-7)
    # the pair at λ = 1 moves together: 2 x 0.7 / (2 x 1)
    np.testing.assert_allclose(slopes[0, 0, 1:3], 0.7, rtol=1e-12)


def test_a_degenerate_pair_that_splits_has_no_slope() -> None:
    dyn, ddyn = hermitian_pair(np.array([[0.7, 0.2], [0.2, 0.4]]), seed=2)
    assert eigen_frequency_slopes(dyn[None], ddyn[None, None], 1.0) is None


def test_degenerate_subspaces_at_several_q_points_take_their_own_means() -> None:
    """Several q-points (a triplet and a pair, a pair, none) and parameters at once: each mode of
    a subspace gets its subspace's mean, summed in the modes' order, the same numbers as one
    subspace at a time."""
    rng = np.random.default_rng(5)
    spectra = [[1.0, 2.0, 2.0, 2.0, 3.0, 3.0], [0.5, 1.5, 1.5, 2.5, 4.0, 5.0],
               [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]
    dyn, ddyn = [], []
    for lam in spectra:
        u, _ = np.linalg.qr(rng.normal(size=(6, 6)) + 1j * rng.normal(size=(6, 6)))
        dyn.append(u @ np.diag(lam) @ u.conj().T)
        # derivatives that keep each degenerate subspace degenerate: diagonal in a basis that
        # has the subspaces' eigenvectors, one value per subspace
        values = rng.normal(size=(3, 6))
        for x in range(3):
            for first, end in ((1, 4), (4, 6)) if lam[1] == lam[3] else ((1, 3),):
                values[x, first:end] = values[x, first]
        ddyn.append([u @ np.diag(v) @ u.conj().T for v in values])
    dyn, ddyn = np.array(dyn), np.array(ddyn).swapaxes(0, 1)  # (3, 6, 6), (3 x, 3 q, 6, 6)
    freq, slopes = eigen_frequency_slopes(dyn, ddyn, 1.0)
    lam, vec = np.linalg.eigh(dyn)
    dlam = np.einsum("qij,xqjk,qki->xqi", vec.conj().swapaxes(-1, -2), ddyn, vec).real
    for q, runs in enumerate([((1, 4), (4, 6)), ((1, 3),), ()]):
        for first, end in runs:  # one subspace at a time, as numpy's mean of its slice
            dlam[:, q, first:end] = dlam[:, q, first:end].mean(axis=1)[:, None]
    want = dlam / (2 * np.sqrt(np.abs(lam)))
    np.testing.assert_allclose(slopes, want, rtol=1e-10)
    h = 1e-6
    for x in range(3):
        cd = (eigen_frequencies(dyn + h * ddyn[x], 1.0) - eigen_frequencies(dyn - h * ddyn[x], 1.0)) / (2 * h)
        np.testing.assert_allclose(slopes[x], cd, rtol=1e-6)
    # one parameter splitting the pair of the second q-point: a kink, no slopes at all
    v = vec[1]
    split = ddyn.copy()
    split[2, 1] += v[:, 1:3] @ np.array([[0.3, 0.0], [0.0, -0.3]]) @ v[:, 1:3].conj().T
    assert eigen_frequency_slopes(dyn, split, 1.0) is None
    assert eigen_frequency_slopes(dyn, split[:2], 1.0) is not None


@pytest.mark.parametrize(("lattice", "a"), [("reference", 3.62), ("relaxed", 3.75)])
def test_objective_takes_the_analytic_rows(lattice: str, a: float, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """fcc Cu Morse (degenerate modes at X, L, W): the objective's phonon rows are the target's own,
    without forward differences, and equal central differences of its residuals. Relaxed: the
    reference cell at 3.75 Å, near the Morse's own zero pressure, so the scale is inside the
    tabulated range and its slope counts."""
    pot = cu_morse()
    reference = tmp_path / "phonopy_params.yaml"
    make_phonopy(pot, bulk("Cu", "fcc", a=a), [2, 2, 2]).save(str(reference),
                                                              settings={"force_sets": True})
    space = build_space(pot, {"Cu-Cu.D0": [0.1, 1.0], "Cu-Cu.alpha": [0.8, 2.0],
                              "Cu-Cu.r0": [2.6, 3.1]}, unspecified="fixed")
    target = PhononTarget.build(pot, PhononTargetConfig(reference, qpoints="GXLWK", weight=0.7,
                                                        lattice=lattice, jacobian="analytic"))
    objective = Objective(pot, space, ReferenceSet([]), phonons=[target])

    def no_fd(*args: object) -> None:
        raise AssertionError("forward differences taken")

    monkeypatch.setattr(objective, "_fd_rows", no_fd)
    x = TRUE[:3] * [1.05, 0.97, 1.004]
    jac = objective.jacobian(x)
    assert jac is not None
    cd = central_rows(target.residuals, x, space.expansion_matrix(), space.expand(x[None])[0])
    assert_rows_match(jac, cd)
    if lattice == "relaxed":
        assert 0.985 < target.scale_of(space.expand(x[None]))[0] < 1.015


def test_gruneisen_targets_keep_forward_differences(tmp_path: Path) -> None:
    folder = three_volume_sets(tmp_path)
    pot = cu_morse()
    target = PhononTarget.build(pot, PhononTargetConfig(folder / "orig", qpoints="GX",
                                                        gruneisen_reference=folder,
                                                        jacobian="analytic"))
    assert target.jacobian(TRUE, np.eye(4)[:, :2]) is None


def test_analytic_unless_told_otherwise(tmp_path: Path) -> None:
    """[phonons] jacobian: "analytic" by default, "finite-difference" on request, others refused."""
    reference = tmp_path / "phonopy_params.yaml"
    make_phonopy(cu_morse(), bulk("Cu", "fcc", a=3.62), [2, 2, 2]).save(
        str(reference), settings={"force_sets": True})
    base = {"potential": {"form": "morse", "species": ["Cu"]}}
    dtheta = np.eye(4)[:, :3]
    for value, analytic in ((None, True), ("finite-difference", False), ("analytic", True)):
        table = {"reference": str(reference), "qpoints": "GX"}
        if value is not None:
            table["jacobian"] = value
        config = parse_config(base | {"phonons": table}).phonons[0]
        target = PhononTarget.build(cu_morse(), config)
        assert (target.jacobian(TRUE, dtheta) is not None) == analytic
    with pytest.raises(GafitInputError, match="jacobian"):
        parse_config(base | {"phonons": {"reference": str(reference), "jacobian": "exact"}})


#: shipped fits with phonon targets: config, fitted potential
SHIPPED = [("Si_gpuga_phonon_fit.toml", "Si_gpuga_phonon_fit.tersoff", "phonopy_Si_PBE"),
           ("C_diamond_phonon_elastic.toml", "C_diamond_phonon_elastic.tersoff",
            "phonopy_C_diamond_FHIaims"),
           ("ZnO_buck_coul.toml", "ZnO_buck_coul.json", "phonopy_ZnO")]


@pytest.mark.parametrize(("config", "fitted", "data"), SHIPPED, ids=[s[0] for s in SHIPPED])
def test_shipped_phonon_rows_equal_central_differences(config: str, fitted: str, data: str) -> None:
    """Tersoff Si and C at their relaxed lattice (Γ, X, L, W, K: triple, double and single modes),
    and Buckingham + Coulomb ZnO with LO-TO splitting along two directions at Γ (the charge's
    part of the non-analytic term), at the shipped fits' parameters."""
    if not (SHARED_DATA / data).is_dir():
        pytest.skip(f"no ../shared/data/{data}")
    cfg = load_config(ROOT / "potentials" / config)
    cfg = dataclasses.replace(cfg, properties=[], phonons=[
        dataclasses.replace(p, jacobian="analytic") for p in cfg.phonons])
    fit = Fit.from_config(cfg, check_data=False)
    named = load_potential(ROOT / "potentials" / fitted).named_values()
    x = np.array([named[n] for n in fit.space.free])
    at = fit.objective.linearisation(x)
    assert at is not None
    theta = fit.space.expand(x[None])[0]
    terms = [t for t in fit.objective.terms if isinstance(t, PhononTerm)]
    assert terms
    for term in terms:
        jac = term.jacobian(at)
        assert jac is not None
        assert_rows_match(jac, central_rows(term.target.residuals, x, at.dtheta, theta))
