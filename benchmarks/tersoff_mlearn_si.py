"""Tersoff Si (LAMMPS's Si.tersoff) on ../shared/data/mlearn_Si (214 structures: AIMD up to the
liquid, vacancies, strains, surfaces): gafit's batched objective against LAMMPS (own kernel, run 0,
driven from Python), measured in the same run.

Run: python benchmarks/tersoff_mlearn_si.py [--quick] [--population 100] [--json out.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tersoff_gpuga import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run("Tersoff Si on mlearn_Si", doc=__doc__))
