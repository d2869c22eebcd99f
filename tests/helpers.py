"""Builders and paths shared by test files (imported as ``from helpers import ...``; tests/ is on
sys.path because conftest.py lives there)."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from gafit.evaluate import evaluate_potential
from gafit.forms.morse import Morse
from gafit.geometry import VOIGT
from gafit.io import write_reference
from gafit.potential import Potential
from gafit.structures import ReferenceSet, Structure

#: the repository
ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_file(relpath: str) -> Path:
    """A file of ../shared/data, or skip the test when it is absent."""
    path = SHARED_DATA / relpath
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


def varied_structures(species: tuple[str, str] = ("Cu", "Ag"), seed: int = 0) -> ReferenceSet:
    """Two species, triclinic cells not aligned with the axes, cells smaller than twice the cutoff,
    an atom seeing its own images, and a cluster without periodicity."""
    rng = np.random.default_rng(seed)
    a, b = species
    out = []
    # triclinic, rotated, random composition
    at = bulk(a, "fcc", a=3.7, cubic=True) * (2, 1, 1)
    at.symbols[rng.random(len(at)) < 0.5] = b
    strain = np.eye(3) + rng.normal(0, 0.05, (3, 3))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    at.set_cell(at.cell @ strain @ q, scale_atoms=True)
    at.rattle(0.1, seed=seed)
    out.append(Structure(at, name="triclinic"))
    # one-atom primitive cell: every neighbour is an image of itself
    prim = bulk(a, "fcc", a=3.6)
    prim.set_cell(prim.cell @ (np.eye(3) + 0.02 * rng.normal(size=(3, 3))), scale_atoms=True)
    out.append(Structure(prim, name="primitive"))
    # small two-atom cell, both species
    small = bulk(a, "bcc", a=3.0, cubic=True)
    small.symbols[1] = b
    small.rattle(0.05, seed=seed + 1)
    out.append(Structure(small, name="small-bcc"))
    # non-periodic cluster
    pos = rng.normal(0, 2.2, (9, 3))
    cl = Atoms([a, b] * 4 + [a], positions=pos)
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1) + 10 * np.eye(len(pos))
    while d.min() < 1.8:  # push apart atoms that start too close
        pos *= 1.1
        d = np.linalg.norm(pos[:, None] - pos[None], axis=-1) + 10 * np.eye(len(pos))
    cl.positions = pos
    out.append(Structure(cl, name="cluster"))
    # slab: periodic in two directions only
    slab = bulk(b, "fcc", a=3.8, cubic=True) * (1, 1, 2)
    slab.symbols[:3] = a
    slab.center(vacuum=5.0, axis=2)
    slab.pbc = (True, True, False)
    slab.rattle(0.05, seed=seed + 2)
    out.append(Structure(slab, name="slab"))
    return ReferenceSet(out, "varied")


# ---------------------------------------------------------------------------- shared test structures


def mgo_rocksalt(a: float = 4.21) -> Atoms:
    """The conventional 8-atom rocksalt MgO cell."""
    return bulk("MgO", "rocksalt", a=a, cubic=True)


def mgo_rattled(seed: int, a: float = 4.21, reps: tuple[int, int, int] = (2, 1, 1),
                strain: float = 0.03, rattle: float = 0.08) -> Atoms:
    """A rocksalt MgO supercell under a random strain (std ``strain``) with rattled atoms (Å)."""
    rng = np.random.default_rng(seed)
    at = mgo_rocksalt(a) * reps
    at.set_cell(at.cell @ (np.eye(3) + rng.normal(0, strain, (3, 3))), scale_atoms=True)
    at.rattle(rattle, seed=seed)
    return at


def mgo_small_cell(seed: int = 2) -> Atoms:
    """Two atoms in a skewed primitive MgO cell: every atom sees many of its own images."""
    at = bulk("MgO", "rocksalt", a=4.21)
    rng = np.random.default_rng(seed)
    at.set_cell(at.cell @ (np.eye(3) + rng.normal(0, 0.03, (3, 3))), scale_atoms=True)
    at.rattle(0.08, seed=seed)
    return at


def record_pids(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, pids: Path) -> None:
    """Replace ``module.name`` by a wrapper that appends the calling process's id to ``pids`` (a
    line per call) before calling it: which process (main or a worker) ran each call."""
    import os

    original = getattr(module, name)

    def recorded(*args, **kw):
        with pids.open("a") as f:
            f.write(f"{os.getpid()}\n")
        return original(*args, **kw)

    monkeypatch.setattr(module, name, recorded)


def assert_jacobian_matches_central_differences(objective, x: np.ndarray, floor: float = 1e-6,
                                                rel_step: float = 1e-6,
                                                columns: Sequence[int] | None = None) -> None:
    """Every column (or those of ``columns``) of ``objective.jacobian(x)`` equals central
    differences (steps ``rel_step`` times |x|) of the residuals to 1e-6 of the column's largest
    entry (at least ``floor``)."""
    jac = objective.jacobian(x)
    assert jac is not None and jac.shape == (objective.residuals(x[None]).shape[1], len(x))
    for k in range(len(x)) if columns is None else columns:
        h = rel_step * abs(x[k])
        xs = np.repeat(x[None], 2, axis=0)
        xs[0, k] += h
        xs[1, k] -= h
        r = objective.residuals(xs)
        fd = (r[0] - r[1]) / (2 * h)
        assert np.abs(jac[:, k] - fd).max() <= 1e-6 * max(np.abs(fd).max(), floor), k


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


#: the Girifalco-Weizer Morse of fcc Cu (D0 eV, alpha 1/Å, r0 Å, E0 eV) that the phonon tests take as true
TRUE = np.array([0.3429, 1.3588, 2.866, 0.0])
#: volume ratios of the synthetic three-volume Grüneisen reference (unequal, as DFT's need not be)
RATIOS = {"orig": 1.0, "plus": 1.012, "minus": 0.991}
#: the published Si Tersoff
SI_TERSOFF = ROOT / "potentials" / "Si_Tersoff_1988.tersoff"


def cu_morse(values: np.ndarray = TRUE) -> Potential:
    """fcc Cu's Morse (cutoff 5 Å) at ``values``."""
    return Potential(["Cu"], [Morse(["Cu"], 5.0)]).with_values(values)


def three_volume_sets(folder: Path) -> Path:
    """phonopy data sets of :func:`cu_morse`'s fcc Cu at the volumes :data:`RATIOS`, in
    phonopy-gruneisen's layout (folder/orig, plus, minus)."""
    from gafit.gruneisen import scaled_cell
    from gafit.phonons import make_phonopy

    for name, ratio in RATIOS.items():
        (folder / name).mkdir()
        ph = make_phonopy(cu_morse(), scaled_cell(bulk("Cu", "fcc", a=3.62), ratio), [2, 2, 2])
        ph.save(str(folder / name / "phonopy_params.yaml"), settings={"force_sets": True})
    return folder


#: the Morse parameters of cu_ag_morse_data
CU_AG_MORSE = {"Cu-Cu.D0": 0.34, "Cu-Cu.alpha": 1.36, "Cu-Cu.r0": 2.87,
        "Cu-Ag.D0": 0.30, "Cu-Ag.alpha": 1.25, "Cu-Ag.r0": 2.96,
        "Ag-Ag.D0": 0.33, "Ag-Ag.alpha": 1.40, "Ag-Ag.r0": 3.05,
        "Cu.E0": -1.1, "Ag.E0": -0.6}


def cu_ag_morse_data(path: Path) -> None:
    """Energies, forces and stresses of random Cu-Ag cells from known Morse parameters."""
    species = ["Cu", "Ag"]
    pot = Potential(species, [Morse(species, 5.5)])
    pot = pot.with_values(np.array([CU_AG_MORSE[n] for n in pot.names]))
    rng = np.random.default_rng(7)
    structures = []
    for k in range(12):
        at = bulk("Cu", "fcc", a=rng.uniform(3.7, 4.1), cubic=True) * (2, 1, 1)
        at.symbols[rng.random(len(at)) < 0.4 + 0.03 * k] = "Ag"
        at.set_cell(at.cell @ (np.eye(3) + rng.normal(0, 0.03, (3, 3))), scale_atoms=True)
        at.rattle(0.08, seed=k)
        structures.append(Structure(at, name=f"s{k}"))
    predicted, _ = evaluate_potential(pot, ReferenceSet(structures))
    write_reference(predicted, path)
