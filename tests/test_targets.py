"""Targets (gafit.targets): every kind keeps the one protocol (its widths are its residuals', its
Jacobian is the derivative of its residuals, its breakdown share is the sum of its squares, the
objective's residual vector is its targets' in order), and a target written here, outside gafit,
is fitted like the built-in ones."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from helpers import ROOT, cu_morse

from gafit.config import load_config
from gafit.fit_data import read_data
from gafit.guards import e0_guard, stability_guard
from gafit.objective import Objective, Weights
from gafit.parameters import build_space
from gafit.phonons.target import PhononTarget, PhononTargetConfig
from gafit.potential import Potential
from gafit.property_target import PropertyTargetConfig, PropertyTargets
from gafit.refine import refine
from gafit.structures import ReferenceSet, Structure
from gafit.targets import (
    WALL_PENALTY,
    DataTarget,
    Evaluation,
    Linearisation,
    Penalties,
    PhononTerm,
    PropertyTerm,
    Target,
)


@pytest.fixture(scope="module")
def every_kind(three_volumes):
    """Morse Cu on the Cu_EMT data with a target of every kind: the four data properties, the
    wall constraint and both guards (penalties), a phonon target with Grüneisen parameters, and
    two property targets; x: vectors of the box, some of them breaching the penalties."""
    config = load_config(ROOT / "examples" / "cu_morse.toml")
    train, _ = read_data(config)
    pot = cu_morse()
    space = build_space(pot, {"Cu-Cu.D0": [0.2, 0.6], "Cu-Cu.alpha": [1.0, 2.0],
                              "Cu-Cu.r0": [2.5, 3.1]}, unspecified="fixed")
    phonon = PhononTarget.build(pot, PhononTargetConfig(
        three_volumes / "orig", qpoints="GXL", weight=0.7, gruneisen_reference=three_volumes,
        gruneisen_weight=2.0))
    props = PropertyTargets.build(pot, [PropertyTargetConfig("a", 3.6, 0.01, "fcc", ["Cu"], 3.6),
                                        PropertyTargetConfig("C11", 170.0, 10.0, "fcc", ["Cu"],
                                                             3.6, weight=0.5)], elastic=True)
    from gafit.walls import wall_constraint

    guards = {"stability": stability_guard(props, [phonon]),
              "e0": e0_guard(pot, train, [0.0, 1.0], props)}
    objective = Objective(pot, space, train, Weights(1.0, 0.5, 0.2, 0.3), [phonon],
                          wall_constraint(pot, train, 2.6), props, guards)
    # D0 eV, alpha 1/Å, r0 Å: the first breaches the e0 guard from below (E_coh < 0), the second,
    # fourth and fifth from above (E_coh > 1 eV/atom), the third neither. In this box the Morse
    # pair has no barrier (the wall holds) and fcc Cu stays stable: their blocks are zeros here
    # (tests/fit/test_walls.py and tests/fit/test_guards.py breach them)
    x = np.array([[0.4, 2.0, 3.1], [0.4, 1.8, 2.9], [0.25, 1.6, 3.1], [0.32, 1.423, 2.517],
                  [0.55, 1.6, 3.0]])
    return objective, x


def test_the_objective_is_its_targets_in_order(every_kind) -> None:
    objective, x = every_kind
    kinds = [type(t) for t in objective.terms]
    assert kinds == [DataTarget, Penalties, PhononTerm, PropertyTerm]
    assert [name for name, _ in objective.residual_widths()] == [
        "energy", "forces", "stress", "virial", "walls", "stability", "e0", "phonons", "gruneisen",
        "properties"]
    theta, pred = objective.evaluate(x)
    at = Evaluation(theta, pred)
    r = objective.residuals(x)
    assert np.abs(r).max() < 1e6  # no row scored bad: the blocks below are the targets' own
    # row-major whatever the blocks' layouts, so a row's sums (loss, breakdown) have one order
    assert r.flags["C_CONTIGUOUS"]
    parts = [t.residuals(at) for t in objective.terms]
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), r)


def test_widths_blocks_and_breakdown_shares_of_every_target(every_kind) -> None:
    objective, x = every_kind
    theta, pred = objective.evaluate(x)
    at = Evaluation(theta, pred)
    parts = objective.breakdown(x)
    for term in objective.terms:
        r = term.residuals(at)
        widths = term.widths()
        assert r.shape == (len(x), sum(n for _, n in widths)), type(term)
        np.testing.assert_array_equal(np.concatenate(term.blocks(at), axis=1), r)
        start = 0
        for name, n in widths:  # each named block's share is the sum of its squares
            want = np.einsum("br,br->b", r[:, start:start + n], r[:, start:start + n])
            np.testing.assert_allclose([p[name] for p in parts], want, rtol=1e-12)
            start += n
    np.testing.assert_allclose([sum(p.values()) for p in parts], objective.loss(x), rtol=1e-12)
    # the e0 guard is breached in x, so the penalties' share is tested on something
    assert parts[0]["e0"] > 0 and parts[1]["e0"] > 0 and parts[2]["e0"] == 0


def central_differences(f, x: np.ndarray, rel: float = 1e-6) -> np.ndarray:
    """d f / dx (m, n) by central differences of f: (B, n) -> (B, m)."""
    cols = []
    for k in range(len(x)):
        h = rel * abs(x[k])
        xs = np.repeat(x[None], 2, axis=0)
        xs[0, k] += h
        xs[1, k] -= h
        r = f(xs)
        cols.append((r[0] - r[1]) / (2 * h))
    return np.stack(cols, axis=1)


def test_each_jacobian_is_the_derivative_of_its_residuals(every_kind) -> None:
    """Where a target gives its Jacobian (data: analytic; penalties: forward differences in x) it
    matches central differences of its own residuals; the objective's Jacobian, with forward
    differences for the targets without one, matches them for every residual."""
    objective, x = every_kind
    def own(term: Target):
        def f(xs: np.ndarray) -> np.ndarray:
            theta, pred = objective.evaluate(xs)
            return term.residuals(Evaluation(theta, pred))
        return f

    for x0 in x[:3]:
        jac = objective.jacobian(x0)
        assert jac is not None
        want = central_differences(objective.residuals, x0)
        scale = np.maximum(np.abs(want).max(axis=0), 1e-6)
        assert (np.abs(jac - want) / scale).max() < 1e-5
        # the data and penalty targets' own Jacobians, against their residuals alone
        at = objective.linearisation(x0)
        for term in objective.terms:
            j = term.jacobian(at)
            if j is None:
                assert isinstance(term, (PhononTerm, PropertyTerm))
                continue
            want = central_differences(own(term), x0)
            assert j.shape == want.shape
            scale = np.maximum(np.abs(want).max(axis=0), 1e-6)
            assert (np.abs(j - want) / scale).max() < 1e-5, type(term)


def test_the_jacobian_is_the_targets_rows_in_order(every_kind) -> None:
    """The objective's Jacobian is each target's rows (its own Jacobian, or forward differences)
    one after the other, bit for bit, whatever the blocks' layouts; the data target's rows are
    the weighted linear map of the predictions' derivatives, as its residuals are of them."""
    objective, x = every_kind
    for x0 in x[:2]:
        at = objective.linearisation(x0)
        np.testing.assert_array_equal(objective.data.jacobian(at),
                                      objective.data.residuals_of(at.dpred, reference=False).T)
        fd: list[Evaluation] = []
        rows = []
        for term in objective.terms:
            j = term.jacobian(at)
            rows.append(j if j is not None else objective._fd_rows(term, at, fd))
        np.testing.assert_array_equal(objective.jacobian(x0), np.vstack(rows))


def test_rmse_entries_come_from_the_targets(every_kind) -> None:
    objective, x = every_kind
    theta, pred = objective.evaluate(x)
    at = Evaluation(theta, pred)
    rows = objective.rmse(x)
    assert list(rows[0]) == ["energy", "forces", "stress", "virial", "phonons"]
    d = objective.terms[2].differences(at)["phonons"]
    np.testing.assert_allclose([r["phonons"] for r in rows], np.sqrt(np.mean(d**2, axis=1)),
                               rtol=1e-12)


class LatticeConstant(Target):
    """A target written outside gafit: the fcc lattice constant (Å) where the potential's pressure
    vanishes, found on a grid of cells by linear interpolation of the pressure; residual
    (a - reference) / tolerance. No Jacobian: the objective takes forward differences."""

    def __init__(self, potential: Potential, species: str, a_ref: float, tol: float):
        self.potential, self.a_ref, self.tol = potential, a_ref, tol
        self.a_grid = np.linspace(3.3, 4.0, 29)
        cells = [Structure(bulk(species, "fcc", a=a, cubic=True)) for a in self.a_grid]
        self.tables = potential.build_tables(ReferenceSet(cells, "lattice grid"))

    def widths(self) -> list[tuple[str, int]]:
        return [("lattice", 1)]

    def lattice_constant(self, theta: np.ndarray) -> np.ndarray:
        """Å per full vector (B,): the first root of the trace of the virial on the grid."""
        w = self.potential.evaluate(theta, self.tables).virial[:, :, :3].sum(axis=2)  # (B, n_a)
        out = np.full(len(theta), np.nan)
        for b, wb in enumerate(w):
            k = np.flatnonzero(np.sign(wb[:-1]) != np.sign(wb[1:]))
            if len(k):
                k = k[0]
                t = wb[k] / (wb[k] - wb[k + 1])
                out[b] = self.a_grid[k] + t * (self.a_grid[k + 1] - self.a_grid[k])
        return out

    def residuals(self, at: Evaluation) -> np.ndarray:
        return ((self.lattice_constant(at.theta) - self.a_ref) / self.tol)[:, None]

    def differences(self, at: Evaluation) -> dict[str, np.ndarray]:
        return {"lattice": (self.lattice_constant(at.theta) - self.a_ref)[:, None]}


class EnergyOfFrame(Target):
    """A target that reads the training set's predictions: a frame's energy per atom (eV/atom)
    against a value of its own. No Jacobian: forward differences, which need the predictions at
    the stepped vectors."""

    uses_prediction = True

    def __init__(self, frame: int, n_atoms: int, value: float):
        self.frame, self.n_atoms, self.value = frame, n_atoms, value

    def widths(self) -> list[tuple[str, int]]:
        return [("frame energy", 1)]

    def residuals(self, at: Evaluation) -> np.ndarray:
        return at.pred.energy[:, self.frame, None] / self.n_atoms - self.value


def test_a_target_written_outside_gafit_is_fitted() -> None:
    """A lattice-constant target added to an objective with training data: it has its residual
    block, breakdown share and RMSE entry, its Jacobian rows are forward differences, and the
    least squares reaches the lattice constant asked for."""
    pot = cu_morse()
    frames = [bulk("Cu", "fcc", a=a, cubic=True) for a in (3.7, 3.5)]
    for k, atoms in enumerate(frames):
        atoms.rattle(0.05, seed=k)
    e = pot.evaluate(pot.values[None], pot.build_tables(ReferenceSet([Structure(atoms)
                                                                      for atoms in frames])))
    forces = np.split(e.forces[0], 2)
    train = ReferenceSet([Structure(atoms, energy=float(e.energy[0, k]),
                                    forces=forces[k].reshape(-1, 3))
                          for k, atoms in enumerate(frames)], "two frames")
    space = build_space(pot, {"Cu-Cu.D0": [0.2, 0.6], "Cu-Cu.alpha": [1.0, 2.0],
                              "Cu-Cu.r0": [2.5, 3.1]}, unspecified="fixed")
    lattice = LatticeConstant(pot, "Cu", 3.52, 0.002)
    objective = Objective(pot, space, train, Weights(1.0, 0.01, 0.0), terms=[lattice])
    assert objective.terms[-1] is lattice
    assert objective.residual_widths()[-1] == ("lattice", 1)
    x0 = pot.values[:3].copy()
    a0 = lattice.lattice_constant(space.expand(x0[None]))[0]
    assert abs(a0 - 3.52) > 0.05  # the start is far from the target
    jac = objective.jacobian(x0)
    want = central_differences(objective.residuals, x0)
    np.testing.assert_allclose(jac[-1], want[-1], rtol=1e-4)
    # a target reading the predictions gets them at the stepped vectors too (with the E0 offset,
    # solved for the two frames, moving along)
    framed = Objective(pot, space, train, Weights(1.0, 0.01, 0.0),
                       terms=[EnergyOfFrame(1, len(frames[1]), -3.0)])
    assert framed.terms[-1].streams is False
    np.testing.assert_allclose(framed.jacobian(x0)[-1],
                               central_differences(framed.residuals, x0)[-1], rtol=1e-5)
    res = refine(objective.residuals, x0, space.lower, space.upper, 200,
                 analytic=objective.jacobian)
    a = lattice.lattice_constant(space.expand(res.x[None]))[0]
    assert a == pytest.approx(3.52, abs=0.002)
    row = objective.breakdown(res.x[None])[0]
    assert set(row) == {"energy", "forces", "lattice"}
    assert objective.rmse(res.x[None])[0]["lattice"] == pytest.approx(abs(a - 3.52), rel=1e-12)


class _CountingGuard:
    """A guard whose channels are max(0, x_k - 1) of an identity expansion; counts the vectors
    it was asked about."""

    channels = ("a", "b")

    def __init__(self) -> None:
        self.vectors = 0

    def violation(self, theta: np.ndarray) -> np.ndarray:
        self.vectors += len(theta)
        return np.maximum(theta[:, :2] - 1.0, 0.0)


class _IdentitySpace:
    lower = np.zeros(3)
    upper = np.full(3, 10.0)

    def expand(self, x: np.ndarray) -> np.ndarray:
        return np.atleast_2d(x).copy()


def test_penalty_rows_are_zero_and_free_where_no_channel_is_breached() -> None:
    """A channel not breached at x is flat there: its row is zero, and with no breach the stepped
    vectors are not evaluated; a breached channel's row is its slope."""
    guard = _CountingGuard()
    term = Penalties(None, {"g": guard})
    space = _IdentitySpace()
    at = Linearisation(np.array([0.5, 0.8, 3.0]), space, np.eye(3), None)
    np.testing.assert_array_equal(term.jacobian(at), np.zeros((2, 3)))
    assert guard.vectors == 1
    # x_0 at the kink's flat side within one forward step: forward differences gave a slope there
    at = Linearisation(np.array([1.0 - 1e-9, 2.0, 3.0]), space, np.eye(3), None)
    guard.vectors = 0
    jac = term.jacobian(at)
    assert guard.vectors == 4
    np.testing.assert_array_equal(jac[0], 0.0)
    np.testing.assert_allclose(jac[1], WALL_PENALTY * np.array([0.0, 1.0, 0.0]), rtol=1e-6)


def test_penalties_of_the_vector_just_evaluated_are_not_evaluated_again() -> None:
    """The least squares' Jacobian at x asks for the penalties its residual vector at x computed:
    the last single vector's are kept, returned as a copy; another vector, or a batch, is evaluated."""
    guard = _CountingGuard()
    term = Penalties(None, {"g": guard})
    theta = np.array([[1.5, 0.5, 3.0]])
    first = term.of(theta)
    first[0, 0] = -1.0  # the caller's copy
    np.testing.assert_array_equal(term.of(theta.copy()), WALL_PENALTY * np.array([[0.5, 0.0]]))
    assert guard.vectors == 1
    term.of(theta + [[1.0, 0.0, 0.0]])
    term.of(np.repeat(theta, 3, axis=0))
    assert guard.vectors == 5
    at = Linearisation(theta[0], _IdentitySpace(), np.eye(3), None)
    term.of(theta)  # the residual vector at x, then its Jacobian: the breached channel's steps only
    guard.vectors = 0
    term.jacobian(at)
    assert guard.vectors == 3
