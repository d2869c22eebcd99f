"""``gafit fit``: fit a potential described by a TOML config."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gafit.cli._args import command_parser
from gafit.parallel import check_scheduler
from gafit.structures import GafitInputError

if TYPE_CHECKING:
    from gafit.config import FitConfig
    from gafit.fitting import Fit, FitInterrupted

HELP = "fit a potential described by a TOML config"
DESCRIPTION = """\
Fit the potential of CONFIG (a TOML file: data, potential and parameter bounds, weights, [ga],
[refine]; see the README's "Configuration") to its reference data: a genetic algorithm over the
parameter bounds, then least-squares refinement of the best individuals. A seed decides the result
(--workers and --scheduler only make it faster). Writes in --out:

  potential.json    forms, species, cutoffs, parameter values, E0 offsets, provenance
  lammps/pair.lmp   pair_style and pair_coeff lines for LAMMPS's 'include' (and parameter files)
  log.csv           per generation: evaluations, time, best and median loss, RMSEs, loss by term
  parameters.csv    values, status, bounds, and which ended at a bound
  summary.json      loss, RMSEs, speed, stop reason, problems, walls, guards
  checkpoint.npz    the GA's state after each generation (--resume continues from it)
  report/           the HTML report (gafit report), unless --no-report
  validate/         the [validate] suite's report, when the config has one

Exit status 0; 2 for bad input; 3 when the fit ran but its result is not finite (summary.json
says why); 130 (SIGINT) or 143 (SIGTERM) when stopped: the first Ctrl-C stops at the end of the
generation under way, with the checkpoint on disk, and prints how to continue; a second stops at once.
Units: eV, Å, eV/Å; stress GPa."""
EXAMPLE = """\
examples:
  gafit fit examples/cu_morse.toml --out runs/cu
  gafit fit potentials/Si_mlearn_fit.toml --out runs/si --seed 3 --workers 2
  gafit fit --resume runs/si                      # continue a stopped run
  gafit fit --resume runs/si --generations 50     # 50 generations more than it ran"""


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


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gafit fit`` on an argparse ``add_subparsers()`` object; returns its parser."""
    p = command_parser(subparsers, "fit", HELP, DESCRIPTION, EXAMPLE)
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
    p.set_defaults(func=run)
    return p


def _fit_of(args: argparse.Namespace) -> tuple[Fit, FitConfig, Path]:
    """The fit the arguments describe (a config's, or a stopped run's to continue), its config as
    read (the report names its files as given) and the run folder it writes into, checked before
    the fit starts."""
    from gafit.config import load_config
    from gafit.fit_data import fit_inputs
    from gafit.fit_result import prepare_run_folder
    from gafit.fitting import Fit

    if args.seed is not None and args.seed < 0:
        raise GafitInputError(f"--seed {args.seed}: a seed must be a non-negative integer")
    if args.generations is not None and args.generations < 0:
        raise GafitInputError(f"--generations {args.generations}: must not be negative")
    if args.workers is not None and args.workers < 1:
        raise GafitInputError(f"--workers {args.workers}: must be at least 1")
    if args.scheduler:  # "" runs locally, as in the config
        check_scheduler(args.scheduler, "--scheduler")
    if args.resume:
        if args.config or args.seed is not None:
            raise GafitInputError("--resume continues a run with its own config and seed; "
                                  "give only the run folder")
        fit = Fit.resume(args.resume, args.generations, args.workers, args.scheduler)
        out = Path(args.resume)
        if args.out is not None and Path(args.out).absolute() != out.absolute():
            out = prepare_run_folder(args.out, fit_inputs(fit.config), args.overwrite)
        return fit, fit.config, out
    if not args.config:
        raise GafitInputError("fit: give a CONFIG file (or --resume RUN_DIR)")
    config = load_config(args.config)
    out = prepare_run_folder(args.out if args.out is not None else "gafit-run",
                             fit_inputs(config), args.overwrite)
    ga = config.ga
    for key in ("seed", "generations", "workers", "scheduler"):
        if getattr(args, key) is not None:
            setattr(ga, key, getattr(args, key))
    return Fit.from_config(config), config, out


def run(args: argparse.Namespace) -> int:
    """Handler of ``gafit fit``."""
    from gafit.fit_result import check_result
    from gafit.fitting import FitInterrupted
    from gafit.setup_progress import quiet_setup

    with _StopOnSignal() as stop:
        with quiet_setup(args.quiet):  # a signal while it is set up stops before generation 0
            fit, config, out = _fit_of(args)
        try:
            result = fit.run(out, quiet=args.quiet, should_stop=stop)
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
        print(f"wrote {result.write_report(out)}")  # on the tables the fit built
        if stop():  # it came while the report was written, which was finished first
            print(f"gafit: stopped by {stop()} after the fit and its report were written",
                  file=sys.stderr)
            return 128 + signal.Signals[stop()].value
    return 0
