"""Parameters that the loss pushes against a bound are flagged (parameters.csv, summary, report)."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from helpers import cu_ag_morse_data

from gafit.config import parse_config
from gafit.fitting import Fit
from gafit.forms.morse import Morse
from gafit.parameters import build_space
from gafit.potential import Potential


def _space(bounds: dict) -> object:
    pot = Potential(["Cu"], [Morse(["Cu"], 6.0)])
    return build_space(pot, {"Cu.E0": 0.0, **bounds})


def _quadratic(centre: np.ndarray, space) -> callable:
    """A loss with its minimum at ``centre`` (which may lie outside the bounds)."""
    scale = space.upper - space.lower

    def loss(x: np.ndarray) -> np.ndarray:
        return (((np.atleast_2d(x) - centre) / scale) ** 2).sum(axis=1) + 1.0

    return loss


def test_a_parameter_a_few_1e6_inside_a_bound_it_is_pushed_against_is_flagged() -> None:
    space = _space({"Cu-Cu.D0": [0.1, 1.0], "Cu-Cu.alpha": [1.0, 2.5], "Cu-Cu.r0": [2.0, 4.0]})
    # what the least squares leave: lambda2 = 1.0000016 in [1, 2.5], r0 = 2.0000073 in [2, 4],
    # D0 = 0.999997 in [0.1, 1]; the minimum lies beyond each of those bounds
    x = np.array([0.999997, 1.0000016, 2.0000073])
    loss = _quadratic(np.array([1.2, 0.8, 1.9]), space)
    assert space.pressed_bounds(x, loss).tolist() == [1, -1, -1]
    rows = {r["name"]: r["at_bound"] for r in space.table(space.expand(x[None])[0],
                                                            space.pressed_bounds(x, loss))
            if "at_bound" in r}
    assert rows == {"Cu-Cu.D0": "upper", "Cu-Cu.alpha": "lower", "Cu-Cu.r0": "lower"}


def test_an_interior_minimum_near_a_bound_is_not_flagged() -> None:
    space = _space({"Cu-Cu.D0": [0.1, 1.0], "Cu-Cu.alpha": [1.0, 2.5], "Cu-Cu.r0": [2.0, 4.0]})
    # each parameter sits at its own minimum, 2e-4 .. 5e-4 of the range from a bound
    x = np.array([0.9996, 1.0003, 2.0004])
    assert space.pressed_bounds(x, _quadratic(x.copy(), space)).tolist() == [0, 0, 0]
    # and far from any bound nothing is even probed
    calls = []

    def counting(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return np.ones(len(batch))

    assert space.pressed_bounds(np.array([0.5, 1.7, 3.0]), counting).tolist() == [0, 0, 0]
    assert calls == []


def test_a_log_scaled_parameter_near_its_lower_bound_on_the_log_scale() -> None:
    pot = Potential(["Cu"], [Morse(["Cu"], 6.0)])
    space = build_space(pot, {"Cu.E0": 0.0, "Cu-Cu.alpha": 1.4, "Cu-Cu.r0": 2.9,
                              "Cu-Cu.D0": [1e-9, 1.0]})
    space = replace(space, log=np.array([True]))  # as Tersoff's beta: searched on a log scale

    def log_quadratic(centre: float) -> callable:
        return lambda x: (np.log(np.atleast_2d(x)[:, 0] / centre)) ** 2 + 1.0

    x = np.array([1.5e-9])  # 0.02 of the range on the log scale, 5e-10 linearly
    assert space.pressed_bounds(x, log_quadratic(1e-12)).tolist() == [-1]
    assert space.pressed_bounds(x, log_quadratic(1.5e-9)).tolist() == [0]


def test_fit_reports_the_bound_it_pushes_against(tmp_path: Path) -> None:
    """Cu-Cu.r0 is 2.87 Å in the data; bounds [2.5, 2.8] press it against 2.8 (upper)."""
    cu_ag_morse_data(tmp_path / "train.extxyz")
    config = parse_config({
        "data": {"train": str(tmp_path / "train.extxyz")},
        "potential": {"form": "morse", "species": ["Cu", "Ag"], "cutoff": 5.5,
                      "parameters": {"Cu-Cu.r0": [2.5, 2.8]}},
        "weights": {"energy": 1.0, "forces": 1.0},
        "ga": {"population": 30, "generations": 10, "seed": 2},
        "refine": {"enabled": True, "starts": 1, "max_evaluations": 60},
    })
    result = Fit.from_config(config).run(tmp_path / "out", quiet=True)
    assert result.at_bounds().get("Cu-Cu.r0") == "upper"
    assert 2.8 - result.potential.named_values()["Cu-Cu.r0"] < 1e-3 * 0.3
    with open(tmp_path / "out" / "parameters.csv", encoding="utf-8") as fh:
        rows = {r["name"]: r["at_bound"] for r in csv.DictReader(fh)}
    assert rows["Cu-Cu.r0"] == "upper"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["parameters_at_bounds"]["Cu-Cu.r0"] == "upper"
    assert set(summary["parameters_at_bounds"]) == {n for n, v in rows.items() if v}
    assert "Cu-Cu.r0 (upper)" in result.summary()
