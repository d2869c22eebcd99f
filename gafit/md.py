"""Molecular dynamics in LAMMPS with a potential's exported files: does it survive heating?

A potential with good RMSEs on DFT frames can still have no repulsive wall (Buckingham's -C/r^6 wins
at short range), so hot MD pushes a pair over the barrier and the structure collapses: atoms fuse,
fly apart and are lost. :func:`run_md` writes the potential's LAMMPS files (``pair.lmp`` and any
parameter file, exactly what ``gafit export`` writes), runs them with the ``lammps`` Python module on
a structure (optionally a supercell), and reports what a user would see: lost atoms, the shortest
interatomic distance at any step, the temperature reached, and the energy drift of an NVE run.

Units: temperature K, time ps, timestep fs, distances Å, energies eV (per atom where named so).
The run is deterministic for a given seed (``velocity ... loop geom``) on one process.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from gafit.lammps.files import atom_style, write_lammps
from gafit.lammps.runner import _Instance  # one LAMMPS instance holding one structure
from gafit.potential import Potential
from gafit.structures import GafitInputError

__all__ = ["MDResult", "MDSample", "MDSettings", "run_md"]

#: a pair closer than this (Å) means the structure has collapsed (bonds are ~1 Å or longer; a
#: potential without a wall drives pairs towards 0)
COLLAPSE_DISTANCE = 0.5


@dataclass
class MDSettings:
    """What to run: NVT (Nosé-Hoover) at ``temperature`` for ``time``, then NVE for ``nve_time``."""

    temperature: float  # K, also the initial velocities' temperature
    time: float  # ps of NVT
    seed: int = 1  # LAMMPS velocity seed (a positive integer)
    timestep: float = 1.0  # fs
    nve_time: float = 0.0  # ps of NVE after the NVT part, for the energy drift
    tdamp: float = 0.1  # ps, thermostat damping time
    supercell: tuple[int, int, int] = (1, 1, 1)
    collapse_distance: float = COLLAPSE_DISTANCE  # Å
    sample_steps: int = 100  # steps between samples (progress, temperature, energies)
    stop_on_failure: bool = True  # end the run at the first lost atom or collapse

    def check(self) -> None:
        """Refuse settings LAMMPS cannot run, naming the parameter."""
        for name in ("temperature", "time", "timestep", "tdamp", "collapse_distance"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise GafitInputError(f"md: {name} = {value}: must be a positive number")
        if not (math.isfinite(self.nve_time) and self.nve_time >= 0):
            raise GafitInputError(f"md: nve_time = {self.nve_time}: must be zero or positive")
        if not 0 < self.seed < 2**31:
            raise GafitInputError(f"md: seed = {self.seed}: LAMMPS needs 0 < seed < 2^31")
        if len(self.supercell) != 3 or any(int(n) != n or n < 1 for n in self.supercell):
            raise GafitInputError(f"md: supercell = {self.supercell}: three positive integers")
        if self.sample_steps < 1:
            raise GafitInputError(f"md: sample_steps = {self.sample_steps}: at least 1")

    def steps(self, ps: float) -> int:
        """Number of timesteps in ``ps`` picoseconds (at least one when ps > 0)."""
        return max(1, round(ps * 1000.0 / self.timestep)) if ps > 0 else 0


@dataclass
class MDSample:
    """The state after ``step`` steps (time ps, temperature K, energies eV/atom, shortest distance Å
    seen since the previous sample)."""

    ensemble: str
    step: int
    time: float
    temperature: float
    pe: float
    etotal: float
    n_atoms: int
    min_distance: float


@dataclass
class MDResult:
    """What the run showed; ``failures`` is empty when the potential passed."""

    settings: MDSettings
    n_atoms: int  # at the start
    lost_atoms: int = 0
    min_distance: float = math.inf  # Å, shortest pair distance at any step
    min_distance_step: int = 0
    initial_min_distance: float = math.inf
    temperature_mean: float = math.nan  # K, over the second half of the NVT part
    temperature_max: float = math.nan
    drift: float = math.nan  # eV/atom/ps, slope of the NVE total energy
    drift_max: float = math.nan  # eV/atom, largest |E_total - E_total(start of NVE)|
    steps_done: int = 0
    error: str | None = None  # LAMMPS's message when it stopped the run
    samples: list[MDSample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        """JSON-ready (infinite or NaN values as None)."""
        def clean(x: object) -> object:
            if isinstance(x, float) and not math.isfinite(x):
                return None
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list | tuple):
                return [clean(v) for v in x]
            return x

        return clean(asdict(self) | {"passed": self.passed})  # type: ignore[return-value]

    def text(self) -> str:
        s = self.settings
        lines = [
            f"MD with LAMMPS: {self.n_atoms} atoms, NVT {s.temperature:g} K for {s.time:g} ps"
            + (f" then NVE for {s.nve_time:g} ps" if s.nve_time else "")
            + f", timestep {s.timestep:g} fs, seed {s.seed}; {self.steps_done} steps run",
            f"  lost atoms: {self.lost_atoms}",
            f"  shortest distance: {self.min_distance:.3f} Å at step {self.min_distance_step} "
            f"(start {self.initial_min_distance:.3f} Å; collapse below {s.collapse_distance:g} Å)",
            f"  temperature: mean {self.temperature_mean:.0f} K over the second half of NVT, "
            f"max {self.temperature_max:.0f} K",
        ]
        if s.nve_time and math.isfinite(self.drift):
            lines.append(f"  NVE energy drift: {self.drift:.3g} eV/atom/ps, largest deviation "
                         f"{self.drift_max:.3g} eV/atom")
        elif s.nve_time:
            lines.append("  NVE: not run (the run stopped before it)")
        if self.error:
            lines.append(f"  LAMMPS stopped: {self.error}")
        lines.append("  result: " + ("passed" if self.passed else "FAILED: " + "; ".join(self.failures)))
        return "\n".join(lines)


def _min_distance(positions: np.ndarray, cell: np.ndarray) -> float:
    """Shortest distance between two atoms or an atom and an image (Å), periodic in 3 directions."""
    from ase.neighborlist import neighbor_list

    atoms = Atoms(positions=positions, cell=cell, pbc=True)
    d = neighbor_list("d", atoms, 3.0, self_interaction=False)
    return float(d.min()) if d.size else math.inf


_SETUP = [
    "thermo_style custom step temp pe etotal atoms",
    "thermo_modify norm no lost ignore flush no",
    # shortest pair distance at every step: pair/local over the pair style's neighbour list
    "compute gafit_pl all pair/local dist",
    "compute gafit_dmin all reduce min c_gafit_pl inputs local",
    "variable gafit_dmin equal c_gafit_dmin",
]


@contextlib.contextmanager
def lammps_session(potential: Potential, atoms: Atoms, timestep: float, result: Any,
                   prefix: str) -> Iterator[Any]:
    """A LAMMPS instance holding ``atoms`` with ``potential``'s exported files, the thermo and
    shortest-distance set-up and ``timestep`` (fs), run in a scratch folder.

    ``result`` (an :class:`MDResult` or a melt-quench result) gets LAMMPS's first error line in
    ``error`` instead of an exception (LAMMPS stops on lost atoms, non-numeric coordinates, ...),
    and ``lost_atoms`` at the end, whatever happened.
    """
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        pair = write_lammps(potential, tmp)
        inst = _Instance(atoms, potential.species, atom_style(potential))
        lmp = inst.lmp
        try:
            with contextlib.chdir(tmp):
                lmp.commands_list([f"include {pair.name}", *_SETUP, f"timestep {timestep / 1000.0!r}"])
                yield lmp
        except Exception as exc:
            text = str(exc).strip().splitlines()
            result.error = text[0] if text else type(exc).__name__
        finally:
            with contextlib.suppress(Exception):
                result.lost_atoms = result.n_atoms - int(lmp.get_natoms())
            inst.close()


def _run_chunk(lmp: object, nsteps: int) -> tuple[float, int]:
    """Run ``nsteps`` steps; return the shortest pair distance at any of them (Å) and how many
    steps into the chunk it was."""
    # a new fix vector needs the run's setup (pre yes), which stores the first step too: n + 1 rows
    lmp.commands_list(["fix gafit_dv all vector 1 v_gafit_dmin", f"run {nsteps} post no"])
    values = [lmp.extract_fix("gafit_dv", 0, 1, k) for k in range(nsteps + 1)]
    lmp.command("unfix gafit_dv")
    d = np.array([v if v is not None and math.isfinite(v) and v > 0 else np.inf for v in values])
    k = int(np.argmin(d))
    return float(d[k]), k


def _sample(lmp: object, ensemble: str, step: int, settings: MDSettings, dmin: float) -> MDSample:
    n = int(lmp.get_natoms())
    return MDSample(ensemble, step, step * settings.timestep / 1000.0, float(lmp.get_thermo("temp")),
                    float(lmp.get_thermo("pe")) / max(n, 1), float(lmp.get_thermo("etotal")) / max(n, 1),
                    n, dmin)


def start_cell(potential: Potential, atoms: Atoms, supercell: Sequence[int], what: str) -> Atoms:
    """``atoms`` repeated by ``supercell``, without constraints, for an MD run of ``what`` (named in
    the errors): periodic in x, y and z, with species the potential has."""
    if not all(atoms.pbc) or atoms.cell.rank != 3:
        raise GafitInputError(f"{what}: the structure must be periodic in x, y and z")
    missing = sorted(set(atoms.get_chemical_symbols()) - set(potential.species))
    if missing:
        raise GafitInputError(f"{what}: the structure's species {missing} are not in the potential "
                              f"({' '.join(potential.species)})")
    out = atoms.repeat(tuple(int(n) for n in supercell))
    out.set_constraint()
    return out


def run_md(potential: Potential, atoms: Atoms, settings: MDSettings,
           progress: Callable[[MDSample, int], None] | None = None) -> MDResult:
    """Run NVT (then NVE) MD in LAMMPS with ``potential``'s exported files on ``atoms`` (repeated by
    ``settings.supercell``); ``progress(sample, total_steps)`` is called after every sample."""
    settings.check()
    cell_atoms = start_cell(potential, atoms, settings.supercell, "md")
    result = MDResult(settings=settings, n_atoms=len(cell_atoms))
    result.initial_min_distance = _min_distance(cell_atoms.positions, np.array(cell_atoms.cell))
    nvt, nve = settings.steps(settings.time), settings.steps(settings.nve_time)
    total = nvt + nve
    with lammps_session(potential, cell_atoms, settings.timestep, result, "gafit-md-") as lmp:
        lmp.commands_list([f"velocity all create {settings.temperature!r} {settings.seed} "
                           "dist gaussian mom yes rot no loop geom",
                           f"fix gafit_nvt all nvt temp {settings.temperature!r} "
                           f"{settings.temperature!r} {settings.tdamp!r}",
                           "run 0"])
        result.samples.append(_sample(lmp, "nvt", 0, settings, result.initial_min_distance))
        _integrate(lmp, "nvt", 0, nvt, settings, result, progress, total)
        if nve and not (settings.stop_on_failure and _failures(result)):
            lmp.commands_list(["unfix gafit_nvt", "fix gafit_nve all nve", "run 0"])
            start = _sample(lmp, "nve", nvt, settings, math.inf)
            result.samples.append(start)
            _integrate(lmp, "nve", nvt, nvt + nve, settings, result, progress, total)
    _summarise(result)
    return result


def _integrate(lmp: object, ensemble: str, first: int, last: int, settings: MDSettings,
               result: MDResult, progress: Callable[[MDSample, int], None] | None, total: int) -> None:
    step = first
    while step < last:
        n = min(settings.sample_steps, last - step)
        dmin, k = _run_chunk(lmp, n)
        if dmin < result.min_distance:
            result.min_distance, result.min_distance_step = dmin, step + k
        step += n
        result.steps_done = step
        sample = _sample(lmp, ensemble, step, settings, dmin)
        result.samples.append(sample)
        result.lost_atoms = result.n_atoms - sample.n_atoms
        if progress is not None:
            progress(sample, total)
        if settings.stop_on_failure and _failures(result):
            return


def run_failures(error: str | None, lost_atoms: int, min_distance: float, collapse_distance: float,
                 where: str = "") -> list[str]:
    """Why an MD run failed (empty: it did not): LAMMPS stopped it, atoms were lost, or two atoms
    came closer than ``collapse_distance`` (Å); ``where`` (e.g. " at step 4") follows the collapse."""
    out = []
    if error:
        out.append(f"LAMMPS stopped the run: {error}")
    if lost_atoms:
        out.append(f"{lost_atoms} atoms lost")
    if min_distance < collapse_distance:
        out.append(f"collapse: two atoms {min_distance:.3f} Å apart{where}")
    return out


def _failures(result: MDResult) -> list[str]:
    """Why the run failed so far (empty: it did not)."""
    out = run_failures(result.error, result.lost_atoms, result.min_distance,
                       result.settings.collapse_distance, f" at step {result.min_distance_step}")
    if any(not (math.isfinite(s.pe) and math.isfinite(s.temperature)) for s in result.samples):
        out.append("non-finite energy or temperature")
    return out


def _summarise(result: MDResult) -> None:
    s = result.settings
    nvt = [x for x in result.samples if x.ensemble == "nvt"]
    half = [x.temperature for x in nvt if x.step >= s.steps(s.time) / 2 and x.step > 0]
    if half:
        result.temperature_mean = float(np.mean(half))
    temps = [x.temperature for x in result.samples[1:]]
    if temps:
        result.temperature_max = float(np.max(temps))
    nve = [x for x in result.samples if x.ensemble == "nve"]
    if len(nve) >= 2:
        t = np.array([x.time for x in nve])
        e = np.array([x.etotal for x in nve])
        result.drift = float(np.polyfit(t, e, 1)[0])
        result.drift_max = float(np.max(np.abs(e - e[0])))
    result.failures = _failures(result)


def structure_frame(path: str | Path, index: int = 0) -> Atoms:
    """Frame ``index`` of a structure file (any ASE format), periodic in 3 directions."""
    import ase.io

    path = Path(path)
    if not path.is_file():
        raise GafitInputError(f"md: STRUCTURE {path}: no such file")
    try:
        atoms = ase.io.read(path, index=index)
    except (IndexError, StopIteration):  # ASE's extxyz reader raises the latter past the end
        raise GafitInputError(f"md: STRUCTURE {path}: no frame {index}") from None
    except Exception as err:  # ASE raises many kinds
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise GafitInputError(f"md: STRUCTURE {path}: cannot read it ({msg})") from None
    if not all(atoms.pbc) or atoms.cell.rank != 3:
        raise GafitInputError(f"md: STRUCTURE {path}: needs a cell periodic in x, y and z")
    return atoms
