"""``gafit validate``: run a suite of checks (properties against cited references, phonons against DFT,
MD in LAMMPS, repulsive walls) on a potential and write one report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gafit.cli._args import add_potential_arguments, command_parser, parse_elements

HELP = "is this potential usable? a suite of checks against cited references, with a report"
DESCRIPTION = """\
Run a suite of checks on POTENTIAL and report each as pass, FAIL or skipped:

  properties  a, E, E_coh (cohesive energy: E0 per atom minus E), B, C11, C12, C44, ... of a crystal
              (a lattice name with species and a start lattice constant, or a structure file),
              relaxed as `gafit properties` does, against a reference value with its citation and a
              tolerance (rel_tol, a fraction, or abs_tol in the quantity's unit)
  phonons     RMS error over the band path against a DFT phonopy data set (as `gafit phonons`)
  md          LAMMPS MD with the exported files (as `gafit md`): heat, run, then NVE; fails on lost
              atoms, a collapse or an NVE drift above max_drift (eV/atom/ps)
  ev          E(V) on the cells of DFT frames of one crystal scaled uniformly, RMS after the best
              constant shift (abs_tol, eV/atom), a0 and B of both curves (a_rel_tol, B_rel_tol)
  melt_quench LAMMPS melt, quench, anneal (melt_temperature, melt_time, quench_time, ...): mean
              coordination within cutoff against a reference; g(r) plot; fails if it did not melt
  walls       every pair channel must keep a repulsive wall (gafit.walls); always checked

A suite is a TOML file: the built-in ones (gafit/suites/*.toml: C, Cu, MgO, Si, SiO2) are a start
to copy and extend. Without --suite, the built-in suite for the potential's species is used. Paths starting
'data:' are looked up in --data (default ../shared/data); checks whose data is absent are skipped.
Writes DIR/index.html, DIR/summary.png (the table and plots in one picture), DIR/validate.csv,
DIR/validate.json (and DIR/phonons/, DIR/ev/, DIR/melt_quench/). Exit status 1 when a
check failed."""
EXAMPLE = """\
examples:
  gafit validate potentials/Si_Tersoff_1988.tersoff --out validate-si
  gafit validate potentials/MgO_buck_coul.json --suite MgO --out validate-mgo
  gafit validate runs/si/potential.json --suite my_si_suite.toml"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gafit validate`` on an argparse ``add_subparsers()`` object; returns its parser."""
    p = command_parser(subparsers, "validate", HELP, DESCRIPTION, EXAMPLE)
    add_potential_arguments(p)
    p.add_argument("--suite", metavar="SUITE", help="a suite TOML file or a built-in suite name "
                   "(default: the built-in suite for the potential's species)")
    p.add_argument("--out", metavar="DIR", default="gafit-validate",
                   help="folder for index.html, validate.csv, validate.json (default gafit-validate)")
    p.add_argument("--data", metavar="DIR", help="folder of 'data:' paths (default ../shared/data)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Handler of ``gafit validate``: exit 0 when every check passed or was skipped, 1 otherwise."""
    from gafit.io.paths import output_folder, spare_inputs
    from gafit.potential_files import load_potential
    from gafit.validate import (
        SuiteProgress,
        find_suite,
        load_suite,
        run_suite,
        table_text,
        verdict,
        write_outputs,
    )

    out = output_folder(args.out)
    potential = load_potential(args.potential, parse_elements(args.elements))
    suite = load_suite(find_suite(args.suite, potential.species))
    spare_inputs([out / n for n in ("index.html", "summary.png", "validate.csv", "validate.json")],
                 [args.potential, suite.source])

    progress = SuiteProgress(args.quiet)
    try:
        outcomes = run_suite(potential, suite, out, args.data, progress.check, progress.md)
    finally:
        progress.close()
    print(f"{Path(args.potential).name}, suite {suite.name} ({suite.source}):")
    print(table_text(outcomes))
    files = write_outputs(out, suite, outcomes, str(args.potential))
    print(verdict(outcomes))
    print("wrote " + ", ".join(str(f) for f in files))
    return 1 if any(o.failed for o in outcomes) else 0
