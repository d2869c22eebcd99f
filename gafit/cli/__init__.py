"""The ``gafit`` command line: a thin layer over the Python API."""

from __future__ import annotations

import os

# gafit runs in parallel over processes (``workers``); BLAS threads on top only contend with them and
# with anything else on the machine: the least squares' SVD of a 33,000 x 12 Jacobian took 0.23 s
# with 2 OpenBLAS threads on a busy 2-core machine and 0.016 s with one. Set here, before numpy is
# first imported (by the imports below), because BLAS reads them only when it loads; the command owns
# its process, so it may. Importing gafit as a library leaves the environment alone (the fit caps BLAS
# threads at run time with threadpoolctl instead).
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402

from gafit.cli import (  # noqa: E402
    check,
    convert,
    evaluate,
    export,
    fit,
    md,
    phonons,
    pick,
    properties,
    report,
    uncertainty,
    validate,
    verify,
)
from gafit.parallel import WorkerError  # noqa: E402
from gafit.structures import GafitInputError, GafitResultError  # noqa: E402

DESCRIPTION = """\
Fit classical interatomic potentials (Morse, Buckingham, ...) to DFT energies, forces and stresses
with a genetic algorithm followed by least-squares refinement, and export them to LAMMPS.
Units: eV, Å, eV/Å; stress in GPa in CSV files and reports (positive = tensile)."""

#: the subcommands, in the order ``gafit --help`` lists them; each module has ``add_parser(sub)``
#: and ``run(args) -> int``
COMMANDS = (fit, evaluate, export, verify, phonons, report, check, properties, md, validate, convert,
            uncertainty, pick)


def make_parser() -> argparse.ArgumentParser:
    """The ``gafit`` parser: one subcommand per module of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(prog="gafit", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``gafit ARGV`` (default: the command line); returns the exit status: 0 done, 1 a check
    that failed (verify, check --strict, md, validate) or a lost worker, 2 bad input, 3 a result that
    is not finite, 128 + N stopped by signal N."""
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

