"""The ``gafit`` command line: a thin layer over the Python API."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gafit.cli._args import add_potential_arguments, parse_elements
from gafit.cli.check import add_check_parser, add_md_parser, add_properties_parser
from gafit.cli.phonons import add_phonons_parser
from gafit.cli.report import add_report_parser
from gafit.cli.validate import add_validate_parser
from gafit.parallel import WorkerError, check_scheduler
from gafit.structures import GafitInputError, GafitResultError

if TYPE_CHECKING:
    from gafit.fit import FitInterrupted

DESCRIPTION = """\
Fit classical interatomic potentials (Morse, Buckingham, ...) to DFT energies, forces and stresses
with a genetic algorithm followed by least-squares refinement, and export them to LAMMPS.
Units: eV, Å, eV/Å; stress in GPa in CSV files and reports (positive = tensile)."""


class _StopOnSignal:
    """While a fit runs: the first SIGINT or SIGTERM asks it to stop at the next safe point
    (``self()`` then names the signal); a second one stops at once (KeyboardInterrupt)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: str | None = None
        self.previous: dict[int, Any] = {}

    def __call__(self) -> str | None:
        return self.received

    def _handle(self, signum: int, frame: object) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name

    def __enter__(self) -> _StopOnSignal:
        if threading.current_thread() is threading.main_thread():  # only there can Python catch
            self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)


def _stopped(err: FitInterrupted, out: Path) -> int:
    """Say where a fit stopped by a signal ended and how to continue; the exit code 128 + N."""
    again = f"continue with: gafit fit --resume {shlex.quote(str(out))}"
    if err.generation is None:
        where, again = "before the first generation was saved", "nothing to resume: run the fit again"
    elif err.phase == "refinement":
        where = f"in the least squares after generation {err.generation}"
    else:
        where = f"after generation {err.generation}"
    print(f"gafit: stopped by {err.signal} {where}; {again}", file=sys.stderr)
    return 128 + signal.Signals[err.signal].value


def _fit(args: argparse.Namespace) -> int:
    from gafit.config import load_config
    from gafit.fit import (
        Checkpoint,
        FitInterrupted,
        check_result,
        fit_inputs,
        load_checkpoint,
        prepare_run_folder,
        run_fit,
    )

    if args.seed is not None and args.seed < 0:
        raise GafitInputError(f"--seed {args.seed}: a seed must be a non-negative integer")
    if args.generations is not None and args.generations < 0:
        raise GafitInputError(f"--generations {args.generations}: must not be negative")
    resume: Checkpoint | bool = False
    if args.resume:
        if args.config or args.seed is not None:
            raise GafitInputError("--resume continues a run with its own config and seed; "
                                  "give only the run folder")
        resume = load_checkpoint(args.resume)
        config = resume.config
        out = Path(args.resume)
        if args.out is not None and Path(args.out).absolute() != out.absolute():
            out = prepare_run_folder(args.out, fit_inputs(config), args.overwrite)
        if args.generations is not None:  # an extension: more generations (and time) than stored
            config.ga.generations = resume.state.generation + args.generations
            if config.ga.max_time is not None:
                config.ga.max_time += resume.state.elapsed
    else:
        if not args.config:
            raise GafitInputError("fit: give a CONFIG file (or --resume RUN_DIR)")
        config = load_config(args.config)
        out = prepare_run_folder(args.out if args.out is not None else "gafit-run",
                                 fit_inputs(config), args.overwrite)
        if args.seed is not None:
            config.ga.seed = args.seed
        if args.generations is not None:
            config.ga.generations = args.generations
    if args.workers is not None:
        if args.workers < 1:
            raise GafitInputError(f"--workers {args.workers}: must be at least 1")
        config.ga.workers = args.workers
    if args.scheduler is not None:
        if args.scheduler:  # "" runs locally, as in the config
            check_scheduler(args.scheduler, "--scheduler")
        config.ga.scheduler = args.scheduler
    with _StopOnSignal() as stop:
        try:
            result = run_fit(config, out, quiet=args.quiet, resume=resume, should_stop=stop)
        except FitInterrupted as err:
            return _stopped(err, out)
        print(result.summary())
        print(f"wrote {out}/potential.json, {out}/lammps/pair.lmp, {out}/log.csv, "
              f"{out}/parameters.csv, {out}/summary.json")
        check_result(result)  # exit 3 when the result is not finite (summary.json says why)
        if config.validate is not None:
            if stop():
                print(f"gafit: stopped by {stop()} after the fit was written; the validation suite "
                      "and the report were not", file=sys.stderr)
                return 128 + signal.Signals[stop()].value
            from gafit.fit_validate import validate_fit, validation_line

            outcomes = validate_fit(result.potential, out, config.validate, quiet=args.quiet)
            print(f"{validation_line(outcomes)}: see {out}/validate/index.html")  # not an exit status
        if args.no_report:
            return 0
        if stop():
            print(f"gafit: stopped by {stop()} after the fit was written; the report was not "
                  f"(gafit report {shlex.quote(str(out))} writes it)", file=sys.stderr)
            return 128 + signal.Signals[stop()].value
        from gafit.report import write_report

        print(f"wrote {write_report(out, config)}")
        if stop():  # it came while the report was written, which was finished first
            print(f"gafit: stopped by {stop()} after the fit and its report were written",
                  file=sys.stderr)
            return 128 + signal.Signals[stop()].value
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from gafit.evaluate import evaluate, predicted_structures
    from gafit.io import read_reference, write_reference
    from gafit.io.paths import output_file, spare_inputs
    from gafit.potential import Potential
    from gafit.stability import e0_check_of

    pot = Potential.load(args.potential, parse_elements(args.elements))
    if (args.data is None) == (args.config is None):
        raise GafitInputError("evaluate: give either DATA or --config CONFIG")
    if not pot.e0_given and not args.best_e0:
        print(f"note: {args.potential} gives no E0 offsets, so E0 = 0 (LAMMPS's energy); "
              "--best-e0 fits them to the data's energies")
    inputs = [args.potential, args.data, args.config]
    if args.config is not None:
        from gafit.config import load_config
        from gafit.fit import fit_inputs, read_data

        config = load_config(args.config)
        inputs += fit_inputs(config)
        train, valid = read_data(config)
        sets = {"train": train} | ({"validation": valid} if valid is not None else {})
    else:
        sets = {"data": read_reference(args.data)}
    if args.out is not None:
        spare_inputs([output_file(args.out)], inputs)
    for name, data in sets.items():
        ev = evaluate(pot, data, best_e0=args.best_e0)
        if args.out and len(sets) == 1:
            write_reference(predicted_structures(data, ev), args.out)
            print(f"wrote predictions to {args.out}")
        if not any(np.isfinite(v) for v in ev.rmse.values()):
            print(f"{name}: no reference values: nothing to compare")
            continue
        e0 = ", ".join(f"{s} {v:.6g}" for s, v in ev.e0.items())
        print(f"{name} ({len(data)} structures, {data.n_atoms} atoms); E0 (eV/atom"
              f"{', best fit' if args.best_e0 else ''}): {e0}")
        e0_check = e0_check_of(pot, data, ev.energy, ev.e0)
        for flag in e0_check.flags if e0_check is not None else []:
            print(flag)
        print("RMSE " + ev.table())
    return 0


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


def _verify(args: argparse.Namespace) -> int:
    from gafit.io import read_reference
    from gafit.lammps.verify import verify
    from gafit.potential import Potential

    report = verify(Potential.load(args.potential, parse_elements(args.elements)),
                    read_reference(args.data))
    print(report.text())
    return 0 if report.max_relative <= args.tolerance else 1


def _convert(args: argparse.Namespace) -> int:
    from gafit.io import read_reference, write_reference
    from gafit.io.paths import output_file, spare_inputs

    data = read_reference(args.input)
    spare_inputs([output_file(args.output, "OUT")], [args.input], "OUT")
    write_reference(data, args.output)
    print(f"wrote {len(data)} structures ({data.n_atoms} atoms) to {args.output}")
    return 0


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
    p.set_defaults(func=_fit)

    p = sub.add_parser("evaluate", help="predict energies, forces and stresses of a potential")
    add_potential_arguments(p)
    p.add_argument("data", nargs="?", help="structures: .csv, .extxyz or any ASE-readable file")
    p.add_argument("--config", help="instead of DATA: the training and validation sets of this fit "
                   "config (the same split as gafit fit)")
    p.add_argument("--out", help="write predictions here (.extxyz or .csv)")
    p.add_argument("--best-e0", action="store_true",
                   help="use the per-species energy offsets that minimise the energy RMSE")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("export", help="write LAMMPS files for a potential")
    add_potential_arguments(p)
    p.add_argument("--lammps", required=True, metavar="DIR", help="folder for pair.lmp and files")
    p.set_defaults(func=_export)

    p = sub.add_parser("verify", help="compare gafit with LAMMPS running the exported files")
    add_potential_arguments(p)
    p.add_argument("data")
    p.add_argument("--tolerance", type=float, default=1e-8,
                   help="largest relative difference accepted (default 1e-8)")
    p.set_defaults(func=_verify)

    add_phonons_parser(sub)
    add_report_parser(sub)
    add_check_parser(sub)
    add_properties_parser(sub)
    add_md_parser(sub)
    add_validate_parser(sub)

    p = sub.add_parser("convert", help="convert reference data between CSV and extxyz")
    p.add_argument("input")
    p.add_argument("output")
    p.set_defaults(func=_convert)
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

