"""``gafit convert``: reference data between CSV and extxyz."""

from __future__ import annotations

import argparse


def _convert(args: argparse.Namespace) -> int:
    from gafit.io import read_reference, write_reference
    from gafit.io.paths import output_file, spare_inputs

    data = read_reference(args.input)
    spare_inputs([output_file(args.output, "OUT")], [args.input], "OUT")
    write_reference(data, args.output)
    print(f"wrote {len(data)} structures ({data.n_atoms} atoms) to {args.output}")
    return 0
