"""``gafit check``: sanity checks of reference data."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gafit.cli._args import command_parser
from gafit.structures import GafitInputError

HELP = "sanity checks of reference data (zero forces, duplicates, energy scales, stress units, ...)"
DESCRIPTION = """\
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
EXAMPLE = """\
examples:
  gafit check data/Cu_EMT.extxyz
  gafit check Si_training.extxyz Si_gpuga_train.extxyz --cutoff 3.2
  gafit check --config examples/cu_morse.toml --verbose"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gafit check`` on an argparse ``add_subparsers()`` object; returns its parser."""
    p = command_parser(subparsers, "check", HELP, DESCRIPTION, EXAMPLE)
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
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Handler of ``gafit check``: exit 1 with --strict when there are warnings, else 0."""
    from gafit.checks import check_cutoff, check_data, format_findings
    from gafit.fit_data import read_check_input
    from gafit.potential_files import load_potential

    if args.cutoff is not None and not args.cutoff > 0:
        raise GafitInputError(f"--cutoff {args.cutoff}: must be a positive length (Å)")
    if bool(args.data) == (args.config is not None):
        raise GafitInputError("check: give DATA files or --config CONFIG (not both)")
    potential = load_potential(args.potential) if args.potential else None
    checked = read_check_input(args.data, args.config, args.index, potential)
    findings = check_data(checked.data, cutoff=args.cutoff, species=args.species,
                          potential=checked.potential, sources=checked.sources,
                          walls=args.potential is not None)
    cutoff = check_cutoff(args.cutoff, checked.potential)
    what = ", ".join(Path(n).name for n in checked.names)
    print(f"checked {len(checked.data)} structures of {what} (cutoff {cutoff:g} Å"
          f"{', potential ' + Path(args.potential).name if args.potential else ''})")
    print(format_findings(findings, checked.data, verbose=args.verbose))
    warnings = sum(f.severity == "warning" for f in findings)
    return 1 if args.strict and warnings else 0
