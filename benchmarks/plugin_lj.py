"""The 9-6 Lennard-Jones plug-in (examples/gafit_lj, form lj96) against the built-in Morse form:
µs per atom per evaluation (energies, forces and virials of every structure for one parameter
vector), on the same structures with the same cutoff, batched over a population. Also the numpy path that a
two-parameter pair form took before the fused numba kernel served any number of parameters.

    PYTHONPATH=. python benchmarks/plugin_lj.py [--cells 8] [--repeat 5]

Times are best-of-N CPU times on one thread (the machine is shared; the load average is printed).
Target: LJ at least 0.8x Morse's speed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# one core, as every benchmark here (a BLAS thread pool would only add spinning threads)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from ase.build import bulk  # noqa: E402

from gafit.forms import pair_kernel  # noqa: E402
from gafit.forms.morse import Morse  # noqa: E402
from gafit.forms.pair import PairForm  # noqa: E402
from gafit.structures import ReferenceSet, Structure  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "gafit_lj"))
from common import clock  # noqa: E402
from gafit_lj import LennardJones96  # noqa: E402

CUTOFF = 5.0  # Å, both forms
VALUES = {"morse": [0.34, 1.36, 2.87], "lj96": [0.4, 2.3]}  # Cu-like parameters


def cells(n: int, seed: int = 0) -> ReferenceSet:
    """n strained, rattled 256-atom fcc Cu cells."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        at = bulk("Cu", "fcc", a=3.61, cubic=True) * (4, 4, 4)
        at.set_cell(at.cell @ (np.eye(3) + rng.normal(0, 0.01, (3, 3))), scale_atoms=True)
        at.rattle(0.05, seed=k)
        out.append(Structure(at, name=f"cu{k}"))
    return ReferenceSet(out, "cu-256")


def us_per_atom(form: PairForm, data: ReferenceSet, population: int, repeat: int,
                numpy_path: bool = False) -> float:
    """Best-of-``repeat`` CPU µs per atom per evaluation of a batch of ``population`` vectors."""
    tables = form.build_tables(data)
    rng = np.random.default_rng(1)
    values = np.array(VALUES[form.name])
    theta = values * (1 + 0.02 * rng.normal(size=(population, len(values))))
    run = form.evaluate_numpy if numpy_path else form.evaluate
    run(theta, tables)  # compile the kernel, warm the caches
    best = np.inf
    for _ in range(repeat):
        t0 = clock()
        run(theta, tables)
        best = min(best, clock() - t0)
    return best / (population * tables.n_atoms) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=8, help="256-atom cells (default 8)")
    ap.add_argument("--repeat", type=int, default=5, help="timed repeats, best kept (default 5)")
    args = ap.parse_args()
    data = cells(args.cells)
    print(f"load average at start: {os.getloadavg()[0]:.2f}; one core, CPU times, numba "
          f"{'on' if pair_kernel.available() else 'OFF'}; {args.cells} x 256 Cu atoms, "
          f"cutoff {CUTOFF} Å")
    print(f"{'population':>10} {'morse µs/atom':>14} {'lj µs/atom':>11} {'lj numpy path':>14} "
          f"{'lj speed / morse':>17}")
    for population in (64, 100):
        morse = us_per_atom(Morse(["Cu"], CUTOFF), data, population, args.repeat)
        lj = us_per_atom(LennardJones96(["Cu"], CUTOFF), data, population, args.repeat)
        lj_np = us_per_atom(LennardJones96(["Cu"], CUTOFF), data, population, args.repeat,
                            numpy_path=True)
        print(f"{population:>10} {morse:>14.4f} {lj:>11.4f} {lj_np:>14.4f} {morse / lj:>16.2f}x")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
