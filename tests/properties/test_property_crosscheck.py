"""The fitted property values checked the direct way (gafit.property_crosscheck): the shipped carbon
Tersoff, whose taper is clear of every shell, agrees with `gafit properties`; moved into the second
neighbours' shell, its interpolated values no longer hold and the check says so and names the shell."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT

from gafit.potential import Potential
from gafit.potential_files import load_potential
from gafit.property_crosscheck import cross_check, taper_shells
from gafit.property_target import PropertyTargetConfig, PropertyTargets

CARBON = ROOT / "potentials" / "C_diamond_phonon_elastic.tersoff"
A = 3.567  # Å, diamond
#: (property, experiment, tolerance) as in potentials/C_diamond_phonon_elastic.toml
TARGETS = [("a", 3.567, 0.02), ("E_coh", 7.37, 0.2), ("C11", 1079.0, 108.0), ("C12", 124.0, 25.0),
           ("C44", 578.0, 58.0)]


def carbon(tmp_path: Path, r: float | None = None, d: float | None = None) -> Potential:
    """The shipped carbon Tersoff, with its cutoff R and half-width D replaced when given."""
    if r is None:
        return load_potential(CARBON, ["C"])
    lines = []
    for line in CARBON.read_text().splitlines():
        words = line.split()
        if words[:3] == ["C", "C", "C"]:
            words[13], words[14] = str(r), str(d)  # LAMMPS order: ... B R D lambda1 A
            line = " ".join(words)
        lines.append(line)
    path = tmp_path / "moved.tersoff"
    path.write_text("\n".join(lines) + "\n")
    return load_potential(path, ["C"])


def targets(pot: Potential) -> PropertyTargets:
    return PropertyTargets.build(pot, [PropertyTargetConfig(p, ref, tol, "diamond", ["C"], A)
                                       for p, ref, tol in TARGETS])


def test_a_taper_clear_of_every_shell_agrees(tmp_path: Path) -> None:
    pot = carbon(tmp_path)
    t = targets(pot)
    rows = t.table(pot.values)
    assert cross_check(pot, t, rows) == []
    assert all(r["agrees"] for r in rows)
    assert [r["property"] for r in rows if "measured" in r] == [p for p, *_ in TARGETS]
    assert taper_shells(pot, t.cells[0].atoms) == []


def test_a_shell_in_the_taper_is_reported_with_the_shell(tmp_path: Path) -> None:
    # taper 2.60-2.85 Å: the second neighbours (a/sqrt(2) = 2.522 Å) enter it at scale 1.04, the
    # third (a sqrt(11)/4 = 2.957 Å) at 0.96 and below
    pot = carbon(tmp_path, 2.725, 0.125)
    t = targets(pot)
    rows = t.table(pot.values)
    problems = cross_check(pot, t, rows)
    assert not all(r["agrees"] for r in rows)
    bad = [r["property"] for r in rows if not r["agrees"]]
    assert any(f"diamond {p} fitted" in line for line in problems for p in bad)
    shells = taper_shells(pot, t.cells[0].atoms)
    second, third = A / np.sqrt(2), A * np.sqrt(11) / 4
    assert any(f"{second:.3f} Å" in s and "scales 1.04-1.05" in s for s in shells), shells
    assert any(f"{third:.3f} Å" in s and "scales 0.95-0.96" in s for s in shells), shells
    assert all(s in "\n".join(problems) for s in shells)


@pytest.mark.parametrize("scales", [[1.0], [0.95, 1.05]])
def test_taper_shells_finds_nothing_between_the_shells(tmp_path: Path, scales: list[float]) -> None:
    # taper 2.0-2.3 Å lies between the first (1.545 Å) and second (2.522 Å) shells at every scale
    pot = carbon(tmp_path, 2.15, 0.15)
    atoms = targets(carbon(tmp_path)).cells[0].atoms
    assert taper_shells(pot, atoms, scales) == []
