"""Synthetic sets of about 10⁴ or 10⁵ atoms: rattled (0.05 Å) and strained (±2 %) copies of a
64-atom diamond Si cell with LAMMPS's Si.tersoff, or of a 108-atom fcc Cu cell with the
Girifalco-Weizer Morse potential (cutoff 6 Å). gafit's batched objective against LAMMPS (own kernel,
run 0, driven from Python: one persistent instance per structure), measured in the same run.

Run: python benchmarks/synthetic.py --form tersoff --atoms 10000 [--quick] [--json out.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import case_args, finish, measure, synthetic_set  # noqa: E402
from morse_mlearn_cu import POTENTIAL as MORSE_CU  # noqa: E402

from gafit.lammps.runner import potentials_dir  # noqa: E402
from gafit.potential_files import load_potential


def main(argv: list[str] | None = None) -> int:
    def extra(parser):
        parser.add_argument("--form", choices=["tersoff", "morse"], default="tersoff")
        parser.add_argument("--atoms", type=int, default=10_000)

    args = case_args(__doc__, argv, extra)
    if args.form == "tersoff":
        pot = load_potential(potentials_dir() / "Si.tersoff")
        name = f"Tersoff Si, synthetic {args.atoms:.0e} atoms"
    else:
        pot = load_potential(MORSE_CU)
        name = f"Morse Cu (6 Å), synthetic {args.atoms:.0e} atoms"
    data = synthetic_set(args.form, args.atoms)
    big = data.n_atoms > 50_000  # cost per individual is flat beyond ~50 (see scaling.py)
    population = min(args.population, 50) if big else args.population
    return finish([measure(name, pot, data, population, repeats=2 if big else 3,
                           evaluations=1 if big else 2 if args.quick else 3)], args)


if __name__ == "__main__":
    sys.exit(main())
