"""The residual path for one vector (what every least-squares step calls) gives a batch's numbers
to the last bit, and the loss scores a vector bad exactly as its residual vector says."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import varied_structures

from gafit.forms import get_form
from gafit.objective import BAD_RESIDUAL, HUGE_RESIDUAL, Objective, Weights
from gafit.parameters import build_space
from gafit.potential import Potential
from gafit.structures import ReferenceSet, Structure
from gafit.targets import Evaluation, Target


def _labelled(seed: int) -> ReferenceSet:
    """varied_structures with random energies, forces and (where there is a cell) stresses."""
    rng = np.random.default_rng(seed)
    out = []
    for s in varied_structures(seed=seed):
        at = s.atoms
        stress = rng.normal(0, 0.01, 6) if at.pbc.all() else None
        out.append(Structure(at, energy=-3.0 * len(at) + rng.normal(), stress=stress,
                             forces=rng.normal(0, 0.5, (len(at), 3)), weight=rng.uniform(0.5, 2)))
    return ReferenceSet(out, "labelled")


def _objective(name: str, **kwargs) -> tuple[Objective, np.ndarray]:
    """A pair form on Cu-Ag with every parameter free within ±5 %, the E0 offsets solved, and
    vectors of that box."""
    form, values = get_form(name).example(["Cu", "Ag"])
    pot = Potential(["Cu", "Ag"], [form], np.r_[values, 0.0, 0.0])
    spec = {n: sorted([0.95 * v, 1.05 * v]) for n, v in zip(pot.names, pot.values, strict=False)
            if v != 0 and not n.endswith(".E0")}
    space = build_space(pot, spec, unspecified="fixed")
    assert len(space.auto_e0) == 2
    obj = Objective(pot, space, _labelled(3), Weights(1.0, 0.7, 0.3, 0.2), **kwargs)
    x = space.from_unit(np.random.default_rng(4).random((6, space.n_free)))
    return obj, x


@pytest.mark.parametrize("name", ["morse", "buckingham"])
def test_one_vector_gives_the_batch_vectors_predictions_and_residuals_to_the_bit(name: str
                                                                                ) -> None:
    """The full vector (with its solved E0 offsets), the predictions and the residuals of a
    vector are the same alone as in a batch (the E0 offsets' products once depended on the
    batch's memory layout); the loss, a sum over each row, to rounding."""
    obj, x = _objective(name)
    loss, res = obj.loss(x), obj.residuals(x)
    theta, pred = obj.evaluate(x)
    for b in range(len(x)):
        one, alone = obj.evaluate(x[b : b + 1])
        np.testing.assert_array_equal(one[0], theta[b])
        np.testing.assert_array_equal(alone.energy[0], pred.energy[b])
        np.testing.assert_array_equal(alone.forces[0], pred.forces[b])
        np.testing.assert_array_equal(alone.virial[0], pred.virial[b])
        np.testing.assert_array_equal(obj.residuals(x[b : b + 1])[0], res[b])
        np.testing.assert_allclose(obj.loss(x[b : b + 1]), loss[b : b + 1], rtol=1e-14)
        np.testing.assert_array_equal(obj.loss(x[b]), obj.loss(x[b : b + 1]))  # 1-d x too
    np.testing.assert_allclose(loss, np.einsum("br,br->b", res, res), rtol=1e-14)


def test_expand_copies_free_fixed_and_tied_values() -> None:
    """Every full parameter is its free value, its fixed value or its tie's, whatever the
    population."""
    form, values = get_form("morse").example(["Cu", "Ag"])
    pot = Potential(["Cu", "Ag"], [form], np.r_[values, 0.5, -0.25])
    names = pot.names
    space = build_space(pot, {names[0]: [0.1, 1.0], names[2]: [1.0, 4.0],
                              names[3]: f"={names[0]}", names[5]: [2.0, 3.0], "Ag.E0": 0.7},
                        unspecified="fixed")
    x = np.array([[0.3, 2.5, 2.2], [0.9, 1.5, 2.9]])
    theta = space.expand(x)
    want = np.tile(np.r_[values, 0.5, 0.7], (2, 1))
    for k, name in enumerate([names[0], names[2], names[5]]):
        want[:, names.index(name)] = x[:, k]
    want[:, 3] = x[:, 0]
    assert space.free == [names[0], names[2], names[5]]
    np.testing.assert_array_equal(theta, want)
    np.testing.assert_array_equal(space.expand(x[1]), want[1:])


class _Fixed(Target):
    """Residual rows given in advance, one per vector (no predictions read)."""

    streams = True

    def __init__(self, rows: np.ndarray):
        self.rows = rows

    def widths(self) -> list[tuple[str, int]]:
        return [("fixed", self.rows.shape[1])]

    def residuals(self, at: Evaluation) -> np.ndarray:
        return self.rows[: len(at.theta)].copy()


def test_the_loss_scores_bad_exactly_the_vectors_with_a_residual_beyond_huge() -> None:
    """A residual beyond HUGE_RESIDUAL makes a vector bad, however its sum of squares turns out;
    residuals below it whose squares add up past HUGE_RESIDUAL² do not."""
    big = HUGE_RESIDUAL
    rows = np.array([[2.0 * big, 0.0], [0.8 * big, 0.8 * big], [1.0, -2.0], [np.nan, 1.0],
                     [-1.5 * big, 1.0], [0.5, 0.25]])
    obj, x = _objective("morse", terms=[_Fixed(rows)])
    r = obj.residuals(x)
    n_res = r.shape[1]
    data = obj.residuals_of(obj.evaluate(x)[1])
    plain = np.einsum("br,br->b", data, data) + np.einsum("br,br->b", rows, rows)
    bad = np.array([True, False, False, True, True, False])
    assert plain[1] > HUGE_RESIDUAL**2
    loss = obj.loss(x)
    np.testing.assert_array_equal(loss[bad], n_res * BAD_RESIDUAL**2)
    np.testing.assert_allclose(loss[~bad], plain[~bad], rtol=1e-15)
