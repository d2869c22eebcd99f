"""``gafit export``: LAMMPS files for a potential."""

from __future__ import annotations

import argparse

from gafit.cli._args import parse_elements


def _export(args: argparse.Namespace) -> int:
    from gafit.io.paths import output_folder, spare_inputs
    from gafit.lammps.files import lammps_file_names, write_lammps
    from gafit.potential import Potential

    pot = Potential.load(args.potential, parse_elements(args.elements))
    folder = output_folder(args.lammps, "--lammps")
    spare_inputs([folder / name for name in lammps_file_names(pot)], [args.potential], "--lammps")
    path = write_lammps(pot, folder)
    print(f"wrote {path}")
    return 0
