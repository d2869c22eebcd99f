"""Morse objective evaluation on ../shared/data/mlearn_Cu: gafit vs a LAMMPS-driven loop, same run.

Run: python benchmarks/morse_mlearn_cu.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import report, shared, time_gafit, time_lammps  # noqa: E402

from gafit.forms.morse import Morse  # noqa: E402
from gafit.io import read_reference  # noqa: E402
from gafit.potential import Potential  # noqa: E402


def main() -> int:
    path = shared("mlearn_Cu/Cu_test.extxyz")
    if path is None:
        print("skipped: ../shared/data/mlearn_Cu not found")
        return 0
    data = read_reference(path)
    pot = Potential(["Cu"], [Morse(["Cu"], 6.0)])
    population = 100
    t_gafit, obj = time_gafit(pot, data, population)
    pairs = len(obj.tables.form_tables[0].r_p)
    with tempfile.TemporaryDirectory() as tmp:
        t_lmp = time_lammps(pot, data, evaluations=5, workdir=Path(tmp))
    print(f"mlearn_Cu: {len(data)} structures, {data.n_atoms} atoms, {pairs} pairs within 6 Å")
    print(report("Morse (cutoff 6 Å) on mlearn_Cu", data.n_atoms, t_gafit, t_lmp, population))
    return 0


if __name__ == "__main__":
    sys.exit(main())
