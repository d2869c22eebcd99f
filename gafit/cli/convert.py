"""``gafit convert``: reference data between CSV and extxyz."""

from __future__ import annotations

import argparse
from typing import Any

from gafit.cli._args import command_parser

HELP = "convert reference data between CSV and extxyz"
DESCRIPTION = """\
Read the structures of INPUT (.csv, .extxyz or any file ASE reads: VASP OUTCAR or vasprun.xml,
ASE trajectories, ...) with their energies, forces, stresses, config_type and weight, and write
them to OUTPUT in the format its name says: .csv (one row per atom, stress in GPa), .extxyz or
.xyz. See the README's "Reference data formats". OUTPUT must not be INPUT."""
EXAMPLE = """\
examples:
  gafit convert data/Cu_EMT.extxyz cu.csv
  gafit convert vasprun.xml si_md.extxyz"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gafit convert`` on an argparse ``add_subparsers()`` object; returns its parser."""
    p = command_parser(subparsers, "convert", HELP, DESCRIPTION, EXAMPLE)
    p.add_argument("input")
    p.add_argument("output")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Handler of ``gafit convert``."""
    from gafit.io import read_reference, write_reference
    from gafit.io.paths import output_file, spare_inputs

    data = read_reference(args.input)
    spare_inputs([output_file(args.output, "OUT")], [args.input], "OUT")
    write_reference(data, args.output)
    print(f"wrote {len(data)} structures ({data.n_atoms} atoms) to {args.output}")
    return 0
