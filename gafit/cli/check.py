"""``gafit check`` (sanity checks of reference data), ``gafit properties`` (crystal properties of a
potential, optionally beside DFT values) and ``gafit md`` (MD stability with the exported files)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from gafit.cli._args import ELEMENTS_HELP, POTENTIAL_HELP, add_potential_arguments, parse_elements
from gafit.crystals import add_structure_arguments
from gafit.structures import GafitInputError

# --------------------------------------------------------------------------- gafit check

CHECK_HELP = "sanity checks of reference data (zero forces, duplicates, energy scales, stress units, ...)"
CHECK_DESCRIPTION = """\
Look for problems in reference data before fitting it, and print one line per finding (warnings
first, with counts per config_type):

  zero forces/stress  every component exactly zero where the structure's symmetry allows nonzero
                      values (missing data stored as zeros, then fitted as zeros)
  small cells         periodic widths below 2 x cutoff: atoms see their own images (legal, info)
  duplicates          the same species, cell and positions (atom by atom) more than once
  energy scales       energies per atom far from a robust per-species fit E = sum n_k e_k, or groups
                      (files, config_types) whose lowest energies per atom lie > 0.5 eV/atom apart
                      (different codes, functionals or reference energies mixed)
  stress              stresses whose sign, unit (GPa, kbar, virial), shear order or isotropic offset
                      (Pulay stress) disagrees with the energy changes between strained structures
  undetermined        species in no structure, species pairs (Tersoff: triplets) never within the
                      cutoff, energies that E0 alone fits exactly, fewer targets than parameters
  walls, E0           with --potential: pair channels with no safe repulsive wall, and E0 offsets that
                      make the form's own energy per atom implausible (gafit.stability)

Several DATA files are checked together (as one training set would be) and findings name the files.
Units: Å, eV, stress GPa in messages."""
CHECK_EXAMPLE = """\
examples:
  gafit check data/Cu_EMT.extxyz
  gafit check Si_training.extxyz Si_gpuga_train.extxyz --cutoff 3.2
  gafit check --config examples/cu_morse.toml --verbose"""


def add_check_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gafit check`` on an argparse ``add_subparsers()`` object; returns its parser."""
    p = subparsers.add_parser("check", help=CHECK_HELP, description=CHECK_DESCRIPTION, epilog=CHECK_EXAMPLE,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="*", metavar="DATA",
                   help="reference files: .extxyz, .csv or any ASE-readable file")
    p.add_argument("--config", help="instead of DATA: the training data, species and potential of this "
                   "fit config")
    p.add_argument("--cutoff", type=float, metavar="Å",
                   help="interaction range (default: the potential's, else 6.0 Å)")
    p.add_argument("--potential", metavar="POT",
                   help="a potential (potential.json, pair.lmp, .tersoff) for cutoff, species, entries")
    p.add_argument("--species", nargs="+", metavar="X",
                   help="the species the potential will have (default: the potential's or the data's)")
    p.add_argument("--index", default=":", help="structures to read from each file, ASE-style (':', '::10')")
    p.add_argument("--verbose", action="store_true", help="list the structures behind each finding")
    p.add_argument("--strict", action="store_true", help="exit with status 1 when there are warnings")
    p.set_defaults(func=run_check_command)
    return p


def run_check_command(args: argparse.Namespace) -> int:
    """Handler of ``gafit check``."""
    from gafit.checks import _source, check_data, format_findings
    from gafit.io import read_reference
    from gafit.potential import Potential

    if args.cutoff is not None and not args.cutoff > 0:
        raise GafitInputError(f"--cutoff {args.cutoff}: must be a positive length (Å)")
    if bool(args.data) == (args.config is not None):
        raise GafitInputError("check: give DATA files or --config CONFIG (not both)")
    potential = Potential.load(args.potential) if args.potential else None
    if args.config is not None:
        from gafit.config import load_config
        from gafit.fit import build_potential, read_data

        config = load_config(args.config)
        data, _ = read_data(config)
        if potential is None:
            potential = build_potential(config, data)
        names = [str(f.path) for f in config.data.train]
    else:
        sets = [read_reference(path, args.index) for path in args.data]
        data = sets[0]
        for more in sets[1:]:
            data = data + more
        names = list(args.data)
    if args.config is None:
        sources = [Path(path).name for path, part in zip(args.data, sets, strict=True) for _ in part]
    else:
        sources = [_source(s) for s in data]
    findings = check_data(data, cutoff=args.cutoff, species=args.species, potential=potential,
                          sources=sources, walls=args.potential is not None)
    from gafit.checks import DEFAULT_CUTOFF, _interaction_cutoff

    cutoff = args.cutoff or (_interaction_cutoff(potential) if potential is not None else DEFAULT_CUTOFF)
    what = ", ".join(Path(n).name for n in names)
    print(f"checked {len(data)} structures of {what} (cutoff {cutoff:g} Å"
          f"{', potential ' + Path(args.potential).name if args.potential else ''})")
    print(format_findings(findings, data, verbose=args.verbose))
    warnings = sum(f.severity == "warning" for f in findings)
    return 1 if args.strict and warnings else 0


# --------------------------------------------------------------------------- gafit properties

PROPS_HELP = "lattice constant, energy, bulk modulus and elastic constants of a potential"
PROPS_DESCRIPTION = """\
Crystal properties of POTENTIAL for the structure given by --structure, relaxed first (cell and
positions to zero stress and force, space group kept: the same relaxation as `gafit phonons`):

  cubic crystals   a (Å, conventional cell), E (eV/atom, including the potential's E0 offsets: the
                   cohesive energy when E0 = 0), V (Å³/atom), B (GPa, equation of state fitted over
                   ±5 % volume), C11, C12, C44 (GPa, stress-strain at ±0.5 % strain; C44 with the
                   atoms relaxed inside the sheared cell) and C44_unrelaxed (atoms strained
                   homogeneously), B_elastic = (C11 + 2 C12)/3 as a check of B
  other crystals   a b c (Å), angles (deg), E, V, B and the elastic tensor Cij (GPa) on the cell's
                   Cartesian axes

--structure takes a file (POSCAR, extxyz, cif, ...) or a lattice name with an optional lattice constant
(or --lattice-constant) for the potential's species: fcc, bcc, sc, diamond, hcp, rocksalt,
zincblende, cesiumchloride, fluorite, wurtzite (e.g. diamond:5.43, rocksalt:4.2). For a potential of
more species than the lattice has, --elements picks them (SiC.tersoff --elements C --structure diamond).
Reference values (--reference FILE: a JSON, TOML or YAML mapping such as {a = 5.466, B = 88,
C11 = 153}; --dft NAME=VALUE ...) are printed beside with the relative difference. Names: a b c
alpha beta gamma E V B C11 C12 C44 C44_unrelaxed B_elastic Cij.

Stability flags follow the table ('! ...' lines; the exit status stays 0): the Born criteria of the
crystal class (or all eigenvalues of the 6x6 tensor > 0), and B within the Reuss-Voigt bounds of the
tensor (±10 %)."""
PROPS_EXAMPLE = """\
examples:
  gafit properties potentials/Si_Tersoff_1988.tersoff --structure diamond --dft a=5.466 B=88
  gafit properties SiC.tersoff --elements C --structure diamond
  gafit properties runs/cu/potential.json --structure POSCAR --reference cu_dft.toml --out props.json"""


def add_properties_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gafit properties`` on an argparse ``add_subparsers()`` object; returns its parser."""
    p = subparsers.add_parser("properties", help=PROPS_HELP, description=PROPS_DESCRIPTION,
                              epilog=PROPS_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("potential", nargs="?", help=POTENTIAL_HELP + " (optional with --from-frames)")
    p.add_argument("--elements", "--species", metavar='"NAME ..."', help=ELEMENTS_HELP)
    add_structure_arguments(p, required=False)
    p.add_argument("--reference", metavar="REF", help="reference values: .json, .toml or .yaml mapping")
    p.add_argument("--from-frames", metavar="FILE", help="reference values derived from DFT frames: "
                   "cubic C11, C12, C44 from strains of one crystal, or a, E, B from uniform scalings "
                   "(an E-V curve); without POTENTIAL only these are printed")
    p.add_argument("--config-type", metavar="TYPE", help="with --from-frames: only the frames of "
                   "this config_type (e.g. Elastic)")
    p.add_argument("--max-strain", type=float, default=0.045, help="with --from-frames: largest strain "
                   "component of the frames fitted (default 0.045)")
    p.add_argument("--dft", nargs="+", metavar="NAME=VALUE", default=[],
                   help="reference values on the command line, e.g. a=5.466 B=88 C11=153 "
                        "(these override --reference)")
    p.add_argument("--reference-label", metavar="TEXT", help="column title of the reference values")
    p.add_argument("--strain", type=float, default=0.005, help="finite strain of the elastic constants "
                   "(default 0.005 = ±0.5 %%)")
    p.add_argument("--eos-span", type=float, default=0.05, help="volume range of the equation of state "
                   "(default 0.05 = ±5 %%)")
    p.add_argument("--eos", default="birchmurnaghan", help="equation of state (ase.eos names; default "
                   "birchmurnaghan)")
    p.add_argument("--out", metavar="FILE.json", help="write the properties (and references) as JSON")
    p.set_defaults(func=run_properties_command)
    return p


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    return x


def run_properties_command(args: argparse.Namespace) -> int:
    """Handler of ``gafit properties``."""
    from gafit.crystals import structure_from_args
    from gafit.io import strict_json
    from gafit.io.atomic import atomic_write_text
    from gafit.io.paths import output_file, spare_inputs
    from gafit.potential import Potential
    from gafit.properties import (
        compare,
        format_properties,
        load_reference_values,
        parse_reference_flags,
        properties,
    )
    from gafit.stability import property_flags, stability_line

    if not 0 < args.strain < 0.1:
        raise GafitInputError(f"--strain {args.strain}: must be between 0 and 0.1")
    if args.out is not None:
        spare_inputs([output_file(args.out)], [args.potential, args.structure, args.reference,
                                                  args.from_frames])
    if not 0 < args.eos_span < 0.5:
        raise GafitInputError(f"--eos-span {args.eos_span}: must be between 0 and 0.5")
    reference: dict[str, float] = {}
    label = "DFT" if args.dft else "reference"
    if args.reference:
        reference, label = load_reference_values(args.reference)
    if args.from_frames:
        from gafit.frame_reference import derive_from_frames

        derived = derive_from_frames(args.from_frames, args.config_type, args.max_strain)
        print(derived.describe())
        reference.update(derived.values)
        label = "frames"
        if args.potential is None:
            if args.out:
                doc = {"frames": args.from_frames, "config_type": args.config_type,
                       "values": derived.values, "errors": derived.errors,
                       "n_frames": derived.n_frames, "scatter": derived.scatter,
                       "scatter_unit": derived.scatter_unit, "method": derived.method,
                       "notes": derived.notes}
                atomic_write_text(args.out, strict_json.dumps(_jsonable(doc), indent=2,
                                                              ensure_ascii=False) + "\n")
                print(f"wrote {args.out}")
            return 0
    elif args.config_type:
        raise GafitInputError("--config-type goes with --from-frames")
    if args.potential is None:
        raise GafitInputError("POTENTIAL is required (or --from-frames FILE alone)")
    reference.update(parse_reference_flags(args.dft))
    if args.reference_label:
        label = args.reference_label
    potential = Potential.load(args.potential, parse_elements(args.elements))
    atoms = structure_from_args(args, potential.species)
    props = properties(potential, atoms, strain=args.strain, eos_span=args.eos_span, eos=args.eos)
    print(format_properties(props, reference, Path(args.potential).name, label))
    stability = property_flags(props)
    print("\n".join(stability["flags"]) or stability_line(stability))
    if args.out:
        rows = [r.__dict__ for r in compare(props, reference)]
        doc = {"potential": str(args.potential), "structure": args.structure, "properties": props,
               "reference": {"label": label, "values": reference}, "comparison": rows,
               "stability": stability}
        atomic_write_text(args.out, strict_json.dumps(_jsonable(doc), indent=2, ensure_ascii=False)
                          + "\n")
        print(f"wrote {args.out}")
    return 0


MD_HELP = "run the exported LAMMPS files in MD: lost atoms, shortest distance, temperature, NVE drift"
MD_DESCRIPTION = """\
Heat a structure (a frame of a data file, or a crystal) with the potential's exported LAMMPS files
(pair.lmp as 'gafit export' writes it, run with the lammps Python module): velocities drawn at the
temperature with the seed, NVT (Nosé-Hoover) for --time ps, then optionally NVE for --nve-time ps.
Reports lost atoms, the shortest interatomic distance at any step, the temperature reached and the
NVE energy drift. Exit status 1 when the run fails: atoms lost, LAMMPS stopped, two atoms closer than
--collapse-distance (a potential with no repulsive wall collapses), or a non-finite energy."""
MD_EXAMPLE = """\
examples:
  gafit md potentials/SiO2_BKS_1990.json ../shared/data/SiO2_zeolite_SiZEO22/sod_every10th.extxyz \\
      --temperature 2500 --time 10 --seed 1 --supercell 2 2 2
  gafit md runs/cu/potential.json --structure fcc:3.61 --supercell 4 4 4 --temperature 1000 --time 5"""


def add_md_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gafit md`` on an argparse ``add_subparsers()`` object; returns its parser."""
    p = subparsers.add_parser("md", help=MD_HELP, description=MD_DESCRIPTION, epilog=MD_EXAMPLE,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
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
    p.set_defaults(func=run_md_command)
    return p


def run_md_command(args: argparse.Namespace) -> int:
    """Handler of ``gafit md``: exit 0 when the run passed, 1 when it failed."""
    from gafit.crystals import structure_from_args
    from gafit.io import strict_json
    from gafit.io.atomic import atomic_write_text
    from gafit.io.paths import output_file, spare_inputs
    from gafit.md import COLLAPSE_DISTANCE, MDSettings, run_md, structure_frame
    from gafit.potential import Potential

    if args.out is not None:
        spare_inputs([output_file(args.out)], [args.potential, args.structure_file, args.structure])
    potential = Potential.load(args.potential, parse_elements(args.elements))
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
        atomic_write_text(args.out, strict_json.dumps(_jsonable(doc), indent=2, ensure_ascii=False)
                          + "\n")
        print(f"wrote {args.out}")
    return 0 if result.passed else 1
