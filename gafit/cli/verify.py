"""``gafit verify``: gafit against LAMMPS running the exported files."""

from __future__ import annotations

import argparse

from gafit.cli._args import parse_elements


def _verify(args: argparse.Namespace) -> int:
    from gafit.io import read_reference
    from gafit.lammps.verify import verify
    from gafit.potential import Potential

    report = verify(Potential.load(args.potential, parse_elements(args.elements)),
                    read_reference(args.data))
    print(report.text())
    return 0 if report.max_relative <= args.tolerance else 1
