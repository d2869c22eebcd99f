"""``gafit md``: MD stability of a potential with its exported LAMMPS files."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gafit.cli._args import add_potential_arguments, command_parser, parse_elements, write_json
from gafit.crystals import add_structure_arguments
from gafit.structures import GafitInputError

HELP = "run the exported LAMMPS files in MD: lost atoms, shortest distance, temperature, NVE drift"
DESCRIPTION = """\
Heat a structure (a frame of a data file, or a crystal) with the potential's exported LAMMPS files
(pair.lmp as 'gafit export' writes it, run with the lammps Python module): velocities drawn at the
temperature with the seed, NVT (Nosé-Hoover) for --time ps, then optionally NVE for --nve-time ps.
Reports lost atoms, the shortest interatomic distance at any step, the temperature reached and the
NVE energy drift. Exit status 1 when the run fails: atoms lost, LAMMPS stopped, two atoms closer than
--collapse-distance (a potential with no repulsive wall collapses), or a non-finite energy."""
EXAMPLE = """\
examples:
  gafit md potentials/SiO2_BKS_1990.json ../shared/data/SiO2_zeolite_SiZEO22/sod_every10th.extxyz \\
      --temperature 2500 --time 10 --seed 1 --supercell 2 2 2
  gafit md runs/cu/potential.json --structure fcc:3.61 --supercell 4 4 4 --temperature 1000 --time 5"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gafit md`` on an argparse ``add_subparsers()`` object; returns its parser."""
    p = command_parser(subparsers, "md", HELP, DESCRIPTION, EXAMPLE)
    add_potential_arguments(p)
    p.add_argument("structure_file", nargs="?", metavar="STRUCTURE",
                   help="a structure file (any ASE format; periodic in x, y and z)")
    p.add_argument("--index", type=int, default=0, help="frame of STRUCTURE to start from (default 0)")
    add_structure_arguments(p, required=False)
    p.add_argument("--temperature", type=float, required=True, metavar="K", help="NVT temperature, K")
    p.add_argument("--time", type=float, required=True, metavar="PS", help="NVT time, ps")
    p.add_argument("--seed", type=int, default=1, help="velocity seed (default 1)")
    p.add_argument("--timestep", type=float, default=1.0, metavar="FS", help="fs (default 1)")
    p.add_argument("--nve-time", type=float, default=0.0, metavar="PS",
                   help="NVE after the NVT part, ps, for the energy drift (default 0: none)")
    p.add_argument("--tdamp", type=float, default=0.1, metavar="PS",
                   help="thermostat damping time, ps (default 0.1)")
    p.add_argument("--supercell", type=int, nargs=3, default=[1, 1, 1], metavar="N",
                   help="repeat the structure N1 N2 N3 times (default 1 1 1)")
    p.add_argument("--collapse-distance", type=float, default=None, metavar="Å",
                   help="two atoms closer than this fail the run (default 0.5)")
    p.add_argument("--out", metavar="FILE.json", help="write the result and the samples as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Handler of ``gafit md``: exit 0 when the run passed, 1 when it failed."""
    from gafit.crystals import structure_from_args
    from gafit.io.paths import output_file, spare_inputs
    from gafit.md import COLLAPSE_DISTANCE, MDSettings, run_md, structure_frame
    from gafit.potential_files import load_potential

    if args.out is not None:
        spare_inputs([output_file(args.out)], [args.potential, args.structure_file, args.structure])
    potential = load_potential(args.potential, parse_elements(args.elements))
    if (args.structure_file is None) == (args.structure is None):
        raise GafitInputError("md: give either a STRUCTURE file or --structure FILE|LATTICE[:A]")
    if args.structure_file is not None:
        atoms = structure_frame(args.structure_file, args.index)
    else:
        atoms = structure_from_args(args, potential.species)
    collapse = COLLAPSE_DISTANCE if args.collapse_distance is None else args.collapse_distance
    settings = MDSettings(temperature=args.temperature, time=args.time, seed=args.seed,
                          timestep=args.timestep, nve_time=args.nve_time, tdamp=args.tdamp,
                          supercell=tuple(args.supercell), collapse_distance=collapse)
    settings.check()
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        total = settings.steps(settings.time) + settings.steps(settings.nve_time)
        bar = tqdm(total=total, desc="md", unit="step", file=sys.stderr, leave=False)

    def progress(sample: Any, total: int) -> None:
        if bar is not None:
            bar.update(sample.step - bar.n)
            bar.set_postfix_str(f"{sample.ensemble} T {sample.temperature:.0f} K, "
                                f"d_min {sample.min_distance:.2f} Å, atoms {sample.n_atoms}")

    try:
        result = run_md(potential, atoms, settings, progress)
    finally:
        if bar is not None:
            bar.close()
    print(result.text())
    if args.out:
        doc = {"potential": str(args.potential),
               "structure": args.structure_file or args.structure, "index": args.index,
               "result": result.to_dict()}
        write_json(args.out, doc)
    return 0 if result.passed else 1
