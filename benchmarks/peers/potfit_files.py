"""potfit's input files written from gafit's structures and potentials, and a potfit binary timed
per evaluation of its objective.

potfit (https://www.potfit.net) is not built here: :func:`time_potfit` runs a binary the caller
names (an environment variable in :mod:`compiled_fitters`). The files follow potfit's documented
formats: a configuration file (``#N``, ``#C``, ``#X/#Y/#Z``, ``#E`` per atom, ``#S``, ``#F`` then
one ``type x y z fx fy fz`` line per atom), an analytic potential file (format 0) and a parameter
file.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gafit.potential import Potential
from gafit.structures import Structure

#: potfit's Tersoff parameters in the order of its ``tersoff_pot`` function, from gafit's (LAMMPS's)
#: names: potfit's gamma is LAMMPS's beta, its mu LAMMPS's lambda2, its lambda LAMMPS's lambda1; its
#: cutoff runs from R - D to S = R + D (the same cosine switch as LAMMPS's R, D)
TERSOFF_ORDER = ("A", "B", "lambda1", "lambda2", "beta", "n", "c", "d", "costheta0")


def config_text(structures: Sequence[Structure], species: Sequence[str]) -> str:
    """potfit's configuration file of ``structures`` (periodic cells, Å; energies per atom, eV;
    forces eV/Å; stress eV/Å³, only where the structure has one, as gafit fits it). A missing
    energy or forces are written as zeros (potfit needs them; they do not change its cost)."""
    out: list[str] = []
    for s in structures:
        atoms = s.atoms
        n = len(atoms)
        types = [species.index(sym) for sym in atoms.get_chemical_symbols()]
        f_nc = s.forces if s.forces is not None else np.zeros((n, 3))
        energy = s.energy / n if s.energy is not None else 0.0
        out.append(f"#N {n} 1")
        out.append("#C " + " ".join(species))
        for tag, vec in zip("XYZ", atoms.cell.array, strict=True):
            out.append(f"#{tag} " + " ".join(f"{v:.12f}" for v in vec))
        out.append(f"#E {energy:.12f}")
        if s.stress is not None:  # potfit's order xx yy zz xy yz zx; ASE's xx yy zz yz xz xy
            out.append("#S " + " ".join(f"{s.stress[k]:.12f}" for k in (0, 1, 2, 5, 3, 4)))
        out.append("#F")
        for t, r, f in zip(types, atoms.positions, f_nc, strict=True):
            out.append(f"{t} " + " ".join(f"{v:.12f}" for v in (*r, *f)))
    return "\n".join(out) + "\n"


def _param_lines(names: Sequence[str], values: Sequence[float], free: Sequence[str]) -> list[str]:
    """potfit's ``name value min max`` lines: min == max fixes a parameter; those in ``free`` may
    move by ±1 % (its optimiser then evaluates near the given values)."""
    lines = []
    for name, v in zip(names, values, strict=True):
        lo, hi = (sorted([0.99 * v, 1.01 * v]) if name in free else (v, v))
        lines.append(f"{name} {v:.12g} {lo:.12g} {hi:.12g}")
    return lines


def tersoff_potential_text(potential: Potential, free: Sequence[str] = ("A",)) -> str:
    """potfit's analytic (format 0) TERSOFF file of a one-species gafit Tersoff potential.

    potfit's Tersoff has no exp(lambda3^m (r_ij - r_ik)^m) factor: the file holds the other
    parameters, and potfit computes that term as if lambda3 were 0.
    """
    (sp,) = potential.species
    value = dict(zip(potential.names, potential.values, strict=True))
    key = f"{sp}-{sp}-{sp}."
    p = {name: value[key + name] for name in (*TERSOFF_ORDER, "R", "D")}
    names = ["A", "B", "lambda", "mu", "gamma", "n", "c", "d", "h", "S", "R"]
    values = [p[k] for k in TERSOFF_ORDER] + [p["R"] + p["D"], p["R"] - p["D"]]
    return "\n".join(["#F 0 1", "#T TERSOFF", "#I 0", "#E", "",
                      "type tersoff_pot", f"cutoff {p['R'] + p['D']:.12g}",
                      *_param_lines(names, values, free), ""])


def morse_potential_text(potential: Potential, free: Sequence[str] = ("D_e",)) -> str:
    """potfit's analytic (format 0) PAIR file of a one-species gafit Morse potential (hard cutoff:
    potfit's ``morse`` without ``_sc``)."""
    (sp,) = potential.species
    value = dict(zip(potential.names, potential.values, strict=True))
    key = f"{sp}-{sp}."
    values = [value[key + "D0"], value[key + "alpha"], value[key + "r0"]]
    cutoff = potential.forms[0].cutoff
    return "\n".join(["#F 0 1", "#T PAIR", "#I 0", "#E", "",
                      "type morse", f"cutoff {cutoff:.12g}",
                      *_param_lines(["D_e", "a", "r_0"], values, free), ""])


def param_text(ntypes: int, optimize: bool, seed: int = 1) -> str:
    """potfit's parameter file: ``opt 0`` evaluates once; ``opt 1`` runs its simulated annealing
    (``anneal_temp``) and Powell least squares, many evaluations at nearby parameters."""
    return "\n".join([f"ntypes {ntypes}", "config config", "startpot startpot", "endpot endpot",
                      "tempfile tempfile", "output_prefix out", f"opt {int(optimize)}",
                      "anneal_temp 0.0001", f"seed {seed}", "eng_weight 1", "stress_weight 1",
                      ""])


@dataclass
class PotfitRun:
    """One potfit run: child CPU seconds, evaluations (its force-call counter plus the final
    one), and the energies per atom it computed at the starting parameters (``opt 0`` only)."""

    cpu_s: float
    evaluations: int
    energy_per_atom: np.ndarray | None


_FCALLS = re.compile(r"^(\d+) force calculations", re.MULTILINE)


def run_potfit(binary: Path, workdir: Path, optimize: bool) -> PotfitRun:
    """Run ``binary`` on the files in ``workdir`` (config, startpot) with a fresh param_file."""
    (workdir / "param_file").write_text(param_text(1, optimize))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([str(binary), "param_file"], cwd=workdir, capture_output=True,
                          text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
        raise RuntimeError(f"{binary} failed in {workdir}: " + " | ".join(tail))
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    m = _FCALLS.search(proc.stdout)
    evaluations = (int(m.group(1)) if m else 0) + 1
    energies = None
    if not optimize:
        energies = read_energies(workdir / "out.energy")
    return PotfitRun(cpu, evaluations, energies)


def read_energies(path: Path) -> np.ndarray:
    """potfit's computed energy per atom of each configuration (the ``conf`` rows of its
    ``.energy`` error file: nr, weight, weighted square, then its calculated value)."""
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and parts[0].isdigit():
            rows.append(float(parts[3]))
    return np.array(rows)


def time_potfit(binary: Path, workdir: Path, repeats: int = 2) -> tuple[float, int, np.ndarray]:
    """potfit's CPU seconds per evaluation of its objective (energy, forces and stress of every
    configuration, residuals and sum of squares), its number of evaluations, and its energies
    per atom at the starting parameters.

    potfit reads the files and builds its neighbour and angle lists once, then evaluates; so the
    cost of one evaluation is the CPU time of an optimising run (thousands of evaluations) less
    that of a run with ``opt 0`` (setup and one evaluation), over the difference in evaluations.
    Best of ``repeats`` each.
    """
    once = [run_potfit(binary, workdir, optimize=False) for _ in range(repeats)]
    many = [run_potfit(binary, workdir, optimize=True) for _ in range(repeats)]
    base = min(once, key=lambda r: r.cpu_s)
    best = min(many, key=lambda r: r.cpu_s)
    if best.evaluations <= base.evaluations:
        raise RuntimeError(f"{binary} reported no force calculations in its optimising run")
    per_eval = (best.cpu_s - base.cpu_s) / (best.evaluations - base.evaluations)
    assert base.energy_per_atom is not None
    return per_eval, best.evaluations, base.energy_per_atom
