"""Tersoff Si (LAMMPS's Si.tersoff, R + D = 3.0 Å) on ../shared/data/gpuga_Si_diamond (168 x 64 Si
atoms): gafit's batched objective against LAMMPS (own kernel, run 0, driven from Python: one
persistent instance per structure; each evaluation writes the .tersoff file, re-issues pair_coeff,
run 0, reads E/F/stress), measured in the same run.

Run: python benchmarks/tersoff_gpuga.py [--quick] [--population 100] [--json out.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import case_args, finish, measure, shared, skipped  # noqa: E402

from gafit.io import read_reference  # noqa: E402
from gafit.lammps.runner import potentials_dir  # noqa: E402
from gafit.potential_files import load_potential

CASES = {  # name: shared data file
    "Tersoff Si on gpuga_Si_diamond": "gpuga_Si_diamond/Si_gpuga_train.extxyz",
    "Tersoff Si on mlearn_Si": "mlearn_Si/Si_training.extxyz",
}


def run(name: str, argv: list[str] | None = None, doc: str | None = __doc__) -> int:
    args = case_args(doc, argv)
    path = shared(CASES[name])
    if path is None:
        return finish([skipped(name, f"../shared/data/{CASES[name]} not found")], args)
    data = read_reference(path)
    pot = load_potential(potentials_dir() / "Si.tersoff")
    return finish([measure(name, pot, data, args.population, evaluations=2 if args.quick else 3)],
                  args)


def main(argv: list[str] | None = None) -> int:
    return run("Tersoff Si on gpuga_Si_diamond", argv)


if __name__ == "__main__":
    sys.exit(main())
