"""``gafit phonons``: phonon dispersion of a potential with phonopy, compared with DFT phonons."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gafit.cli_common import add_potential_arguments, parse_elements
from gafit.structures import GafitInputError

HELP = "phonon dispersion of a potential (phonopy), optionally against DFT phonons"
DESCRIPTION = """\
Phonon dispersion of POTENTIAL with phonopy's finite displacements: gafit gives the forces on all
displaced supercells in one batched evaluation, phonopy the force constants and frequencies (THz).
By default a cubic structure is first scaled to the potential's own energy minimum (its relaxed
lattice constant is printed and recorded); --no-relax uses the structure as given.

Writes in DIR: band.yaml (phonopy), band.csv (segment, from, to, q1..q3, distance in 1/Å without 2π,
f1..fn in THz), phonons.png/.pdf, phonons.json, and with --reference errors.csv: RMS and largest
differences of the sorted frequencies (THz) over the whole path and at each high-symmetry point.

--path: 'auto' or letters of the standard points, '|' for a break (fcc/diamond: G X W K L U, auto
GXU|KGL; bcc: G H N P; simple cubic: G X M R; hexagonal: G M K A L H). q-points are reduced in
phonopy's primitive reciprocal basis (primitive_matrix 'auto').

--reference: phonopy_disp.yaml or phonopy.yaml with FORCE_SETS (or force constants) beside it, an
older disp.yaml with FORCE_SETS (and POSCAR-unitcell, or --structure) beside it, or a bare FORCE_SETS
computed on --structure and --supercell: its frequencies are computed on the same path; a band.yaml,
qpoints.yaml, mesh.yaml, a YAML list of points (like dft_phonon_frequencies.yaml) or a CSV
(q1,q2,q3,f1..fn THz, like dft_phonon_band.csv): its own q-points are used."""

EXAMPLE = """\
example:
  gafit phonons Si.tersoff --structure POSCAR-unitcell --supercell 2 2 2 \\
      --reference phonopy_disp.yaml --out phonons-Si"""


#: the files ``gafit phonons`` may write into its --out folder
OUTPUT_FILES = ("band.yaml", "band.csv", "phonons.png", "phonons.pdf", "phonons.json", "errors.csv")


def add_phonons_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gafit phonons`` on an argparse ``add_subparsers()`` object; returns its parser."""
    p = subparsers.add_parser("phonons", help=HELP, description=DESCRIPTION, epilog=EXAMPLE,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_potential_arguments(p)
    p.add_argument("--structure", metavar="FILE",
                   help="unit cell (POSCAR, extxyz, cif, ...: primitive or conventional); default: "
                        "the unit cell of a phonopy --reference")
    p.add_argument("--supercell", nargs="+", metavar="N",
                   help="supercell multiples of the unit cell, e.g. 2 2 2; default: the supercell of a "
                        "phonopy --reference")
    p.add_argument("--path", default="auto", help="band path: 'auto' or letters such as GXUKGL")
    p.add_argument("--reference", metavar="REF", help="DFT phonons: phonopy data set, band.yaml or CSV")
    p.add_argument("--reference-label", default="DFT", metavar="TEXT",
                   help="legend entry of the reference bands (default: DFT)")
    p.add_argument("--relax", action=argparse.BooleanOptionalAction, default=True,
                   help="scale a cubic cell to the potential's energy minimum first (default: yes)")
    p.add_argument("--npoints", type=int, default=51, help="q-points per path segment (default 51)")
    p.add_argument("--displacement", type=float, default=0.01,
                   help="finite displacement, Å (default 0.01)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.set_defaults(func=run_phonons_command)
    return p


def parse_supercell(values: list[str] | None) -> list[int]:
    """Three positive integers from ``--supercell``; GafitInputError otherwise."""
    text = " ".join(values or [])
    try:
        n = [int(v) for v in text.replace(",", " ").replace("x", " ").split()]
    except ValueError:
        n = []
    if len(n) != 3 or min(n) < 1:
        raise GafitInputError(f"--supercell '{text}': expected 3 positive integers, e.g. --supercell 2 2 2")
    return n


def _short_name(path: Path) -> str:
    """The potential's name for titles: its file name, with the folder for generic names."""
    generic = path.name in ("potential.json", "pair.lmp") and path.parent.name
    return f"{path.parent.name}/{path.name}" if generic else path.name


def run_phonons_command(args: argparse.Namespace) -> int:
    """Handler of ``gafit phonons``."""
    from gafit.io.paths import output_folder, spare_inputs
    from gafit.phonons import load_reference, phonon_report, read_structure, to_ase_atoms
    from gafit.potential import Potential

    if args.npoints < 2:
        raise GafitInputError(f"--npoints {args.npoints}: need at least 2 q-points per segment")
    if not args.displacement > 0:
        raise GafitInputError(f"--displacement {args.displacement}: must be a positive length (Å)")
    out = output_folder(args.out)
    spare_inputs([out / name for name in OUTPUT_FILES],
                 [args.potential, args.structure, args.reference])
    supercell: Any = parse_supercell(args.supercell) if args.supercell is not None else None
    if args.structure is not None:
        structure = read_structure(args.structure)
    reference = None
    if args.reference is not None:
        ref_path = Path(args.reference)
        if not ref_path.exists():
            raise GafitInputError(f"--reference {ref_path}: no such file")
        # a bare FORCE_SETS (or an old disp.yaml) was computed on --structure and --supercell
        reference = load_reference(ref_path, structure if args.structure is not None else None,
                                   supercell)
    if args.structure is None:
        if reference is None or reference.phonopy is None:
            raise GafitInputError("--structure is required unless --reference is a phonopy data set")
        structure = to_ase_atoms(reference.phonopy.unitcell)
    if supercell is None:
        if reference is None or reference.phonopy is None:
            raise GafitInputError("--supercell is required unless --reference is a phonopy data set")
        supercell = reference.phonopy.supercell_matrix
    potential = Potential.load(args.potential, parse_elements(args.elements))
    if reference is not None and reference.phonopy is None and args.path.strip().lower() != "auto":
        print(f"note: --path ignored: the reference {reference.source.name} fixes the q-points")

    res = phonon_report(potential, structure, supercell, out, path=args.path, reference=reference,
                        relax=args.relax, npoints=args.npoints, displacement=args.displacement,
                        name=_short_name(Path(args.potential)), reference_name=args.reference_label)
    ph = res.phonopy
    print(f"{structure.get_chemical_formula(empirical=True)}: {len(ph.primitive)} atoms in the primitive "
          f"cell, {len(ph.supercell)}-atom supercell, {len(ph.supercells_with_displacements)} "
          f"displacement(s) of {args.displacement} Å")
    if res.lattice_constant is not None:
        how = "relaxed (gafit energy minimum)" if res.relaxed else "as given"
        print(f"lattice constant a = {res.lattice_constant:.5f} Å, {how}")
    if res.residual_force > 1e-3:
        print(f"warning: forces up to {res.residual_force:.3g} eV/Å on the unit cell: it is not at "
              "equilibrium for this potential (only the cubic lattice constant is relaxed)")
    shown: set[str] = set()
    for k, lab in enumerate(res.band.labels):
        if lab and lab not in shown:
            shown.add(lab)
            print(f"  {lab:4s} " + " ".join(f"{f:8.3f}" for f in res.band.frequencies[k]) + "  THz")
    if res.errors is not None:
        print(f"errors gafit - {Path(args.reference).name} (sorted frequencies at the same q-points):")
        print(res.errors.text())
    print("wrote " + ", ".join(str(f) for f in res.files))
    return 0
