"""The built-in Lennard-Jones form (``lj``, LAMMPS ``lj/cut``) against LAMMPS on argon and an
argon-krypton mixture, with neighbour shells on both sides of the cutoff."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from gafit.evaluate import predict
from gafit.forms import get_form
from gafit.lammps.files import read_pair_lmp, write_lammps
from gafit.potential import Potential
from gafit.structures import GafitInputError, ReferenceSet, Structure

A_AR = 5.26  # Å, fcc argon
# shells of fcc at a/sqrt(2) * sqrt(1, 2, 3, 4, 5): 3.72, 5.26, 6.44, 7.44, 8.32 Å; the cutoff
# sits between the 4th and 5th, so rattled and strained cells have pairs on both sides of it
CUTOFF = 7.9


def argon_krypton() -> ReferenceSet:
    """fcc Ar (perfect and rattled), fcc Ar with a quarter Kr (strained, rattled), compressed."""
    rng = np.random.default_rng(11)
    out = [Structure(bulk("Ar", "fcc", a=A_AR), name="Ar-fcc")]
    for k, (scale, kr) in enumerate([(1.0, []), (1.0, [0, 5]), (0.9, [1, 2, 7])]):
        at = bulk("Ar", "fcc", a=A_AR * scale, cubic=True) * (2, 1, 1)
        at.symbols[kr] = "Kr"
        at.set_cell(at.cell @ (np.eye(3) + rng.normal(0, 0.02, (3, 3))), scale_atoms=True)
        at.rattle(0.15, seed=k)
        out.append(Structure(at, name=f"ArKr-{k}"))
    return ReferenceSet(out, "Ar-Kr")


def potential() -> Potential:
    """Ar-Ar, Ar-Kr, Kr-Kr with epsilon and sigma not related by any mixing rule."""
    form = get_form("lj")(["Ar", "Kr"], CUTOFF)
    values = {"Ar-Ar.epsilon": 0.0104, "Ar-Ar.sigma": 3.40, "Ar-Kr.epsilon": 0.0151,
              "Ar-Kr.sigma": 3.52, "Kr-Kr.epsilon": 0.0140, "Kr-Kr.sigma": 3.65}
    theta = [values[n] for n in form.parameter_names()]
    return Potential(["Ar", "Kr"], [form], np.array(theta + [0.0, 0.0]))


def test_lj_agrees_with_lammps_across_the_cutoff(lammps_available) -> None:
    from gafit.lammps.verify import verify

    data = argon_krypton()
    report = verify(potential(), data)
    assert set(report.max_rel) == {"energy", "forces", "stress"}
    assert report.max_relative < 1e-8, report.text()


def test_pairs_beyond_the_cutoff_are_dropped_not_shifted() -> None:
    """Moving the cutoff across the 5th shell of perfect fcc Ar changes the energy by exactly the
    unshifted pair energy of that shell (24 neighbours, half each), as lj/cut without shift."""
    data = ReferenceSet([Structure(bulk("Ar", "fcc", a=A_AR), name="Ar")])
    pot = potential()
    r5 = A_AR / np.sqrt(2) * np.sqrt(5)
    energies = []
    for cut in (r5 - 0.01, r5 + 0.01):
        form = get_form("lj")(["Ar", "Kr"], cut)
        energies.append(predict(Potential(pot.species, [form], pot.values), data)[0][0])
    eps, sig = 0.0104, 3.40
    shell = 24 * 4 * eps * ((sig / r5) ** 12 - (sig / r5) ** 6) / 2
    assert energies[1] - energies[0] == pytest.approx(shell, rel=1e-12)


def test_pair_lmp_round_trip(tmp_path: Path) -> None:
    pot = potential()
    back = read_pair_lmp(write_lammps(pot, tmp_path))
    assert [f.name for f in back.forms] == ["lj"] and back.forms[0].cutoff == CUTOFF
    np.testing.assert_array_equal(back.values, pot.values)


def test_shifted_lj_is_refused(tmp_path: Path) -> None:
    """pair_modify shift yes changes LAMMPS's energies; gafit does not reproduce it and says so."""
    pair = write_lammps(potential(), tmp_path)
    pair.write_text(pair.read_text() + "pair_modify shift yes\n")
    with pytest.raises(GafitInputError, match=r"pair\.lmp line \d+: pair_modify"):
        read_pair_lmp(pair)
