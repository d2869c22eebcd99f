"""Profile gafit's batched objective on one benchmark set: cProfile's top functions by own time.

Run: python benchmarks/profile_eval.py tersoff|tersoff-mlearn|tersoff-1e5|sw-mlearn|eam-mlearn|morse|
                                       morse-1e5|buckingham
     [--population 100] [--seconds 10] [--top 25]
For line-level detail, run it under py-spy:
     py-spy record -f raw -o profile.txt -- python benchmarks/profile_eval.py tersoff --no-cprofile
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from buckingham_sio2 import bks  # noqa: E402
from common import clock, objective_and_population, shared, synthetic_set  # noqa: E402
from morse_mlearn_cu import POTENTIAL as MORSE_CU  # noqa: E402

from gafit.io import read_reference  # noqa: E402
from gafit.lammps.runner import potentials_dir  # noqa: E402
from gafit.potential_files import load_potential  # noqa: E402

#: the fits gafit ships (their exported files are the sw and eam cases' potentials)
SHIPPED = Path(__file__).resolve().parents[1] / "potentials"


def setup(case: str):
    si = potentials_dir() / "Si.tersoff"
    if case == "tersoff":
        return load_potential(si), read_reference(shared("gpuga_Si_diamond/Si_gpuga_train.extxyz"))
    if case == "tersoff-mlearn":
        return load_potential(si), read_reference(shared("mlearn_Si/Si_training.extxyz"))
    if case == "tersoff-1e5":
        return load_potential(si), synthetic_set("tersoff", 100_000)
    if case == "sw-mlearn":
        return (load_potential(SHIPPED / "Si_mlearn_sw.sw"),
                read_reference(shared("mlearn_Si/Si_training.extxyz")))
    if case == "eam-mlearn":
        return (load_potential(SHIPPED / "Cu_mlearn_eam.eam.alloy"),
                read_reference(shared("mlearn_Cu/Cu_test.extxyz")))
    if case == "morse":
        return load_potential(MORSE_CU), read_reference(shared("mlearn_Cu/Cu_test.extxyz"))
    if case == "morse-1e5":
        return load_potential(MORSE_CU), synthetic_set("morse", 100_000)
    if case == "buckingham":
        data = (read_reference(shared("SiO2_zeolite_SiZEO22/sod_every10th.extxyz"))
                + read_reference(shared("SiO2_zeolite_SiZEO22/edi_every10th.extxyz")))
        return bks(shared("buckingham_parameters/buckingham_parameters.yaml")), data
    raise SystemExit(f"unknown case {case}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case")
    parser.add_argument("--population", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--no-cprofile", action="store_true", help="just loop (for py-spy)")
    args = parser.parse_args()
    pot, data = setup(args.case)
    t0 = time.perf_counter()
    obj, x = objective_and_population(pot, data, args.population)
    print(f"{args.case}: {len(data)} structures, {data.n_atoms} atoms; tables built in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    obj.loss(x)  # warm-up (numba compilation, work arrays)
    prof = None if args.no_cprofile else cProfile.Profile()
    calls, t0 = 0, clock()
    if prof is not None:
        prof.enable()
    while calls == 0 or clock() - t0 < args.seconds:
        obj.loss(x)
        calls += 1
    if prof is not None:
        prof.disable()
    dt = (clock() - t0) / calls
    print(f"{calls} calls, {dt * 1e3:.1f} ms per call of {args.population}: "
          f"{dt / args.population / data.n_atoms * 1e6:.3f} µs/atom per evaluation"
          + ("" if prof is None else " (under cProfile)"))
    if prof is not None:
        pstats.Stats(prof).strip_dirs().sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
