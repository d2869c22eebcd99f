"""Morse (Girifalco-Weizer Cu, cutoff 6 Å) on ../shared/data/mlearn_Cu (31 structures):
gafit's batched objective against LAMMPS (own kernel, run 0, driven from Python), same run.

Run: python benchmarks/morse_mlearn_cu.py [--quick] [--population 100] [--json out.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import case_args, finish, measure, shared, skipped  # noqa: E402

from gafit.io import read_reference  # noqa: E402
from gafit.potential_files import load_potential

NAME = "Morse Cu (6 Å) on mlearn_Cu"
POTENTIAL = Path(__file__).resolve().parents[1] / "potentials" / "Cu_Morse_Girifalco_Weizer_1959.json"


def main(argv: list[str] | None = None) -> int:
    args = case_args(__doc__, argv)
    path = shared("mlearn_Cu/Cu_test.extxyz")
    if path is None:
        return finish([skipped(NAME, "../shared/data/mlearn_Cu not found")], args)
    data = read_reference(path)
    pot = load_potential(POTENTIAL)
    return finish([measure(NAME, pot, data, args.population, evaluations=3 if args.quick else 5)],
                  args)


if __name__ == "__main__":
    sys.exit(main())
