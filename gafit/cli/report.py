"""``gafit report RUN_DIR``: an HTML page with plots of a fit (RUN_DIR/report/index.html)."""

from __future__ import annotations

import argparse
from typing import Any

from gafit.cli._args import command_parser

HELP = "HTML report of a fit: parity plots, errors per config_type, convergence, parameters"
DESCRIPTION = """\
Write RUN_DIR/report/index.html with its PNG plots beside it (self-contained: inline CSS, no
JavaScript, images referenced relatively, so the report folder can be zipped and sent):

  - what was fitted: form, species, data, structures and atoms in train and validation, weights,
    generations, stop reason, evaluations per second, time, loss and RMSEs;
  - predicted vs reference energy per atom (eV/atom), force components (eV/Å) and stress components
    (GPa) for the training and validation sets, recomputed from RUN_DIR/potential.json on the data of
    the fit's config (the same split as gafit fit);
  - RMSEs per config_type; the GA's convergence (log.csv); the parameters with their bounds, those
    that ended at a bound highlighted;
  - for fits with [phonons] targets: gafit vs reference frequencies at the fitted q-points and the
    full dispersion vs the reference (at the potential's relaxed lattice constant and at the
    reference's);
  - for fits with [[properties]] targets: each target's value, reference, tolerance, weight,
    citation and pass/FAIL (summary.json's "properties").
  - when RUN_DIR/uncertainty/ holds ensembles of gafit uncertainty: each one's σ per parameter,
    correlations and calibration, and the spreads gafit properties --ensemble and gafit phonons
    --ensemble recorded there (properties with error bars, the phonon band).

The config is the one summary.json names (or the provenance line of lammps/pair.lmp); --config
gives it when it moved. Without it (or its data) the page says so and leaves the parity plots out."""
EXAMPLE = """\
examples:
  gafit report runs/cu                 # writes runs/cu/report/index.html
  gafit report runs/si --config moved/Si_mlearn_fit.toml"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gafit report`` on an argparse ``add_subparsers()`` object; returns its parser."""
    p = command_parser(subparsers, "report", HELP, DESCRIPTION, EXAMPLE)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by gafit fit --out")
    p.add_argument("--config", metavar="CONFIG",
                   help="the fit's TOML config (default: the one recorded in the run folder)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Handler of ``gafit report``."""
    from gafit.report import write_report

    path = write_report(args.run_dir, args.config)
    print(f"wrote {path}")
    return 0
