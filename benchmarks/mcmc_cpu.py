"""CPU time of gafit's MCMC (gafit.uncertainty.mcmc, emcee with batched log-probabilities) for
1,800 evaluations of the mlearn_Cu Morse objective, single thread (issue 15: KLIFF took 123 s of
CPU for 1,800 evaluations of a three-parameter Morse; the target is at most 20 % of that).

First fit the Morse:  python -m gafit.cli fit examples/mlearn_Cu/morse.toml --out /tmp/cu
Run:                  python benchmarks/mcmc_cpu.py /tmp/cu [--walkers 12 60]
CPU time is time.process_time() around the sampler alone (the objective is built before).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"  # single thread: set before numpy and numba load

import argparse  # noqa: E402
import sys  # noqa: E402

EVALUATIONS = 1800
KLIFF_CPU_SECONDS = 123.0


def main(argv: list[str] | None = None) -> int:
    from gafit.uncertainty import Problem, mcmc_ensemble

    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--walkers", type=int, nargs="+", default=[12, 60])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    problem = Problem.from_run(args.run_dir)
    problem.objective.loss(problem.x[None])  # compile the kernels before timing
    for w in args.walkers:
        steps = EVALUATIONS // w
        ens = mcmc_ensemble(problem, samples=10, seed=args.seed, steps=steps, walkers=w,
                            burn=0, progress=False)
        cpu, n = ens.info["cpu_seconds"], ens.info["evaluations"]
        print(f"{w} walkers x {steps} steps: {n} evaluations in {cpu:.2f} s CPU "
              f"({1e3 * cpu / n:.2f} ms each), {100 * cpu / KLIFF_CPU_SECONDS:.1f} % of KLIFF's "
              f"{KLIFF_CPU_SECONDS:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
