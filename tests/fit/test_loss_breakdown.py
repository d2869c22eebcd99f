"""The loss split by term (Objective.breakdown): the parts add up to the loss, each part is its
weight times its mean square error, and a fit reports them in its summary, summary.json and report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from helpers import ROOT

from gafit.config import load_config, parse_config
from gafit.fit_data import build_potential, read_data
from gafit.fitting import Fit
from gafit.objective import WALL_PENALTY, Objective, Weights, breakdown_text, shares
from gafit.parameters import build_space
from gafit.phonons import make_phonopy
from gafit.phonons.target import PhononTarget, PhononTargetConfig
from gafit.walls import wall_constraint


@pytest.fixture(scope="module")
def cu_problem(tmp_path_factory):
    """Cu_EMT with every term: energy, forces, stress, virial, the wall constraint and phonons."""
    config = load_config(ROOT / "examples" / "cu_morse.toml")
    train, _ = read_data(config)
    pot = build_potential(config, train)
    space = build_space(pot, config.potential.parameters)
    ref = tmp_path_factory.mktemp("ph") / "phonopy_params.yaml"
    true = pot.with_values(np.array([0.3429, 1.3588, 2.866, 0.0]))
    make_phonopy(true, bulk("Cu", "fcc", a=3.62), [2, 2, 2]).save(str(ref), settings={"force_sets": True})
    phonons = [PhononTarget.build(pot, PhononTargetConfig(ref, qpoints="GXL", weight=0.7))]
    constraint = wall_constraint(pot, train, 2.2)
    assert constraint is not None
    objective = Objective(pot, space, train, Weights(1.0, 0.5, 0.2, 0.3), phonons, constraint)
    x = space.from_unit(np.random.default_rng(1).random((6, space.n_free)))
    return objective, x


def test_parts_add_up_to_the_loss(cu_problem) -> None:
    objective, x = cu_problem
    parts = objective.breakdown(x)
    assert list(parts[0]) == ["energy", "forces", "stress", "virial", "walls", "phonons"]
    total = np.array([sum(p.values()) for p in parts])
    np.testing.assert_allclose(total, objective.loss(x), rtol=1e-12)
    for p in parts:
        assert sum(shares(p).values()) == pytest.approx(1.0, abs=1e-12)


def test_each_part_is_its_weight_times_its_mean_square_error(cu_problem) -> None:
    """With equal structure weights each property's part is w_p x RMSE_p² (Objective.rmse, which
    does not go through the weighted residual vector), the phonons' w x RMSE², the walls' the
    squared penalty of the breach."""
    objective, x = cu_problem
    parts = objective.breakdown(x)
    w = objective.weights
    theta, _ = objective.evaluate(x)
    pen = WALL_PENALTY * objective.constraint.violation(theta)
    for b, (row, rmse) in enumerate(zip(parts, objective.rmse(x), strict=True)):
        for prop in ("energy", "forces", "stress", "virial"):
            assert row[prop] == pytest.approx(getattr(w, prop) * rmse[prop] ** 2, rel=1e-10), prop
        assert row["phonons"] == pytest.approx(0.7 * rmse["phonons"] ** 2, rel=1e-10)
        assert row["walls"] == pytest.approx(float(np.sum(pen[b] ** 2)), rel=1e-12, abs=1e-300)


def test_terms_without_weight_or_data_are_left_out() -> None:
    config = load_config(ROOT / "examples" / "cu_morse.toml")
    train, _ = read_data(config)
    pot = build_potential(config, train)
    space = build_space(pot, config.potential.parameters)
    objective = Objective(pot, space, train, Weights(1.0, 1.0, 0.0, 0.0))
    x = space.from_unit(np.random.default_rng(2).random((3, space.n_free)))
    parts = objective.breakdown(x)
    assert [list(p) for p in parts] == [["energy", "forces"]] * 3
    np.testing.assert_allclose([sum(p.values()) for p in parts], objective.loss(x), rtol=1e-12)


def test_breakdown_text_names_the_largest_term_first() -> None:
    assert breakdown_text({"energy": 1.0, "forces": 3.0}) == "forces 3 (75.0 %), energy 1 (25.0 %)"
    assert all(np.isnan(v) for v in shares({"energy": 0.0}).values())


def test_fit_reports_the_breakdown(tmp_path: Path) -> None:
    config = parse_config({
        "data": {"train": str(ROOT / "data" / "Cu_EMT.extxyz")},
        "potential": {"form": "morse", "species": ["Cu"], "cutoff": 6.0,
                      "parameters": {"Cu-Cu.D0": [0.05, 1.5], "Cu-Cu.alpha": [0.5, 3.0],
                                     "Cu-Cu.r0": [2.0, 3.5]}},
        "weights": {"energy": 1.0, "forces": 1.0, "stress": 0.1},
        "ga": {"population": 16, "generations": 3, "seed": 1},
        "refine": {"starts": 1, "max_evaluations": 40},
    })
    result = Fit.from_config(config).run(tmp_path / "out", quiet=True)
    assert sum(result.breakdown.values()) == pytest.approx(result.loss, rel=1e-12)
    assert "loss by term: " in result.summary()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["loss_by_term"] == result.breakdown
    assert sum(summary["loss_shares"].values()) == pytest.approx(1.0, abs=1e-12)
    import csv

    with open(tmp_path / "out" / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4  # generation 0 (the initial population) to 3
    for row in rows:  # the best individual of each generation, by term
        parts = [float(row[f"loss_{t}"]) for t in result.breakdown]
        assert sum(parts) == pytest.approx(float(row["best_loss"]), rel=1e-12)
    from gafit.report import write_report

    html = write_report(tmp_path / "out").read_text()
    assert "<h3>Loss by term</h3>" in html
    for term in result.breakdown:
        assert f"<td>{term}</td>" in html


def test_residuals_after_the_known_blocks_are_the_property_targets(cu_problem) -> None:
    """Property targets put their residuals last in residuals(): one more term, 'properties', the
    sum of their squared residuals; any other residual the blocks do not account for is an error,
    not a silent share."""
    from gafit.property_target import PropertyTargetConfig, PropertyTargets

    objective, x = cu_problem
    props = PropertyTargets.build(objective.potential, [
        PropertyTargetConfig("a", 3.6, 0.01, "fcc", ["Cu"], 3.6),
        PropertyTargetConfig("C11", 170.0, 10.0, "fcc", ["Cu"], 3.6, weight=0.5)])
    mine = Objective(objective.potential, objective.space, objective.refset, objective.weights,
                     objective.phonons, objective.constraint, props)
    parts = mine.breakdown(x)
    theta, _ = mine.evaluate(x)
    want = np.einsum("br,br->b", props.residuals(theta), props.residuals(theta))
    np.testing.assert_allclose([p["properties"] for p in parts], want, rtol=1e-12)
    np.testing.assert_allclose([sum(p.values()) for p in parts], mine.loss(x), rtol=1e-12)

    class Unaccounted(Objective):
        def residuals(self, x: np.ndarray) -> np.ndarray:
            r = Objective.residuals(self, x)
            return np.hstack([r, np.full((len(r), 2), 0.5)])

    other = Unaccounted.__new__(Unaccounted)
    other.__dict__.update(objective.__dict__)
    with pytest.raises(AssertionError, match="cover"):
        other.breakdown(x)
