"""The ``gafit`` command line: a thin layer over the Python API."""

from __future__ import annotations

import argparse
import sys

from gafit.cli import convert, evaluate, export, fit, verify
from gafit.cli._args import add_potential_arguments
from gafit.cli.check import add_check_parser
from gafit.cli.md import add_md_parser
from gafit.cli.phonons import add_phonons_parser
from gafit.cli.properties import add_properties_parser
from gafit.cli.report import add_report_parser
from gafit.cli.validate import add_validate_parser
from gafit.parallel import WorkerError
from gafit.structures import GafitInputError, GafitResultError

DESCRIPTION = """\
Fit classical interatomic potentials (Morse, Buckingham, ...) to DFT energies, forces and stresses
with a genetic algorithm followed by least-squares refinement, and export them to LAMMPS.
Units: eV, Å, eV/Å; stress in GPa in CSV files and reports (positive = tensile)."""


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gafit", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("fit", help="fit a potential described by a TOML config")
    p.add_argument("config", nargs="?", help="TOML configuration (see README)")
    p.add_argument("--out", help="output folder (default: gafit-run; with --resume: RUN_DIR, or "
                   "this folder to continue the run there)")
    p.add_argument("--seed", type=int, help="override [ga] seed (a non-negative integer)")
    p.add_argument("--generations", type=int, metavar="N", help="override [ga] generations; with "
                   "--resume: N generations more than the checkpoint's (extends a finished run)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-report", action="store_true",
                   help="do not write the HTML report (RUN_DIR/report/index.html)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue a run that was stopped (or extend a finished one), from "
                   "RUN_DIR/checkpoint.npz")
    p.add_argument("--workers", type=int, help="processes evaluating the population "
                   "(override [ga] workers; the result does not depend on it)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="evaluate the population on this Dask cluster (override [ga] scheduler)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier fit in --out (its potential.json, lammps/, log.csv, "
                   "parameters.csv, summary.json, checkpoint.npz, report/ and validate/ are removed first)")
    p.set_defaults(func=fit._fit)

    p = sub.add_parser("evaluate", help="predict energies, forces and stresses of a potential")
    add_potential_arguments(p)
    p.add_argument("data", nargs="?", help="structures: .csv, .extxyz or any ASE-readable file")
    p.add_argument("--config", help="instead of DATA: the training and validation sets of this fit "
                   "config (the same split as gafit fit)")
    p.add_argument("--out", help="write predictions here (.extxyz or .csv)")
    p.add_argument("--best-e0", action="store_true",
                   help="use the per-species energy offsets that minimise the energy RMSE")
    p.set_defaults(func=evaluate._evaluate)

    p = sub.add_parser("export", help="write LAMMPS files for a potential")
    add_potential_arguments(p)
    p.add_argument("--lammps", required=True, metavar="DIR", help="folder for pair.lmp and files")
    p.set_defaults(func=export._export)

    p = sub.add_parser("verify", help="compare gafit with LAMMPS running the exported files")
    add_potential_arguments(p)
    p.add_argument("data")
    p.add_argument("--tolerance", type=float, default=1e-8,
                   help="largest relative difference accepted (default 1e-8)")
    p.set_defaults(func=verify._verify)

    add_phonons_parser(sub)
    add_report_parser(sub)
    add_check_parser(sub)
    add_properties_parser(sub)
    add_md_parser(sub)
    add_validate_parser(sub)

    p = sub.add_parser("convert", help="convert reference data between CSV and extxyz")
    p.add_argument("input")
    p.add_argument("output")
    p.set_defaults(func=convert._convert)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args, extra = parser.parse_known_args(argv)
    # evaluate POT --option DATA, md POT --option STRUCTURE: argparse gives the optional one nothing
    late = next((k for k in ("data", "structure_file") if getattr(args, k, "") is None), None)
    if len(extra) == 1 and not extra[0].startswith("-") and late is not None:
        setattr(args, late, extra[0])
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args))
    except GafitResultError as err:
        print(f"gafit: error: {err}", file=sys.stderr)
        return 3
    except GafitInputError as err:
        print(f"gafit: error: {err}", file=sys.stderr)
        return 2
    except WorkerError as err:
        print(f"gafit: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # a file system fault no check foresaw (full disk, read-only, ...)
        from gafit.io.paths import os_error_message

        print(f"gafit: error: {os_error_message(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gafit: interrupted", file=sys.stderr)
        return 130

