"""``gafit export``: LAMMPS files for a potential."""

from __future__ import annotations

import argparse
from typing import Any

from gafit.cli._args import add_potential_arguments, command_parser, parse_elements

HELP = "write LAMMPS files for a potential"
DESCRIPTION = """\
Write DIR/pair.lmp (pair_style and pair_coeff lines for LAMMPS's 'include') and the parameter files
it names (e.g. a .tersoff file) for POTENTIAL, with the potential's provenance as their first comment
lines, as gafit fit writes them into RUN_DIR/lammps/. The header of pair.lmp names the species of each
atom type and lists the E0 offsets, which LAMMPS does not add (gafit's energy = LAMMPS's potential
energy + the sum of E0 over the atoms). Files that are inputs of the command are never overwritten."""
EXAMPLE = """\
examples:
  gafit export runs/cu/potential.json --lammps runs/cu/lammps
  gafit export SiC.tersoff --elements "Si C" --lammps sic-lammps"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gafit export`` on an argparse ``add_subparsers()`` object; returns its parser."""
    p = command_parser(subparsers, "export", HELP, DESCRIPTION, EXAMPLE)
    add_potential_arguments(p)
    p.add_argument("--lammps", required=True, metavar="DIR", help="folder for pair.lmp and files")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Handler of ``gafit export``."""
    from gafit.io.paths import output_folder, spare_inputs
    from gafit.lammps.files import lammps_file_names, write_lammps
    from gafit.potential_files import load_potential

    pot = load_potential(args.potential, parse_elements(args.elements))
    folder = output_folder(args.lammps, "--lammps")
    spare_inputs([folder / name for name in lammps_file_names(pot)], [args.potential], "--lammps")
    path = write_lammps(pot, folder)
    print(f"wrote {path}")
    return 0
