"""The least squares' Jacobian with [[properties]] targets: analytic rows for the energies, forces
and stresses, forward-difference rows for the property targets, computed on the targets alone."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from helpers import SI_TERSOFF

from gafit.objective import Objective, Weights
from gafit.parameters import build_space
from gafit.potential_files import load_potential
from gafit.property_target import PropertyTargetConfig, PropertyTargets
from gafit.refine import batched_jacobian
from gafit.structures import ReferenceSet, Structure

pytestmark = pytest.mark.skipif(not SI_TERSOFF.is_file(),
                                reason="no potentials/Si_Tersoff_1988.tersoff")
#: (property, reference, tolerance): diamond Si, experiment
TARGETS = [("a", 5.431, 0.01), ("E_coh", 4.63, 0.05), ("B", 98.0, 5.0), ("C11", 166.0, 10.0),
           ("C12", 64.0, 10.0), ("C44", 80.0, 8.0)]


def objective() -> Objective:
    """Tersoff Si with eight free parameters and an automatic E0 (which E_coh sees) on four
    strained, rattled diamond cells with made-up references, plus six property targets."""
    rng = np.random.default_rng(4)
    structures = []
    for k in range(4):
        atoms = bulk("Si", "diamond", 5.43, cubic=True)
        atoms.set_cell(atoms.cell @ (np.eye(3) + rng.normal(0, 0.02, (3, 3))), scale_atoms=True)
        atoms.rattle(0.05, seed=k)
        structures.append(Structure(atoms, energy=-4.6 * len(atoms) + rng.normal(0, 0.1),
                                    forces=rng.normal(0, 0.3, (len(atoms), 3)),
                                    stress=rng.normal(0, 0.01, 6)))
    pot = load_potential(SI_TERSOFF)
    values = pot.named_values()
    spec: dict = {n: [0.9 * v, 1.1 * v] for n, v in values.items()
                  if n.split(".")[-1] in ("lambda1", "lambda2", "A", "B", "beta", "n", "c", "d")}
    spec["Si.E0"] = "auto"
    space = build_space(pot, spec, unspecified="fixed")
    props = PropertyTargets.build(pot, [PropertyTargetConfig(k, r, t, "diamond", ["Si"], 5.43)
                                        for k, r, t in TARGETS])
    return Objective(pot, space, ReferenceSet(structures), Weights(1.0, 1.0, 0.5), properties=props)


def test_mixed_jacobian_equals_forward_differences_of_every_residual(monkeypatch) -> None:
    obj = objective()
    space = obj.space
    assert space.n_free == 8
    x = space.start() * (1 + 0.01 * np.random.default_rng(1).standard_normal(space.n_free))
    calls = []
    evaluate = obj.potential.evaluate
    monkeypatch.setattr(obj.potential, "evaluate",
                        lambda theta, tables: calls.append((len(theta), tables)) or evaluate(theta, tables))
    jac = obj.jacobian(x)
    assert jac is not None  # it was None with property targets: all forward differences
    # the training set is not evaluated for the n_free steps (nor at all: its rows are analytic)
    assert not [n for n, t in calls if t is obj.tables]
    monkeypatch.setattr(obj.potential, "evaluate", evaluate)
    fd = batched_jacobian(obj.residuals, space.lower, space.upper)(x)
    assert jac.shape == fd.shape == (obj.residuals(x[None]).shape[1], space.n_free)
    n_prop = len(TARGETS)
    assert np.abs(fd[-n_prop:]).max() > 0  # the property rows are there to be compared
    for rows in (slice(0, -n_prop), slice(-n_prop, None)):
        scale = np.abs(fd[rows]).max(axis=0)
        err = np.abs(jac[rows] - fd[rows]).max(axis=0) / np.maximum(scale, 1e-3 * scale.max())
        assert err.max() < 1e-4, (rows, dict(zip(space.free, err, strict=True)))
