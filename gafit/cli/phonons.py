"""``gafit phonons``: phonon dispersion of a potential with phonopy, compared with DFT phonons."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gafit.cli._args import add_potential_arguments, command_parser, parse_elements
from gafit.crystals import add_structure_arguments
from gafit.structures import GafitInputError

HELP = "phonon dispersion of a potential (phonopy), optionally against DFT phonons"
DESCRIPTION = """\
Phonon dispersion of POTENTIAL with phonopy's finite displacements: gafit gives the forces on all
displaced supercells in one batched evaluation, phonopy the force constants and frequencies (THz).
By default the crystal is first relaxed with the potential (cell and positions to zero stress and
force, space group kept: cubic crystals keep their cubic cell, hexagonal ones relax a, c and internal
coordinates; the relaxed cell is printed and recorded); --no-relax uses the structure as given.

--structure takes a file (POSCAR, extxyz, cif, ...: primitive or conventional cell) or a lattice name
(fcc, bcc, sc, diamond, hcp, rocksalt, zincblende, cesiumchloride, fluorite, wurtzite) with an optional
lattice constant (diamond:5.43, or --lattice-constant) for the potential's species (or --species).

Writes in DIR: band.yaml (phonopy), band.csv (segment, from, to, q1..q3, distance in 1/Å without 2π,
f1..fn in THz), phonons.png/.pdf, phonons.json, and with --reference errors.csv: RMS and largest
differences of the sorted frequencies (THz) over the whole path, over the distinct labelled points
('points': every mode at each distinct point once; points equivalent by symmetry, such as U and K of
the fcc zone, are one point) and at each of them.

--path: 'auto' or letters of the standard points, '|' for a break (fcc/diamond: G X W K L U, auto
GXWKGL; bcc: G H N P; simple cubic: G X M R; hexagonal: G M K A L H, auto GMKGALHA|LM|KH). q-points
are reduced in phonopy's primitive reciprocal basis (primitive_matrix 'auto').

--reference: phonopy_disp.yaml or phonopy.yaml with FORCE_SETS (or force constants) beside it, an
older disp.yaml with FORCE_SETS (and POSCAR-unitcell, or --structure) beside it, or a bare FORCE_SETS
computed on --structure and --supercell: its frequencies are computed on the same path; a band.yaml,
qpoints.yaml, mesh.yaml, a YAML list of points (like dft_phonon_frequencies.yaml) or a CSV
(q1,q2,q3,f1..fn THz, like dft_phonon_band.csv): its own q-points are used.

Polar crystals: a potential with Coulomb charges is a rigid-ion model; phonopy's non-analytic correction
(Gonze-Lee, its default) gets Born charges = the charges and --epsilon-inf: a number (default 1, bare
rigid ions), 'born' (the dielectric tensor of the BORN file beside --reference) or 'none' (no NAC: Γ
shows only the TO modes). LO and TO split at Γ, approached along each path segment as phonopy's band
structure does; a phonopy --reference with a BORN file beside it gets its NAC the same way, and
errors.csv names the direction used at Γ. ε∞ is stated in the plot's legend and in phonons.json.

Imaginary modes (below -0.05 THz, Γ's acoustic modes excepted) are flagged in a '! ...' line and
recorded in phonons.json (imaginary_modes).

--gruneisen [STRAIN]: mode Grüneisen parameters along the same path (phonopy's PhonopyGruneisen) from
force constants at V0 and V0(1 ± STRAIN) (default 0.01, cell scaled uniformly): gruneisen.csv, .png/.pdf,
.json and a table. --gruneisen-reference DIR: DFT at three volumes (DIR/orig, DIR/plus, DIR/minus, each a
phonopy data set, as phonopy-gruneisen takes), compared at the same q-points.

--ensemble FILE (an ensemble CSV of gafit uncertainty, RUN_DIR/uncertainty/ensemble_METHOD.csv):
each of --members members (default 50, spread evenly over the file) through the same relaxation and
finite displacements; band_ensemble.csv gets per q-point and band the fitted, mean and std
frequencies (THz; bands sorted at each q-point), the plot shades mean ± σ and ± 2σ, phonons.json
records the spread at the labelled points. An ensemble of a run folder also gets the record
RUN_DIR/uncertainty/phonons_METHOD.json, which gafit report RUN_DIR draws."""

EXAMPLE = """\
example:
  gafit phonons Si.tersoff --structure POSCAR-unitcell --supercell 2 2 2 \\
      --reference phonopy_disp.yaml --out phonons-Si
  gafit phonons Si.tersoff --structure diamond --supercell 2 2 2 --out phonons-Si
  gafit phonons Si.tersoff --structure diamond --supercell 2 2 2 --out gr-Si \\
      --gruneisen-reference ../shared/data/phonopy_Si_PBE/gruneisen
  gafit phonons potentials/MgO_Henkelman_2005.json --epsilon-inf born \\
      --reference ../shared/data/phonopy_MgO/phonopy_disp.yaml --out phonons-MgO
  gafit phonons runs/cu/potential.json --structure fcc --supercell 3 3 3 \\
      --ensemble runs/cu/uncertainty/ensemble_fisher.csv --members 50 --out phonons-Cu"""


#: the files ``gafit phonons`` may write into its --out folder
OUTPUT_FILES = ("band.yaml", "band.csv", "band_ensemble.csv", "phonons.png", "phonons.pdf",
                "phonons.json", "errors.csv",
                "gruneisen.csv", "gruneisen.png", "gruneisen.pdf", "gruneisen.json")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gafit phonons`` on an argparse ``add_subparsers()`` object; returns its parser."""
    p = command_parser(subparsers, "phonons", HELP, DESCRIPTION, EXAMPLE)
    add_potential_arguments(p)
    add_structure_arguments(p, required=False, default="the unit cell of a phonopy --reference")
    p.add_argument("--supercell", nargs="+", metavar="N",
                   help="supercell multiples of the unit cell, e.g. 2 2 2; default: the supercell of a "
                        "phonopy --reference (in multiples of --structure's cell)")
    p.add_argument("--path", default="auto", help="band path: 'auto' or letters such as GXUKGL")
    p.add_argument("--reference", metavar="REF", help="DFT phonons: phonopy data set, band.yaml or CSV")
    p.add_argument("--reference-label", default="DFT", metavar="TEXT",
                   help="legend entry of the reference bands (default: DFT)")
    p.add_argument("--relax", action=argparse.BooleanOptionalAction, default=True,
                   help="relax cell and positions with the potential first (default: yes)")
    p.add_argument("--npoints", type=int, default=51, help="q-points per path segment (default 51)")
    p.add_argument("--displacement", type=float, default=0.01,
                   help="finite displacement, Å (default 0.01)")
    p.add_argument("--epsilon-inf", metavar="EPS|born|none",
                   help="ε∞ of a potential with Coulomb charges for the LO-TO splitting: a number "
                        "(default 1, rigid ions), 'born' (BORN file beside --reference) or 'none'")
    p.add_argument("--gruneisen", type=float, nargs="?", const=0.01, metavar="STRAIN",
                   help="also mode Grüneisen parameters (phonopy) from volumes V0(1 ± STRAIN) "
                        "(default strain 0.01): gruneisen.csv/.png/.pdf/.json")
    p.add_argument("--gruneisen-reference", metavar="DIR",
                   help="DFT at three volumes: a folder with orig/, plus/, minus/ phonopy data sets "
                        "(phonopy-gruneisen's layout); implies --gruneisen")
    p.add_argument("--ensemble", metavar="FILE", help="an ensemble CSV of gafit uncertainty "
                   "(uncertainty/ensemble_METHOD.csv): the dispersion's mean and ±1σ/2σ band over "
                   "its members (band_ensemble.csv, shaded on the plot)")
    p.add_argument("--members", type=int, default=50, metavar="N",
                   help="with --ensemble: N members spread evenly over the file (default 50)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.set_defaults(func=run)
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


def run(args: argparse.Namespace) -> int:
    """Handler of ``gafit phonons``."""
    from gafit.crystals import structure_from_args
    from gafit.io.paths import output_folder, spare_inputs
    from gafit.nac import parse_epsilon
    from gafit.phonons import cell_text, load_reference, phonon_report, reference_cells
    from gafit.potential_files import load_potential

    epsilon_inf = parse_epsilon("1" if args.epsilon_inf is None else args.epsilon_inf, "--epsilon-inf")
    if args.npoints < 2:
        raise GafitInputError(f"--npoints {args.npoints}: need at least 2 q-points per segment")
    if not args.displacement > 0:
        raise GafitInputError(f"--displacement {args.displacement}: must be a positive length (Å)")
    strain = args.gruneisen if args.gruneisen is not None else (
        0.01 if args.gruneisen_reference is not None else None)
    if strain is not None:
        from gafit.gruneisen import check_strain
        check_strain(strain)
    out = output_folder(args.out)
    spare_inputs([out / name for name in OUTPUT_FILES],
                 [args.potential, args.structure, args.reference,
                  args.gruneisen_reference, args.ensemble])
    supercell: Any = parse_supercell(args.supercell) if args.supercell is not None else None
    potential = load_potential(args.potential, parse_elements(args.elements))
    members = None
    if args.ensemble is not None:  # a bad file or --members is told before any work
        from gafit.uncertainty.propagate import ensemble_members, member_thetas

        members = ensemble_members(args.ensemble, args.members)
        member_thetas(potential, *members)
    if args.structure is not None or args.lattice_constant is not None:
        structure = structure_from_args(args, potential.species)
    reference = None
    if args.reference is not None:
        ref_path = Path(args.reference)
        if not ref_path.exists():
            raise GafitInputError(f"--reference {ref_path}: no such file")
        # a bare FORCE_SETS (or an old disp.yaml) was computed on --structure and --supercell
        reference = load_reference(ref_path, structure if args.structure is not None else None,
                                   supercell)
    structure, supercell = reference_cells(reference, structure if args.structure is not None else None,
                                           supercell)
    if structure is None:
        raise GafitInputError("--structure is required unless --reference is a phonopy data set")
    if supercell is None:
        raise GafitInputError("--supercell is required unless --reference is a phonopy data set")
    volumes = None
    if args.gruneisen_reference is not None:  # a bad one is told before any work
        from gafit.gruneisen import load_reference_volumes
        volumes = load_reference_volumes(args.gruneisen_reference)
    if reference is not None and reference.phonopy is None and args.path.strip().lower() != "auto":
        print(f"note: --path ignored: the reference {reference.source.name} fixes the q-points")

    if volumes is not None and sorted(set(volumes[0].symbols or [])) != sorted(set(structure.symbols)):
        raise GafitInputError(f"--gruneisen-reference {args.gruneisen_reference}: its crystal holds "
                              f"{' '.join(sorted(set(volumes[0].symbols or [])))}, the structure "
                              f"{' '.join(sorted(set(structure.symbols)))}: not the same crystal")
    name = _short_name(Path(args.potential))
    res = phonon_report(potential, structure, supercell, out if members is None else None,
                        path=args.path, reference=reference, relax=args.relax,
                        npoints=args.npoints, displacement=args.displacement, name=name,
                        reference_name=args.reference_label, epsilon_inf=epsilon_inf)
    if members is not None:
        from gafit.phonons.report import write_outputs
        from gafit.uncertainty.bands import band_spread

        res.ensemble = band_spread(potential, *members, res, supercell, relax=args.relax,
                                   displacement=args.displacement)
        res.ensemble_source = str(args.ensemble)
        write_outputs(res, out, name, args.reference_label)
    ph = res.phonopy
    print(f"{structure.get_chemical_formula(empirical=True)}: {len(ph.primitive)} atoms in the primitive "
          f"cell, {len(ph.supercell)}-atom supercell, {len(ph.supercells_with_displacements)} "
          f"displacement(s) of {args.displacement} Å")
    how = "relaxed (zero stress and force)" if res.relaxed else "as given"
    print(f"cell {cell_text(res.structure, res.lattice_constant, 5)}, {how}")
    if res.residual_force > 1e-3:
        print(f"warning: forces up to {res.residual_force:.3g} eV/Å on the unit cell: it is not at "
              "equilibrium for this potential (drop --no-relax to relax it)")
    if args.epsilon_inf is not None and not res.nac:
        print("note: --epsilon-inf ignored: the potential has no Coulomb charges (no LO-TO splitting)")
    if res.nac:
        print(f"LO-TO (non-analytic correction): Born charges = the potential's charges, "
              f"{res.model_nac_text or 'none (--epsilon-inf none)'}")
    shown: set[str] = set()
    for k, lab in enumerate(res.band.labels):
        if lab and lab not in shown:
            shown.add(lab)
            print(f"  {lab:4s} " + " ".join(f"{f:8.3f}" for f in res.band.frequencies[k]) + "  THz")
    print("\n".join(res.imaginary.flags) or "no imaginary modes on the path (Γ acoustic modes "
          f"excepted; tolerance {res.imaginary.tolerance:g} THz)")
    if res.errors is not None:
        print(f"errors gafit - {Path(args.reference).name} (sorted frequencies at the same q-points):")
        print(res.errors.text())
    files = list(res.files)
    if res.ensemble is not None:
        print(res.ensemble.text())
        files += _record_band(res, args.ensemble, name)
    if strain is not None:
        files += _gruneisen_part(potential, res, supercell, strain, volumes, args)
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


def _record_band(res: Any, ensemble: str, name: str) -> list[Path]:
    """The ensemble band recorded for the run folder's report (gafit report), when the ensemble
    is one of a run folder; returns the file written (or none)."""
    from gafit.cli._args import write_json
    from gafit.phonons import cell_text
    from gafit.uncertainty.propagate import record_path

    record = record_path(ensemble, "phonons")
    if record is None:
        return []
    title = (f"{res.structure.get_chemical_formula(empirical=True)}: {name}, "
             f"{'relaxed ' if res.relaxed else ''}{cell_text(res.structure, res.lattice_constant)}")
    write_json(record, {"title": title, "ensemble": str(ensemble), **res.ensemble.to_dict()})
    return [record]


def _gruneisen_part(potential: Any, res: Any, supercell: Any, strain: float, volumes: Any,
                    args: argparse.Namespace) -> list[Path]:
    """``--gruneisen``: γ along the same path (and the DFT's with --gruneisen-reference); prints the
    table and writes gruneisen.*; returns the files written."""
    from gafit.gruneisen import gruneisen, write_gruneisen
    from gafit.phonons import cell_text

    g = gruneisen(potential, res.phonopy, res.structure, res.band, supercell, strain,
                  args.displacement, volumes)
    print(f"mode Grüneisen parameters (phonopy), volumes V0(1 ± {strain:g})"
          + (f"; {args.reference_label}: {g.reference} (V0(1 ± {g.reference_strain:.4g}))"
             if g.reference is not None else "") + ":")
    print(g.text(args.reference_label))
    name = _short_name(Path(args.potential))
    title = (f"{res.structure.get_chemical_formula(empirical=True)}: {name}, "
             f"{cell_text(res.structure, res.lattice_constant)}, V0(1 ± {strain:g})")
    err = g.errors()
    if err is not None:
        title += f"; RMS γ vs {args.reference_label} {err[0]:.3f}"
    return write_gruneisen(g, Path(args.out), title, name, args.reference_label)
