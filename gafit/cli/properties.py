"""``gafit properties``: crystal properties of a potential, optionally beside DFT values."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gafit.cli._args import ELEMENTS_HELP, POTENTIAL_HELP, command_parser, parse_elements, write_json
from gafit.crystals import add_structure_arguments
from gafit.structures import GafitInputError

HELP = "lattice constant, energy, bulk modulus and elastic constants of a potential"
DESCRIPTION = """\
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
EXAMPLE = """\
examples:
  gafit properties potentials/Si_Tersoff_1988.tersoff --structure diamond --dft a=5.466 B=88
  gafit properties SiC.tersoff --elements C --structure diamond
  gafit properties runs/cu/potential.json --structure POSCAR --reference cu_dft.toml --out props.json
  gafit properties runs/cu/potential.json --structure fcc \\
      --ensemble runs/cu/uncertainty/ensemble_fisher.csv --members 50"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gafit properties`` on an argparse ``add_subparsers()`` object; returns its parser."""
    p = command_parser(subparsers, "properties", HELP, DESCRIPTION, EXAMPLE)
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
    p.add_argument("--ensemble", metavar="FILE", help="an ensemble CSV of gafit uncertainty "
                   "(uncertainty/ensemble_METHOD.csv): the lattice, bulk modulus and elastic "
                   "constants of each member, their mean and std")
    p.add_argument("--members", type=int, default=50, metavar="N",
                   help="with --ensemble: N members spread evenly over the file (default 50)")
    p.add_argument("--out", metavar="FILE.json", help="write the properties (and references) as JSON")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Handler of ``gafit properties``."""
    from gafit.crystals import structure_from_args
    from gafit.io.paths import output_file, spare_inputs
    from gafit.potential_files import load_potential
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
                write_json(args.out, doc)
            return 0
    elif args.config_type:
        raise GafitInputError("--config-type goes with --from-frames")
    if args.potential is None:
        raise GafitInputError("POTENTIAL is required (or --from-frames FILE alone)")
    reference.update(parse_reference_flags(args.dft))
    if args.reference_label:
        label = args.reference_label
    potential = load_potential(args.potential, parse_elements(args.elements))
    atoms = structure_from_args(args, potential.species)
    props = properties(potential, atoms, strain=args.strain, eos_span=args.eos_span, eos=args.eos)
    print(format_properties(props, reference, Path(args.potential).name, label))
    stability = property_flags(props)
    print("\n".join(stability["flags"]) or stability_line(stability))
    spread = None
    if args.ensemble:
        from gafit.uncertainty.propagate import (
            ensemble_members,
            property_spread,
            property_spread_text,
            record_path,
        )

        names, values = ensemble_members(args.ensemble, args.members)
        spread = property_spread(potential, names, values, atoms,
                                 strain=args.strain, eos_span=args.eos_span, eos=args.eos)
        print(property_spread_text(spread, props))
        record = record_path(args.ensemble, "properties")
        if record is not None:
            write_json(record, {"potential": str(args.potential), "structure": args.structure,
                                "ensemble": str(args.ensemble), "members": len(values),
                                "properties": {k: props.get(k) for k in spread},
                                "units": props.get("units", {}), "spread": spread})
    if args.out:
        rows = [r.__dict__ for r in compare(props, reference)]
        doc = {"potential": str(args.potential), "structure": args.structure, "properties": props,
               "reference": {"label": label, "values": reference}, "comparison": rows,
               "stability": stability, "ensemble": spread}
        write_json(args.out, doc)
    return 0
