"""Shared fixtures: varied structures, the shared data folder, LAMMPS availability."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from gafit.structures import ReferenceSet, Structure

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_file(relpath: str) -> Path:
    """A file of ../shared/data, or skip the test when it is absent."""
    path = SHARED_DATA / relpath
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


@pytest.fixture(scope="session")
def lammps_available() -> None:
    try:
        from gafit.lammps.runner import load_lammps

        load_lammps()
    except Exception as err:  # pragma: no cover - depends on the environment
        pytest.skip(f"LAMMPS not available: {err}")


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


def assert_jacobian_matches_central_differences(objective, x: np.ndarray, floor: float = 1e-6) -> None:
    """Every column of ``objective.jacobian(x)`` equals central differences of the residuals to 1e-6
    of the column's largest entry (at least ``floor``)."""
    jac = objective.jacobian(x)
    assert jac is not None and jac.shape == (objective.residuals(x[None]).shape[1], len(x))
    for k in range(len(x)):
        h = 1e-6 * abs(x[k])
        xs = np.repeat(x[None], 2, axis=0)
        xs[0, k] += h
        xs[1, k] -= h
        r = objective.residuals(xs)
        fd = (r[0] - r[1]) / (2 * h)
        assert np.abs(jac[:, k] - fd).max() <= 1e-6 * max(np.abs(fd).max(), floor), k
