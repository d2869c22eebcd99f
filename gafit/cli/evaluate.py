"""``gafit evaluate``: predictions of a potential on structures, and its errors."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from gafit.cli._args import add_potential_arguments, command_parser, parse_elements
from gafit.structures import GafitInputError

HELP = "predict energies, forces and stresses of a potential"
DESCRIPTION = """\
Predict the energy (with the potential's E0 offsets), forces and stress of every structure of DATA
(or of the training and validation sets of a fit config, split as gafit fit splits them) and print
the RMSEs against the reference values present, per config_type: energy eV/atom, forces eV/Å,
stress GPa. A potential file that gives no E0 offsets (any file not written by gafit) has E0 = 0,
and evaluate says so; --best-e0 fits them to the data's energies instead (to compare a published
potential with DFT total energies). Implausible E0 offsets are flagged (gafit.stability).
--out writes the structures with the predictions as their targets (.extxyz or .csv). --ensemble
FILE (written by gafit uncertainty) adds per structure the members' mean energy error and spread
(eV/atom) and the RMS spread of the force components (eV/Å), and the calibration: the fraction of
energies and force components whose error lies within the members' 1σ and 2σ."""
EXAMPLE = """\
examples:
  gafit evaluate runs/cu/potential.json data/Cu_EMT.extxyz --out predicted.extxyz
  gafit evaluate runs/cu/potential.json --config examples/cu_morse.toml
  gafit evaluate runs/cu/potential.json data/Cu_EMT.extxyz \\
      --ensemble runs/cu/uncertainty/ensemble_fisher.csv
  gafit evaluate potentials/Si_Tersoff_1988.tersoff \\
      ../shared/data/mlearn_Si/Si_training.extxyz --best-e0"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gafit evaluate`` on an argparse ``add_subparsers()`` object; returns its parser."""
    p = command_parser(subparsers, "evaluate", HELP, DESCRIPTION, EXAMPLE)
    add_potential_arguments(p)
    p.add_argument("data", nargs="?", help="structures: .csv, .extxyz or any ASE-readable file")
    p.add_argument("--config", help="instead of DATA: the training and validation sets of this fit "
                   "config (the same split as gafit fit)")
    p.add_argument("--out", help="write predictions here (.extxyz or .csv)")
    p.add_argument("--best-e0", action="store_true",
                   help="use the per-species energy offsets that minimise the energy RMSE")
    p.add_argument("--ensemble", metavar="FILE",
                   help="an ensemble CSV of gafit uncertainty (uncertainty/ensemble_METHOD.csv): "
                        "per structure the members' mean error and spread of the energy and "
                        "forces, and the calibration of the spreads")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Handler of ``gafit evaluate``."""
    from gafit.evaluate import evaluate, predicted_structures
    from gafit.fit_data import evaluation_sets
    from gafit.io import write_reference
    from gafit.io.paths import output_file, spare_inputs
    from gafit.potential_files import load_potential
    from gafit.stability import e0_check_of

    pot = load_potential(args.potential, parse_elements(args.elements))
    if (args.data is None) == (args.config is None):
        raise GafitInputError("evaluate: give either DATA or --config CONFIG")
    if not pot.e0_given and not args.best_e0:
        print(f"note: {args.potential} gives no E0 offsets, so E0 = 0 (LAMMPS's energy); "
              "--best-e0 fits them to the data's energies")
    sets, inputs = evaluation_sets(args.data, args.config)
    if args.out is not None:
        spare_inputs([output_file(args.out)], [args.potential, *inputs])
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
        if args.ensemble:
            from gafit.uncertainty.propagate import ensemble_report

            print(ensemble_report(pot, args.ensemble, data, name))
    return 0
