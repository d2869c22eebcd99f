"""``gafit pick``: take one member of a Pareto front as a normal fit result."""

from __future__ import annotations

import argparse
from typing import Any

from gafit.cli._args import command_parser

HELP = "pick a member of a Pareto front ([ga] mode = \"pareto\") as a normal fit result"
DESCRIPTION = """\
Copy one member of the front in RUN_DIR (written by gafit fit with [ga] mode = "pareto") into
--out DIR as a normal fit result: potential.json, lammps/, log.csv, parameters.csv and
summary.json (with a "picked" entry: the member and the rule).

Rule: the members whose RMSE of each group given with --max (in the group's units: energy eV/atom,
forces eV/Å, stress GPa, virial eV/atom, phonons THz) is at most its limit; among them the knee:
the least sum of the objectives, each normalised to [0, 1] over the whole front (0 at its best
member, 1 at its worst). Without --max: the knee of the whole front (the run's own result).
--member N takes member N of front.csv instead."""
EXAMPLE = """\
examples:
  gafit pick runs/si_front --max forces=0.2 --out runs/si_picked
  gafit pick runs/si_front --knee --out runs/si_knee
  gafit pick runs/si_front --member 3 --out runs/si_m3"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gafit pick``; returns its parser."""
    p = command_parser(subparsers, "pick", HELP, DESCRIPTION, EXAMPLE)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder of a pareto fit")
    p.add_argument("--max", action="append", default=[], metavar="GROUP=RMSE",
                   help="keep members whose GROUP RMSE is at most RMSE (repeatable)")
    p.add_argument("--knee", action="store_true",
                   help="the knee (the default rule; with --max: among the members kept)")
    p.add_argument("--member", type=int, metavar="N", help="take member N of front.csv")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write the result into")
    p.add_argument("--overwrite", action="store_true", help="write into a folder that is not empty")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Handler of ``gafit pick``."""
    from gafit.pareto import parse_limits, pick

    row = pick(args.run_dir, args.out, parse_limits(args.max), args.member, args.overwrite)
    errors = ", ".join(f"{k.removeprefix('rmse:')} {v:.6g}" for k, v in row.items()
                       if k.startswith("rmse:"))
    print(f"member {row['member']}: RMSE {errors}")
    print(f"wrote {args.out}/potential.json, {args.out}/lammps/, {args.out}/summary.json")
    return 0
