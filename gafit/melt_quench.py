"""Melt–quench MD in LAMMPS with a potential's exported files, and the structure of the glass it makes.

A covalent potential fitted to crystal data can be far off in the disordered phases MD visits. The
cheapest test: melt a crystal well above its melting point, quench it to room temperature, and compare
the radial distribution function g(r) and the coordination numbers with experiment (amorphous Si has a
mean coordination just below 4). :func:`melt_quench` runs the three stages (melt at ``melt_temperature``,
a linear thermostat ramp down to ``final_temperature``, an anneal there during which g(r) is sampled)
with the same LAMMPS files ``gafit export`` writes, through :mod:`gafit.md`'s machinery (collapse and
lost-atom detection included). :func:`rdf` and :func:`coordination` work on any periodic structure.

Units: temperature K, time ps, timestep fs, distances Å, density g/cm³.
The run is deterministic for a given seed on one process.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from ase import Atoms

from gafit.md import (
    COLLAPSE_DISTANCE,
    MDSample,
    _min_distance,
    _run_chunk,
    _sample,
    lammps_session,
    run_failures,
    start_cell,
)
from gafit.potential import Potential
from gafit.structures import GafitInputError

__all__ = ["MeltQuenchResult", "MeltQuenchSettings", "coordination", "melt_quench", "rdf"]


@dataclass
class MeltQuenchSettings:
    """Melt at ``melt_temperature`` for ``melt_time``, ramp the thermostat to ``final_temperature``
    over ``quench_time``, hold there for ``anneal_time`` while sampling g(r) every ``sample_steps``.
    The volume stays the crystal's (NVT, Nosé-Hoover): amorphous Si is within 2 % of the crystal's
    density, and a barostat on a 64-216 atom liquid lets the cell run away."""

    melt_temperature: float  # K
    melt_time: float  # ps
    quench_time: float  # ps
    final_temperature: float = 300.0  # K
    anneal_time: float = 2.0  # ps
    cutoff: float = 2.85  # Å, bonded-neighbour distance for the coordination numbers
    seed: int = 1
    timestep: float = 1.0  # fs
    tdamp: float = 0.1  # ps
    supercell: tuple[int, int, int] = (1, 1, 1)
    r_max: float = 6.0  # Å, range of g(r)
    bins: int = 120
    sample_steps: int = 100
    melted_msd: float = 4.0  # Å², mean square displacement the melt must reach to count as liquid
    collapse_distance: float = COLLAPSE_DISTANCE  # Å

    def check(self) -> None:
        """Refuse settings LAMMPS cannot run, naming the parameter."""
        for name in ("melt_temperature", "melt_time", "quench_time", "final_temperature", "anneal_time",
                     "cutoff", "timestep", "tdamp", "r_max", "melted_msd", "collapse_distance"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise GafitInputError(f"melt_quench: {name} = {value}: must be a positive number")
        if self.melt_temperature <= self.final_temperature:
            raise GafitInputError(f"melt_quench: melt_temperature = {self.melt_temperature} K must be above "
                                  f"final_temperature = {self.final_temperature} K")
        if self.cutoff >= self.r_max:
            raise GafitInputError(f"melt_quench: cutoff = {self.cutoff} Å must be below "
                                  f"r_max = {self.r_max} Å")
        if not 0 < self.seed < 2**31:
            raise GafitInputError(f"melt_quench: seed = {self.seed}: LAMMPS needs 0 < seed < 2^31")
        if len(self.supercell) != 3 or any(int(n) != n or n < 1 for n in self.supercell):
            raise GafitInputError(f"melt_quench: supercell = {self.supercell}: three positive integers")
        if self.bins < 10 or self.sample_steps < 1:
            raise GafitInputError(f"melt_quench: bins = {self.bins}, sample_steps = {self.sample_steps}: "
                                  "need at least 10 bins and 1 step")

    def steps(self, ps: float) -> int:
        return max(1, round(ps * 1000.0 / self.timestep))


@dataclass
class MeltQuenchResult:
    """What the run gave: g(r) and coordination of the quenched structure (averaged over the anneal),
    how far the melt diffused, and the failures (empty when the run went through)."""

    settings: MeltQuenchSettings
    n_atoms: int
    r: list[float] = field(default_factory=list)  # Å, bin centres
    g: list[float] = field(default_factory=list)  # g(r) of the quenched structure
    coordination_mean: float = math.nan
    coordination_fractions: dict[int, float] = field(default_factory=dict)  # n -> fraction of atoms
    melt_msd: float = math.nan  # Å², at the end of the melt
    density: float = math.nan  # g/cm³ (the crystal's: the volume is fixed)
    temperature_mean: float = math.nan  # K, over the anneal
    lost_atoms: int = 0
    min_distance: float = math.inf  # Å, shortest pair distance at any step
    steps_done: int = 0
    frames: int = 0  # structures averaged for g(r)
    error: str | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def fourfold(self) -> float:
        return self.coordination_fractions.get(4, 0.0)

    def to_dict(self) -> dict[str, Any]:
        def clean(x: Any) -> Any:
            if isinstance(x, float) and not math.isfinite(x):
                return None
            if isinstance(x, dict):
                return {str(k): clean(v) for k, v in x.items()}
            if isinstance(x, list | tuple):
                return [clean(v) for v in x]
            return x

        return clean(asdict(self) | {"fourfold": self.fourfold})


# --------------------------------------------------------------------------- structure analysis


def rdf(frames: Sequence[Atoms], r_max: float, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Radial distribution function averaged over ``frames`` (periodic, same composition): bin
    centres r_b (Å) and g_b, normalised to 1 for an ideal gas of the same density."""
    from ase.neighborlist import neighbor_list

    edges = np.linspace(0.0, r_max, bins + 1)
    g_b = np.zeros(bins)
    for atoms in frames:
        d = neighbor_list("d", atoms, r_max, self_interaction=False)
        counts, _ = np.histogram(d, edges)
        n = len(atoms)
        shell_b = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
        g_b += counts / (n * (n / atoms.get_volume()) * shell_b)
    return 0.5 * (edges[1:] + edges[:-1]), g_b / max(len(frames), 1)


def coordination(atoms: Atoms, cutoff: float) -> np.ndarray:
    """Number of neighbours within ``cutoff`` (Å) of each atom (periodic images included)."""
    from ase.neighborlist import neighbor_list

    i = neighbor_list("i", atoms, cutoff, self_interaction=False)
    return np.bincount(i, minlength=len(atoms))


def _density(atoms: Atoms) -> float:
    """g/cm³."""
    return float(atoms.get_masses().sum() / atoms.get_volume() * 1.66053906660)


# --------------------------------------------------------------------------- the run


def _snapshot(lmp: Any, numbers: np.ndarray) -> Atoms:
    """The LAMMPS box and positions as ASE atoms (ordered by atom id)."""
    boxlo, boxhi, xy, yz, xz, _, _ = lmp.extract_box()
    h = np.array(boxhi) - np.array(boxlo)
    cell = np.array([[h[0], 0.0, 0.0], [xy, h[1], 0.0], [xz, yz, h[2]]])
    nlocal = int(lmp.extract_global("nlocal"))
    ids = np.array(lmp.numpy.extract_atom("id")[:nlocal], dtype=np.int64)
    x = np.array(lmp.numpy.extract_atom("x")[:nlocal], dtype=float) - np.array(boxlo)
    order = np.argsort(ids)
    atoms = Atoms(numbers=numbers[ids[order] - 1], positions=x[order], cell=cell, pbc=True)
    atoms.wrap()
    return atoms


def melt_quench(potential: Potential, atoms: Atoms, settings: MeltQuenchSettings,
                progress: Callable[[MDSample, int], None] | None = None) -> MeltQuenchResult:
    """Melt, quench and anneal ``atoms`` (repeated by ``settings.supercell``) in LAMMPS with
    ``potential``'s exported files; ``progress(sample, total_steps)`` after every chunk (the sample's
    ensemble names the stage: melt, quench, anneal)."""
    settings.check()
    start = start_cell(potential, atoms, settings.supercell, "melt_quench")
    res = MeltQuenchResult(settings=settings, n_atoms=len(start), density=_density(start))
    res.min_distance = _min_distance(start.positions, np.array(start.cell))
    s = settings
    stages = [("melt", s.steps(s.melt_time), s.melt_temperature, s.melt_temperature),
              ("quench", s.steps(s.quench_time), s.melt_temperature, s.final_temperature),
              ("anneal", s.steps(s.anneal_time), s.final_temperature, s.final_temperature)]
    total = sum(n for _, n, _, _ in stages)
    frames: list[Atoms] = []
    temps: list[float] = []
    with lammps_session(potential, start, s.timestep, res, "gafit-mq-") as lmp:
        lmp.commands_list(["compute gafit_msd all msd",
                           f"velocity all create {s.melt_temperature!r} {s.seed} "
                           "dist gaussian mom yes rot no loop geom"])
        for stage, nsteps, t0, t1 in stages:
            lmp.command(f"fix gafit_mq all nvt temp {t0!r} {t1!r} {s.tdamp!r}")
            done = 0
            while done < nsteps:
                n = min(s.sample_steps, nsteps - done)
                dmin, _ = _run_chunk(lmp, n)
                done += n
                res.steps_done += n
                res.min_distance = min(res.min_distance, dmin)
                res.lost_atoms = res.n_atoms - int(lmp.get_natoms())
                sample = _sample(lmp, stage, res.steps_done, s, dmin)  # type: ignore[arg-type]
                if stage == "anneal":
                    frames.append(_snapshot(lmp, start.numbers))
                    temps.append(sample.temperature)
                if progress is not None:
                    progress(sample, total)
                if _failures(res):
                    break
            if stage == "melt":
                res.melt_msd = float(lmp.numpy.extract_compute("gafit_msd", 0, 1)[3])
            lmp.command("unfix gafit_mq")
            if _failures(res):
                break
    res.failures = _failures(res)
    if not res.failures and frames:
        _analyse(res, frames, temps)
    return res


def _analyse(res: MeltQuenchResult, frames: list[Atoms], temps: list[float]) -> None:
    s = res.settings
    r_b, g_b = rdf(frames, s.r_max, s.bins)
    res.r, res.g, res.frames = r_b.tolist(), g_b.tolist(), len(frames)
    z = np.concatenate([coordination(a, s.cutoff) for a in frames])
    res.coordination_mean = float(z.mean())
    values, counts = np.unique(z, return_counts=True)
    res.coordination_fractions = {int(v): float(c / z.size) for v, c in zip(values, counts, strict=True)}
    res.temperature_mean = float(np.mean(temps))
    if not res.melt_msd > s.melted_msd:
        res.failures.append(f"did not melt: mean square displacement {res.melt_msd:.3g} Å² after "
                            f"{s.melt_time:g} ps at {s.melt_temperature:g} K "
                            f"(liquid: above {s.melted_msd:g})")


def _failures(res: MeltQuenchResult) -> list[str]:
    return run_failures(res.error, res.lost_atoms, res.min_distance, res.settings.collapse_distance)


def plot_rdf(res: MeltQuenchResult, title: str = "", reference: float | None = None) -> Any:
    """Matplotlib figure: g(r) of the quenched structure with the coordination cutoff, and the
    distribution of coordination numbers (``reference``: the mean to compare with)."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

    fig = Figure(figsize=(7, 4.8))
    ax, bx = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1.2]})
    s = res.settings
    ax.plot(res.r, res.g, color="C0", lw=1.4, label=f"quenched to {s.final_temperature:g} K")
    ax.axvline(s.cutoff, color="C3", ls="--", lw=1, label=f"cutoff {s.cutoff:g} Å")
    ax.axhline(1.0, color="0.6", lw=0.7, ls=":")
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("g(r)")
    ax.set_xlim(0, s.r_max)
    ax.legend(loc="upper right", frameon=False, fontsize=8)
    ax.set_title(title, fontsize=10)
    zs = sorted(res.coordination_fractions)
    bx.bar(zs, [res.coordination_fractions[z] for z in zs], color="C0")
    bx.set_xticks(zs)
    bx.set_xlabel("coordination")
    bx.set_ylabel("fraction of atoms")
    head = f"mean {res.coordination_mean:.2f}" + (f"\nref. {reference:g}" if reference is not None else "")
    bx.set_title(head, fontsize=9)
    fig.tight_layout()
    return fig
