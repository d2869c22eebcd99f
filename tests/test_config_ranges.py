"""What a config may give is declared once, in the settings dataclasses' field metadata (``range``,
``choices``), and parse_config enforces every declaration with a one-line error naming the key."""

from __future__ import annotations

from dataclasses import fields

import pytest
from helpers import ROOT

from gafit.config import DataConfig, RefineConfig, parse_config
from gafit.ga import GASettings
from gafit.phonons.target import PhononTargetConfig
from gafit.structures import GafitInputError

BASE = {"data": {"train": str(ROOT / "data" / "Cu_EMT.extxyz")},
        "potential": {"form": "morse", "species": ["Cu"], "cutoff": 6.0}}


def declared(cls: type, key: str) -> list[tuple[str, object]]:
    return [(f.name, f.metadata[key]) for f in fields(cls) if key in f.metadata]


TABLES = {"ga": GASettings, "refine": RefineConfig, "data": DataConfig}
RANGES = [(table, name, r) for table, cls in TABLES.items() for name, r in declared(cls, "range")]


#: [ga] keys that only a pareto fit may give (any value, even the bound, needs the mode)
PARETO_ONLY = {"front_gap": {"mode": "pareto", "objectives": ["energy", "forces"]}}


def config(table: str, key: str, value: object) -> dict:
    out = {k: dict(v) for k, v in BASE.items()}
    out.setdefault(table, {})[key] = value
    if table == "ga":
        out["ga"].update(PARETO_ONLY.get(key, {}))
    return out


def test_the_ranges_are_declared() -> None:
    names = {name for _, name, _ in RANGES}
    assert {"population", "seed", "crossover_prob", "subset_fraction", "max_evaluations",
            "split_seed"} <= names


@pytest.mark.parametrize(("table", "name", "bounds"), RANGES)
def test_every_declared_range_is_enforced(table: str, name: str, bounds: tuple) -> None:
    lo, hi = bounds
    is_int = str(next(f.type for f in fields(TABLES[table]) if f.name == name)).startswith("int")
    below = (lo - 1) if is_int else lo - 0.5 * max(abs(lo), 1e-9)
    parse_config(config(table, name, lo))  # the bound itself is allowed
    with pytest.raises(GafitInputError) as err:
        parse_config(config(table, name, below))
    assert str(err.value) == f"config: [{table}] {name} = {below!r} must be " + (
        f">= {lo}" if hi is None else f"in [{lo}, {hi}]")
    if hi is not None:
        with pytest.raises(GafitInputError, match=f"{name} = .* must be in "):
            parse_config(config(table, name, hi + 1.0))


@pytest.mark.parametrize(("cls", "where", "name"), [
    (RefineConfig, "[refine]", "jacobian"), (RefineConfig, "[refine]", "method"),
    (PhononTargetConfig, "[phonons]", "lattice")])
def test_every_declared_choice_is_enforced(cls: type, where: str, name: str) -> None:
    choices = dict(declared(cls, "choices"))[name]
    table = {k: dict(v) for k, v in BASE.items()}
    if cls is RefineConfig:
        table["refine"] = {name: "nonsense"}
    else:
        table["phonons"] = {"reference": "phonopy_disp.yaml", name: "nonsense"}
    with pytest.raises(GafitInputError) as err:
        parse_config(table)
    assert str(err.value) == (f"config: {where} {name} = 'nonsense': expected one of "
                              f"{', '.join(map(repr, choices))}")
