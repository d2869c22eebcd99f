"""``gafit verify``: gafit against LAMMPS running the exported files."""

from __future__ import annotations

import argparse
from typing import Any

from gafit.cli._args import add_potential_arguments, command_parser, parse_elements

HELP = "compare gafit with LAMMPS running the exported files"
DESCRIPTION = """\
Export POTENTIAL as gafit export does, run LAMMPS (the lammps Python module) with those files on every
structure of DATA, and print the largest differences between gafit and LAMMPS in energy, forces and
stress. Relative to: |E| per structure (at least 1 meV/atom); the largest |F| and |stress| over DATA,
and for a potential of several terms (Buckingham + Coulomb) at least the largest |stress| of any one
term. Exit status 1 when the largest relative difference is above --tolerance."""
EXAMPLE = """\
examples:
  gafit verify runs/cu/potential.json data/Cu_EMT.extxyz
  gafit verify SiC.tersoff --elements Si ../shared/data/mlearn_Si/Si_training.extxyz"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gafit verify`` on an argparse ``add_subparsers()`` object; returns its parser."""
    p = command_parser(subparsers, "verify", HELP, DESCRIPTION, EXAMPLE)
    add_potential_arguments(p)
    p.add_argument("data")
    p.add_argument("--tolerance", type=float, default=1e-8,
                   help="largest relative difference accepted (default 1e-8)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Handler of ``gafit verify``: exit 0 when gafit and LAMMPS agree within the tolerance, else 1."""
    from gafit.io import read_reference
    from gafit.lammps.verify import verify
    from gafit.potential_files import load_potential

    report = verify(load_potential(args.potential, parse_elements(args.elements)),
                    read_reference(args.data))
    print(report.text())
    return 0 if report.max_relative <= args.tolerance else 1
