"""Reference files ASE can read (extxyz and others) and extxyz writing.

Targets are taken from ``atoms.calc.results`` (``energy`` eV, ``forces`` eV/Å, ``stress`` eV/Å³
Voigt or 3x3, ASE sign) or, failing that, from ``atoms.info['energy'|'stress']`` and
``atoms.arrays['forces']``. Only what the file holds is taken; a missing target stays None.
"""

from __future__ import annotations

import re
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io.formats import UnknownFileTypeError, filetype

from gafit.io.atomic import atomic_write
from gafit.io.csv_format import check_utf8_text, select, unique_labels
from gafit.structures import GafitInputError, ReferenceSet, Structure, StructureError

#: info keys that are Structure fields or targets, not kept in Structure.info
RESERVED_INFO = ("energy", "stress", "forces", "name", "config_type", "weight")
_PROPERTIES = re.compile(r"""Properties=["']?([^\s"']+)""", re.IGNORECASE)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _check_xyz_counts(path: Path) -> None:
    """ASE's extxyz reader trusts a frame's counts: it skips as many lines as the atom count says
    (10**18: it never returns) and allocates the columns ``Properties`` declares (pos:R:10**9: all
    memory). Check them against the file's length and its longest line first."""
    with open(path, encoding="utf-8", errors="replace") as f:  # universal newlines, as ASE
        n_lines, longest = 0, 0
        for line in f:
            n_lines += 1
            longest = max(longest, len(line))
        f.seek(0)
        line_no = 0
        while True:
            line = f.readline()
            line_no += 1
            if not line.strip():
                return
            try:
                natoms = int(line)
            except ValueError:
                return  # ASE says what is wrong
            if natoms > n_lines:
                raise GafitInputError(f"{path} line {line_no}: a frame of {natoms} atoms, but the "
                                      f"file has only {n_lines} lines")
            props = _PROPERTIES.search(f.readline())
            for count in props.group(1).split(":")[2::3] if props else ():
                if count.isdigit() and int(count) > longest:
                    raise GafitInputError(f"{path} line {line_no + 1}: Properties has a column of "
                                          f"{int(count)} values, more than any line of the file holds")
            for _ in range(natoms):
                f.readline()
            line_no += max(natoms, 0) + 1
            while True:  # VEC1..VEC3 lines of the old extended xyz format
                pos = f.tell()
                if not f.readline().lstrip().startswith("VEC"):
                    f.seek(pos)
                    break
                line_no += 1


def read_ase(path: Path, index: str | int | slice = ":", format: str | None = None) -> ReferenceSet:
    """Read every frame ASE finds in ``path`` (as ASE format ``format``, default: guessed from the
    name and contents), then keep those chosen by ``index``."""
    try:
        is_xyz = (format or filetype(str(path))) == "extxyz"
    except Exception:  # ASE reports it below
        is_xyz = False
    if is_xyz:
        check_utf8_text(path)
        _check_xyz_counts(path)
    try:
        frames = ase.io.read(path, index=":", format=format)
    except UnknownFileTypeError as e:
        raise GafitInputError(
            f"{path}: unknown or empty file format ({_first_line(e)}); use .csv, .extxyz or another "
            "format ASE can read, or name its ASE format (in a fit config: [data] train = "
            f"[{{file = \"{path.name}\", format = \"vasp-xml\"}}])"
        ) from e
    except Exception as e:  # ASE raises many types for malformed files
        raise GafitInputError(f"{path}: ASE cannot read this file ({_first_line(e)})") from e
    if isinstance(frames, Atoms):
        frames = [frames]
    if not frames:
        raise GafitInputError(f"{path}: no structures found")
    chosen, indices = select(frames, index, path)
    return ReferenceSet(
        [
            frame_to_structure(a, f"{path.name}:{i}", path)
            for a, i in zip(chosen, indices, strict=True)
        ],
        source=str(path),
    )


def frame_to_structure(atoms: Atoms, default_name: str, path: Path | str = "") -> Structure:
    """Structure from one ASE frame; the returned atoms carry no calculator and no targets."""
    results = dict(atoms.calc.results) if atoms.calc is not None else {}
    info = dict(atoms.info)
    atoms = atoms.copy()  # drops the calculator
    atoms.info = {}
    virial = info.pop("virial", None)
    found = {
        "energy": info.pop("energy", None),
        "stress": info.pop("stress", None),
        "forces": atoms.arrays.pop("forces", None),
    }
    where = f"{path}: frame {str(info.get('name', default_name))!r}"
    if (atoms.numbers == 0).any():  # ASE's 'X': an unknown element or no species column
        raise GafitInputError(f"{where}: atom {int(np.argmax(atoms.numbers == 0)) + 1} has no "
                              "known chemical symbol (is there a species column?)")
    n = len(atoms)
    shapes = {"energy": [(), (1,)], "forces": [(n, 3)], "stress": [(6,), (9,), (3, 3)]}
    for key in found:
        if key in results:
            found[key] = results[key]
        if found[key] is not None:
            try:
                value = np.asarray(found[key], dtype=float)
            except (TypeError, ValueError) as e:
                raise GafitInputError(f"{where}: {key} is not numeric") from e
            if not np.all(np.isfinite(value)):
                raise GafitInputError(f"{where}: {key} has NaN or infinite values")
            if value.shape not in shapes[key]:
                raise GafitInputError(f"{where}: {key} has shape {value.shape}, expected "
                                      + " or ".join(str(s) for s in shapes[key]))
            found[key] = value.reshape(3, 3) if value.size == 9 else value.reshape(shapes[key][0])
    for name, array in (("positions", atoms.positions), ("cell", atoms.cell.array)):
        if not np.all(np.isfinite(array)):
            raise GafitInputError(f"{where}: {name} have NaN or infinite values")
    if virial is not None:
        found["stress"] = _stress_from_virial(virial, atoms, found["stress"], where)
    try:
        weight = float(info.pop("weight", 1.0))
    except (TypeError, ValueError) as e:
        raise GafitInputError(f"{where}: weight is not a number") from e
    if not np.isfinite(weight) or weight < 0:
        raise GafitInputError(f"{where}: weight must be a finite number >= 0, got {weight}")
    try:
        return Structure(
            atoms=atoms,
            energy=found["energy"],
            forces=found["forces"],
            stress=found["stress"],
            weight=weight,
            config_type=str(info.pop("config_type", "default")),
            name=str(info.pop("name", default_name)),
            info=info,
        )
    except StructureError as e:
        raise GafitInputError(f"{where}: {e.problem}") from None


def _stress_from_virial(virial: object, atoms: Atoms, stress: np.ndarray | None,
                        where: str) -> np.ndarray:
    """Stress (3, 3) eV/Å³ from a ``virial`` (eV, libAtoms/GAP convention: virial = -stress · volume):
    the target a frame gives as a virial. Where the frame also has a stress the two must agree."""
    try:
        v = np.asarray(virial, dtype=float)
    except (TypeError, ValueError):
        raise GafitInputError(f"{where}: virial is not numeric") from None
    if v.size != 9 or not np.all(np.isfinite(v)):
        raise GafitInputError(f"{where}: virial must be 9 finite numbers (eV), got {v.size}")
    volume = abs(atoms.cell.volume) if atoms.pbc.all() else 0.0
    if not volume > 0:
        raise GafitInputError(f"{where}: a virial needs a periodic cell with a volume")
    from_virial = -v.reshape(3, 3) / volume
    if stress is not None:
        s = stress.reshape(3, 3) if stress.size == 9 else stress[[[0, 5, 4], [5, 1, 3], [4, 3, 2]]]
        if not np.allclose(s, from_virial, rtol=1e-6, atol=1e-9):
            raise GafitInputError(f"{where}: stress and virial disagree (stress = -virial / volume "
                                  "expected); give one of them")
        return stress
    return from_virial


def structure_to_atoms(s: Structure, name: str) -> Atoms:
    """ASE Atoms with the targets in a SinglePointCalculator and name/config_type/weight in info."""
    atoms = s.atoms.copy()
    atoms.arrays.pop("forces", None)
    atoms.info = {k: v for k, v in s.info.items() if k not in RESERVED_INFO}
    atoms.info.update(name=name, config_type=s.config_type, weight=float(s.weight))
    targets = {"energy": s.energy, "forces": s.forces, "stress": s.stress}
    atoms.calc = SinglePointCalculator(atoms, **{k: v for k, v in targets.items() if v is not None})
    return atoms


def write_extxyz(refset: ReferenceSet, path: Path) -> None:
    """Write extxyz (positions and forces with 8 decimals, as ASE writes them)."""
    images = [structure_to_atoms(s, n) for s, n in zip(refset, unique_labels(refset), strict=True)]

    atomic_write(path, lambda tmp: ase.io.write(tmp, images, format="extxyz"))
