"""``gafit evaluate``: predictions of a potential on structures."""

from __future__ import annotations

import argparse

import numpy as np

from gafit.cli._args import parse_elements
from gafit.structures import GafitInputError


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
