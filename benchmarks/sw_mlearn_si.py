"""Stillinger-Weber Si (LAMMPS's Si.sw, a sigma = 3.77 Å) on ../shared/data/mlearn_Si (214 structures:
AIMD up to the liquid, vacancies, strains, surfaces): gafit's batched objective against LAMMPS's own
sw kernel (run 0, driven from Python: one persistent instance per structure; each evaluation writes
the .sw file, re-issues pair_coeff, run 0, reads E/F/stress), measured in the same run.

Run: python benchmarks/sw_mlearn_si.py [--quick] [--population 100] [--json out.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import case_args, finish, measure, shared, skipped  # noqa: E402

from gafit.io import read_reference  # noqa: E402
from gafit.lammps.runner import potentials_dir  # noqa: E402
from gafit.potential_files import load_potential  # noqa: E402

NAME = "Stillinger-Weber Si on mlearn_Si"
DATA = "mlearn_Si/Si_training.extxyz"


def main(argv: list[str] | None = None) -> int:
    args = case_args(__doc__, argv)
    path = shared(DATA)
    if path is None:
        return finish([skipped(NAME, f"../shared/data/{DATA} not found")], args)
    data = read_reference(path)
    pot = load_potential(potentials_dir() / "Si.sw")
    return finish([measure(NAME, pot, data, args.population, evaluations=2 if args.quick else 3)],
                  args)


if __name__ == "__main__":
    sys.exit(main())
