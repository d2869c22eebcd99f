"""Tersoff objective evaluation on ../shared/data/gpuga_Si_diamond (168 x 64 Si atoms):
gafit (batched) against driving LAMMPS from Python the best way (one persistent instance per
structure; each evaluation writes the .tersoff file, re-issues pair_coeff, run 0, reads E/F/stress),
measured in the same run.

Run: python benchmarks/tersoff_gpuga.py [--population 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import report, shared, time_gafit, time_lammps  # noqa: E402

from gafit.io import read_reference  # noqa: E402
from gafit.lammps.runner import potentials_dir  # noqa: E402
from gafit.potential import Potential  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--population", type=int, default=100)
    parser.add_argument("--lammps-evaluations", type=int, default=3)
    args = parser.parse_args()
    path = shared("gpuga_Si_diamond/Si_gpuga_train.extxyz")
    if path is None:
        print("skipped: ../shared/data/gpuga_Si_diamond not found")
        return 0
    data = read_reference(path)
    pot = Potential.load(potentials_dir() / "Si.tersoff")
    t_gafit, obj = time_gafit(pot, data, args.population)
    tab = obj.tables.form_tables[0]
    with tempfile.TemporaryDirectory() as tmp:
        t_lmp = time_lammps(pot, data, args.lammps_evaluations, Path(tmp))
    print(f"gpuga_Si_diamond: {len(data)} structures, {data.n_atoms} atoms, "
          f"{len(tab.r_p)} pairs, {len(tab.cos_t)} triplets (Si.tersoff, R+D = 3.0 Å)")
    print(report("Tersoff Si on gpuga_Si_diamond", data.n_atoms, t_gafit, t_lmp,
                 args.population))
    return 0


if __name__ == "__main__":
    sys.exit(main())
