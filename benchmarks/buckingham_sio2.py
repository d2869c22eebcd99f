"""Buckingham (short-range part of BKS SiO2, van Beest et al. 1990), cutoff 10 Å, on the SiO2
zeolite structures of ../shared/data/SiO2_zeolite_SiZEO22 (SOD and EDI, every 10th frame):
gafit's batched objective against LAMMPS (own kernel, run 0, driven from Python), same run.

BKS's Coulomb term is left out: gafit's Buckingham form is the short-range pair_style buck.

Run: python benchmarks/buckingham_sio2.py [--quick] [--population 100] [--json out.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml  # noqa: E402
from common import case_args, finish, measure, shared, skipped  # noqa: E402

from gafit.forms.buckingham import Buckingham  # noqa: E402
from gafit.io import read_reference  # noqa: E402
from gafit.potential import Potential  # noqa: E402

NAME = "Buckingham BKS (10 Å) on SiO2 zeolites"
CUTOFF = 10.0


def bks(path: Path) -> Potential:
    """The BKS A, rho, C of Si-Si, Si-O and O-O as a gafit potential (species Si, O)."""
    sets = {s["id"]: s for s in yaml.safe_load(path.read_text())["parameter_sets"]}
    pairs = sets["SiO2_BKS_1990"]["pairs"]
    form = Buckingham(["Si", "O"], CUTOFF)
    values = [pairs[f"{a}-{b}"][p] for a, b in form.entries() for p in ("A", "rho", "C")]
    return Potential(["Si", "O"], [form], values + [0.0, 0.0])


def main(argv: list[str] | None = None) -> int:
    args = case_args(__doc__, argv)
    params = shared("buckingham_parameters/buckingham_parameters.yaml")
    files = [shared(f"SiO2_zeolite_SiZEO22/{z}_every10th.extxyz") for z in ("sod", "edi")]
    if params is None or None in files:
        return finish([skipped(NAME, "../shared/data SiO2 zeolite or Buckingham data not found")],
                      args)
    data = read_reference(files[0]) + read_reference(files[1])
    return finish([measure(NAME, bks(params), data, args.population,
                           evaluations=2 if args.quick else 3)], args)


if __name__ == "__main__":
    sys.exit(main())
