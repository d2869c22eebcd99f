"""Reading and writing reference data: CSV (per-atom or binding-curve layout) and ASE formats.

Units everywhere: Å, eV (total energy), eV/Å, stress eV/Å³ in memory (GPa in CSV files).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gafit.io.ase_format import read_ase, write_extxyz
from gafit.io.csv_format import read_csv, write_csv
from gafit.structures import GafitInputError, ReferenceSet

__all__ = ["read_reference", "write_reference"]


def read_reference(
    path: str | os.PathLike,
    index: str | int | slice = ":",
    *,
    dimer_species: Sequence[str] | None = None,
    format: str | None = None,
) -> ReferenceSet:
    """Read reference structures: ``.csv`` by gafit's layouts, anything else through ASE.

    Parameters
    ----------
    path
        The file (extxyz, vasprun.xml, OUTCAR, ... or gafit's CSV layouts).
    index
        Which structures, ASE-style: ``":"``, ``"0"``, ``"-1"``, ``"::2"``.
    dimer_species
        The two symbols of a binding-curve CSV without ``species_a,species_b`` columns.
    format
        ``"csv"`` or an ASE format name (``"vasp-xml"`` for ``vasprun.xml-00``); default: from the
        file name.

    Returns
    -------
    ReferenceSet
        Energies in eV, forces in eV/Å, stresses in eV/Å³ (ASE convention, positive = tensile),
        with the structures' names, weights and config types.

    Raises
    ------
    GafitInputError
        One line naming the file, line and column (or structure and key) at fault.
    """
    path = Path(path)
    if not path.exists():
        raise GafitInputError(f"{path}: file not found")
    if not path.is_file():
        raise GafitInputError(f"{path}: not a regular file")
    if format == "csv" or (format is None and path.suffix.lower() == ".csv"):
        return read_csv(path, index, dimer_species)
    return read_ase(path, index, format)


def write_reference(refset: ReferenceSet, path: str | os.PathLike) -> None:
    """Write ``refset`` to ``.csv`` (per-atom layout, stress in GPa) or ``.xyz``/``.extxyz``.

    Parameters
    ----------
    refset
        The structures; non-finite energies, forces or stresses are refused (gafit's readers
        would refuse the file).
    path
        The file; its suffix chooses the format. It is written to a temporary name and renamed,
        so a failure leaves any old file intact.
    """
    path = Path(path)
    if len(refset) == 0:
        raise GafitInputError(f"{path}: no structures to write")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xyz", ".extxyz"):
        raise GafitInputError(f"{path}: cannot write '{suffix}' files; use .csv, .xyz or .extxyz")
    if path.is_dir():
        raise GafitInputError(f"{path}: is a folder; give a file name")
    for s in refset:  # gafit's readers refuse such values: never write a file they cannot read
        for key in ("energy", "forces", "stress"):
            value = getattr(s, key)
            if value is not None and not np.all(np.isfinite(value)):
                raise GafitInputError(f"{path}: not written: the {key} of structure {s.name!r} is "
                                      "NaN or infinite (a potential that overflows there?)")
    try:
        if suffix == ".csv":
            write_csv(refset, path)
        else:
            write_extxyz(refset, path)
    except OSError as err:  # no space left, no permission, a parent that is a file, ...
        raise GafitInputError(f"{path}: cannot write ({err.strerror or err})") from None
