"""Fits: parameter recovery, a binding-curve CSV fit, config errors, the CLI end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import CU_AG_MORSE, ROOT, cu_ag_morse_data

from gafit.cli import main
from gafit.config import load_config, parse_config
from gafit.fit_data import read_data
from gafit.fitting import Fit
from gafit.forms.morse import Morse
from gafit.objective import Objective
from gafit.potential import Potential
from gafit.structures import GafitInputError


def test_recovers_two_species_morse(tmp_path: Path) -> None:
    cu_ag_morse_data(tmp_path / "train.extxyz")
    config = parse_config({
        "data": {"train": str(tmp_path / "train.extxyz")},
        "potential": {"form": "morse", "species": ["Cu", "Ag"], "cutoff": 5.5,
                      "parameters": {"Cu.E0": [-3.0, 1.0], "Ag.E0": [-3.0, 1.0]}},
        "weights": {"energy": 1.0, "forces": 1.0, "stress": 1.0},
        "ga": {"population": 60, "generations": 40, "seed": 3},
    })
    result = Fit.from_config(config).run(tmp_path / "out", quiet=True)
    fitted = result.potential.named_values()
    for name, value in CU_AG_MORSE.items():
        assert fitted[name] == pytest.approx(value, rel=1e-4), name
    assert result.rmse["train"]["forces"] < 1e-5


def test_binding_curve_csv_fit(tmp_path: Path) -> None:
    d0, alpha, r0, e0 = 0.42, 1.5, 2.3, -0.25
    r = np.linspace(1.9, 5.0, 25)
    x = np.exp(-alpha * (r - r0))
    energy = d0 * (x * x - 2 * x) + 2 * e0
    rows = [f"{float(a)!r},{float(e)!r},Cu,Cu" for a, e in zip(r, energy, strict=True)]
    lines = ["r,energy,species_a,species_b", *rows]
    (tmp_path / "dimer.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "fit.toml").write_text(
        '[data]\ntrain = "dimer.csv"\n[potential]\nform = "morse"\ncutoff = 6.0\n'
        '[ga]\npopulation = 40\ngenerations = 30\nseed = 2\n'
    )
    result = Fit.from_config(load_config(tmp_path / "fit.toml")).run(quiet=True)
    got = result.potential.named_values()
    assert got["Cu-Cu.D0"] == pytest.approx(d0, rel=1e-6)
    assert got["Cu-Cu.alpha"] == pytest.approx(alpha, rel=1e-6)
    assert got["Cu-Cu.r0"] == pytest.approx(r0, rel=1e-6)
    assert got["Cu.E0"] == pytest.approx(e0, rel=1e-6)


@pytest.mark.parametrize("table, message", [
    ({"data": {"train": "x.extxyz"}, "potentail": {}}, "unknown key 'potentail'"),
    ({"data": {"train": "x.extxyz"}, "ga": {"populaton": 3}}, "did you mean 'population'"),
    ({"data": {"train": "x.extxyz"}, "ga": {"population": "many"}}, "population"),
    ({"data": {}}, "train"),
    ({"data": {"train": "x.extxyz"}, "weights": {"energy": -1}}, "energy"),
])
def test_config_errors_name_the_key(table: dict, message: str) -> None:
    with pytest.raises(GafitInputError, match=message):
        parse_config(table)


@pytest.mark.parametrize("params, message", [
    ({"Cu-Cu.D1": [0, 1]}, "no parameter 'D1'"),
    ({"Cu-Zn.D0": [0.1, 1]}, "species 'Zn'"),
    ({"Cu-Cu.D0": [1, 0.5]}, "low < high"),
    ({"Cu-Cu.D0": [-1.0, 1.0]}, "physical range"),
    ({"Cu-Cu.D0": "=Cu-Cu.D0"}, "tied to itself"),
    ({"Cu-Cu.D0": "big"}, "expected a number"),
])
def test_parameter_errors_name_the_parameter(params: dict, message: str) -> None:
    from gafit.parameters import build_space

    pot = Potential(["Cu"], [Morse(["Cu"], 5.0)])
    with pytest.raises(GafitInputError, match=message):
        build_space(pot, params)


def test_ties_and_fixed_values() -> None:
    from gafit.parameters import build_space

    species = ["Cu", "Ag"]
    pot = Potential(species, [Morse(species, 5.0)])
    space = build_space(pot, {"Ag-Cu.alpha": "=Cu-Cu.alpha", "Ag-Ag.alpha": "=Cu-Ag.alpha",
                              "Cu-Cu.r0": 2.5, "Cu.E0": 0.0, "Ag.E0": -1.0})
    assert "Cu-Ag.alpha" not in space.free and "Ag-Ag.alpha" not in space.free
    x = np.arange(1, space.n_free + 1, dtype=float)[None]
    theta = dict(zip(pot.names, space.expand(x)[0], strict=True))
    assert theta["Cu-Ag.alpha"] == theta["Ag-Ag.alpha"] == theta["Cu-Cu.alpha"]
    assert theta["Cu-Cu.r0"] == 2.5 and theta["Ag.E0"] == -1.0
    assert len(space.auto_e0) == 0


def test_same_seed_same_result(tmp_path: Path) -> None:
    config = load_config(ROOT / "examples" / "cu_morse.toml")
    config.ga.population, config.ga.generations = 20, 5
    config.refine.enabled = False
    a = Fit.from_config(config).run(quiet=True)
    b = Fit.from_config(config).run(quiet=True)
    np.testing.assert_array_equal(a.potential.values, b.potential.values)


def test_cli_fit_export_evaluate_verify(tmp_path: Path, lammps_available: None, capsys) -> None:
    cfg = tmp_path / "demo.toml"
    text = (ROOT / "examples" / "cu_morse.toml").read_text()
    text = text.replace('"../data/Cu_EMT.extxyz"', repr(str(ROOT / "data" / "Cu_EMT.extxyz")))
    text = text.replace("population = 60", "population = 16").replace("generations = 40",
                                                                       "generations = 4")
    cfg.write_text(text)
    out = tmp_path / "run"
    assert main(["fit", str(cfg), "--out", str(out), "--quiet"]) == 0
    for name in ("potential.json", "lammps/pair.lmp", "log.csv", "parameters.csv", "summary.json"):
        assert (out / name).exists(), name
    log = (out / "log.csv").read_text().splitlines()
    assert log[0].startswith("generation,evaluations") and len(log) == 6
    assert json.loads((out / "summary.json").read_text())["rmse"]["train"]["forces"] > 0
    assert main(["export", str(out / "potential.json"), "--lammps", str(tmp_path / "lmp")]) == 0
    data = str(ROOT / "data" / "Cu_EMT.extxyz")
    pred = tmp_path / "pred.extxyz"
    assert main(["evaluate", str(tmp_path / "lmp" / "pair.lmp"), data, "--out", str(pred)]) == 0
    out_text = capsys.readouterr().out
    assert "forces (eV/Å)" in out_text and "\nall " in out_text
    assert main(["verify", str(out / "potential.json"), data]) == 0


def test_cli_errors_are_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[data]\ntrain = "nope.extxyz"\n[ga]\npopulaton = 4\n')
    assert main(["fit", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "populaton" in err and "bad.toml" in err


def test_validation_is_logged_and_can_stop_the_search(tmp_path: Path) -> None:
    config = parse_config({
        "data": {"train": str(ROOT / "data" / "Cu_EMT.extxyz"),
                 "validation_config_types": ["surface"], "validation_fraction": 0.2},
        "potential": {"form": "morse", "cutoff": 6.0},
        "ga": {"population": 20, "generations": 300, "seed": 1, "validation_stall": 4},
        "refine": {"enabled": False},
    })
    result = Fit.from_config(config).run(quiet=True)
    assert result.ga.stop_reason == "validation"
    assert result.ga.generations < 300
    vl = [row["validation_loss"] for row in result.log]
    assert min(vl[-4:]) >= min(vl[:-4])  # it stopped because the last 4 did not improve
    assert set(result.rmse) == {"train", "validation"}
    assert all(s.config_type != "surface" for s in read_data(config)[0])
    assert "validation_rmse_forces" in result.log[0]


def test_validation_split_is_seeded_and_disjoint() -> None:
    table = {"data": {"train": str(ROOT / "data" / "Cu_EMT.extxyz"), "validation_fraction": 0.25,
                      "split_seed": 3}}
    train, valid = read_data(parse_config(table))
    train2, valid2 = read_data(parse_config(table))
    assert [s.name for s in valid] == [s.name for s in valid2]
    assert len(valid) == 8 and len(train) == 24
    assert not {s.name for s in train} & {s.name for s in valid}


def test_memetic_mode_improves_the_ga_and_keeps_the_seed_promise() -> None:
    def fit(memetic: int, workers: int = 1):
        config = load_config(ROOT / "examples" / "cu_morse.toml")
        config.ga.population, config.ga.generations = 16, 6
        config.ga.memetic_every, config.ga.memetic_evaluations = memetic, 8
        config.ga.workers = workers
        config.refine.enabled = False
        return Fit.from_config(config).run(quiet=True)

    plain, memetic = fit(0), fit(2)
    assert memetic.ga.best_loss < plain.ga.best_loss
    np.testing.assert_array_equal(memetic.potential.values, fit(2, workers=2).potential.values)


def test_subset_generations_score_elites_on_all_structures(tmp_path: Path) -> None:
    """Early generations select on a seeded subset; what the GA reports as best is always a loss on
    all structures, and the seed promise holds for any number of workers."""
    def fit(workers: int = 1, fraction: float = 0.25):
        config = load_config(ROOT / "examples" / "cu_morse.toml")
        config.ga.population, config.ga.generations = 20, 8
        config.ga.subset_fraction, config.ga.subset_generations = fraction, 4
        config.ga.workers = workers
        config.refine.enabled = False
        return Fit.from_config(config).run(tmp_path / f"w{workers}f{fraction}", quiet=True)

    result = fit()
    objective = Objective(result.potential, result.space, read_data(load_config(
        ROOT / "examples" / "cu_morse.toml"))[0])
    x_best = result.space.from_unit(result.ga.best_u)
    assert result.ga.best_loss == pytest.approx(objective.loss(x_best[None])[0], rel=1e-12)
    for u, loss in zip(result.ga.hall_of_fame, result.ga.hall_of_fame_loss, strict=True):
        assert loss == pytest.approx(objective.loss(result.space.from_unit(u)[None])[0], rel=1e-12)
    rows = list(csv.DictReader((tmp_path / "w1f0.25" / "log.csv").open()))
    assert [r["subset"] for r in rows] == ["1"] * 4 + ["0"] * 5
    for r in rows:  # best_loss is on all structures in both phases; never below the GA's best
        assert float(r["best_loss"]) >= result.ga.best_loss * (1 - 1e-12)
    np.testing.assert_array_equal(result.potential.values, fit(workers=2).potential.values)
    # a different subset (fraction) gives a different search
    assert not np.array_equal(result.potential.values, fit(fraction=0.5).potential.values)


def test_loss_equals_the_sum_of_squared_residuals_with_bad_vectors_scored_alike() -> None:
    """Objective.loss goes property by property; it must equal sum r² of Objective.residuals,
    including the score of NaN and overflowing vectors and with partial targets."""
    config = load_config(ROOT / "examples" / "cu_morse.toml")
    train, _ = read_data(config)
    train.structures[0].forces = None  # a structure without forces: the forces are gathered
    from gafit.fit_data import build_potential
    from gafit.objective import Weights
    from gafit.parameters import build_space

    pot = build_potential(config, train)
    space = build_space(pot, config.potential.parameters)
    for weights in (config.weights, Weights(1.0, 0.5, 0.2, 0.3)):
        objective = Objective(pot, space, train, weights)
        x = space.from_unit(np.random.default_rng(0).random((9, space.n_free)))
        x[3] = np.nan
        x[4] *= 1e30
        r = objective.residuals(x)
        np.testing.assert_allclose(objective.loss(x), np.einsum("br,br->b", r, r), rtol=1e-12)
