"""Builders shared by test files (imported as ``from helpers import ...``; tests/ is on sys.path
because conftest.py lives there)."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from gafit.geometry import VOIGT

ROOT = Path(__file__).resolve().parents[1]


def strain_derivative(energy_of: Callable[[Atoms], float], atoms: Atoms, h: float = 1e-6
                      ) -> np.ndarray:
    """dE/dε / V (eV/Å³, Voigt order xx yy zz yz xz xy) of ``energy_of`` at ``atoms`` by central
    differences of symmetric strains ±h/2: the stress a form must give."""
    out = np.empty(len(VOIGT))
    for v, (a, b) in enumerate(VOIGT):
        e = []
        for sgn in (1, -1):
            eps = np.eye(3)
            eps[a, b] += sgn * h / 2
            eps[b, a] += sgn * h / 2
            at = atoms.copy()
            at.set_cell(at.cell @ eps, scale_atoms=True)
            e.append(energy_of(at))
        out[v] = (e[0] - e[1]) / (2 * h) / atoms.get_volume()
    return out


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML for {v!r}")


def to_toml(table: dict, prefix: tuple[str, ...] = ()) -> str:
    """A TOML document for a nested dict of plain values (enough for gafit configs)."""
    out = ["[" + ".".join(json.dumps(p) for p in prefix) + "]"] if prefix else []
    out += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for k, v in table.items():
        if isinstance(v, dict):
            out.append(to_toml(v, (*prefix, k)))
    return "\n".join(out) + "\n"


def demo_config(**changes: dict) -> dict:
    """examples/cu_morse.toml with an absolute data path, a small GA and a validation split."""
    table = tomllib.loads((ROOT / "examples" / "cu_morse.toml").read_text(encoding="utf-8"))
    table["data"]["train"] = str((ROOT / "examples" / table["data"]["train"]).resolve())
    table["data"]["validation_fraction"] = 0.25
    table["ga"].update(population=16, generations=4)
    table["refine"] = {"starts": 1, "max_evaluations": 30}
    # bounds far too tight for EMT copper: r0 must end at one of them, and be flagged in the report
    table["potential"]["parameters"]["Cu-Cu.r0"] = [2.0, 2.4]
    for key, value in changes.items():
        table[key] = value
    return table
