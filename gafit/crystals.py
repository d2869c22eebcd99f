"""Crystals for property and phonon commands: one parser (a structure file or a lattice name) and one
relaxation (cell and positions to zero stress and force, keeping the space group).

Units: lengths Å, energies eV, forces eV/Å, stress eV/Å³ in the ASE convention (positive = tensile);
the stress tolerance of :func:`relax` is given in GPa.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError
from ase.units import GPa

from gafit.calculator import GafitCalculator
from gafit.potential import Potential
from gafit.structures import GafitInputError, scaled_cell

__all__ = ["LATTICES", "Relaxed", "add_structure_arguments", "cell_parameters", "read_crystal",
           "read_structure", "relax", "structure_from_args"]

#: lattice names accepted instead of a structure file (ase.build.bulk's crystal structures)
LATTICES = ("fcc", "bcc", "sc", "diamond", "hcp", "rocksalt", "zincblende", "cesiumchloride", "fluorite",
            "wurtzite")
#: largest force on any atom of a relaxed crystal, eV/Å
FMAX = 1e-5
#: largest stress component of a relaxed crystal, GPa
SMAX = 1e-6
#: optimizer steps before a relaxation counts as not converging
STEPS = 1000
#: spglib tolerance (Å) of the symmetry a relaxation keeps
SYMPREC = 1e-3
#: a relaxation that changes the cell's volume by more than this factor (either way) has run away
MAX_VOLUME_CHANGE = 8.0


# --------------------------------------------------------------------------- structures


def read_crystal(text: str, species: Sequence[str] | None = None, a: float | None = None,
                 where: str = "--structure") -> Atoms:
    """A periodic crystal from a structure file (POSCAR, extxyz, cif, ...: its last frame) or a lattice
    name of :data:`LATTICES` with an optional ``:A`` suffix (lattice constant, Å), built by
    ``ase.build.bulk`` for ``species`` (in order, e.g. ["Zn", "O"] for wurtzite ZnO, ["Ca", "F"] for
    fluorite CaF2; ``a`` in Å
    overrides ASE's tabulated value). Hexagonal lattices start at the ideal c/a."""
    path = Path(text)
    if path.is_file():
        if a is not None:
            raise GafitInputError(f"{where} {path}: a lattice constant goes with a lattice name, "
                                  "not with a structure file")
        return read_structure(path, where)
    name, _, a_text = text.partition(":")
    if name.lower() not in LATTICES:
        raise GafitInputError(f"{where} {text}: no such file, and not a lattice name "
                              f"({', '.join(LATTICES)}) with an optional ':A' (Å)")
    if a_text:
        try:
            a_suffix = float(a_text)
        except ValueError:
            raise GafitInputError(f"{where} {text}: '{a_text}' is not a lattice constant (Å)") from None
        if a is not None and a != a_suffix:
            raise GafitInputError(f"{where} {text}: two lattice constants ({a_suffix} and {a} Å)")
        a = a_suffix
    if a is not None and not a > 0:
        raise GafitInputError(f"{where} {text}: the lattice constant must be a positive length (Å)")
    if not species:
        raise GafitInputError(f"{where} {text}: a lattice name needs the species")
    from ase.build import bulk

    symbols = list(species)
    if name.lower() == "fluorite" and len(symbols) == 2:  # CaF2: ASE names all three atoms
        symbols.append(symbols[1])
    try:
        return bulk("".join(symbols), name.lower(), a=a)
    except Exception as err:  # ASE: missing lattice constant, wrong number of species, ...
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise GafitInputError(f"{where} {text}: cannot build it for species {list(species)} ({msg}); "
                              f"give the lattice constant, e.g. {name}:4.0, pick the species the "
                              "lattice needs with --elements, or give a structure file") from None


def read_structure(path: str | Path, where: str = "--structure") -> Atoms:
    """A crystal (periodic in 3 directions) from any file ASE reads (POSCAR, geometry.in, cif, ...);
    the last frame of a trajectory. ``where`` names the option or key in errors."""
    import ase.io

    path = Path(path)
    if not path.is_file():
        raise GafitInputError(f"{where} {path}: no such file")
    try:
        atoms = ase.io.read(path)
    except Exception as err:  # ASE raises many kinds
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise GafitInputError(f"{where} {path}: cannot read it ({msg})") from None
    if isinstance(atoms, list):
        atoms = atoms[-1]
    if not all(atoms.pbc) or atoms.cell.rank != 3:
        raise GafitInputError(f"{where} {path}: a crystal needs a cell periodic in 3 directions")
    return atoms


def add_structure_arguments(parser: argparse.ArgumentParser, required: bool, default: str = "") -> None:
    """``--structure`` and ``--lattice-constant`` of the crystal commands (a lattice name takes the
    potential's species, in order: ``--elements`` picks and orders them)."""
    parser.add_argument("--structure", required=required, metavar="FILE|LATTICE[:A]",
                        help="crystal structure file (POSCAR, extxyz, cif, ...), or a lattice name ("
                             f"{', '.join(LATTICES)}) with an optional lattice constant in Å, e.g. "
                             f"diamond:5.43{'; default: ' + default if default else ''}")
    parser.add_argument("--lattice-constant", type=float, metavar="Å",
                        help="lattice constant a of a lattice name, Å (default: ASE's value)")


def structure_from_args(args: argparse.Namespace, species: Sequence[str]) -> Atoms:
    """The crystal of ``--structure`` (a lattice name for ``species``, the potential's after any
    ``--elements`` map, with ``--lattice-constant``)."""
    if args.structure is None:
        if args.lattice_constant is not None:
            raise GafitInputError("--lattice-constant goes with a lattice name as --structure")
        raise GafitInputError("--structure is required")
    return read_crystal(args.structure, species, args.lattice_constant)


# --------------------------------------------------------------------------- relaxation


@dataclass
class Relaxed:
    """A relaxed crystal: its atoms (cell and positions), energy eV (per cell, with E0), largest
    force eV/Å and stress component eV/Å³ left, optimizer steps, and space group kept."""

    atoms: Atoms
    energy: float
    max_force: float
    max_stress: float
    steps: int
    spacegroup: str


def _calculator(model: Potential | Calculator) -> Calculator:
    return GafitCalculator(model) if isinstance(model, Potential) else model


def _spacegroup(atoms: Atoms, symprec: float) -> str:
    import spglib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ds = spglib.get_symmetry_dataset(
            (np.array(atoms.cell), atoms.get_scaled_positions(), atoms.numbers), symprec=symprec)
    return "P1 (1)" if ds is None else f"{ds.international} ({ds.number})"


def _state(atoms: Atoms) -> tuple[float, float, float]:
    """Energy eV, largest |force| eV/Å, largest |stress| eV/Å³ (NaN where not finite)."""
    e = float(atoms.get_potential_energy())
    f = np.asarray(atoms.get_forces())
    try:
        s = np.asarray(atoms.get_stress(voigt=True))
    except PropertyNotImplementedError:  # GafitCalculator leaves out a stress that is not finite
        s = np.full(6, np.nan)
    fmax = float(np.sqrt((f**2).sum(axis=1)).max()) if len(f) else 0.0
    return e, fmax, float(np.abs(s).max())


def _flat(atoms: Atoms, energy: float) -> bool:
    """Whether the energy is unchanged (to 1e-12 relative) by a 2 % expansion: no interaction left."""
    big = scaled_cell(atoms, 1.02)
    big.calc = atoms.calc
    return abs(float(big.get_potential_energy()) - energy) <= 1e-12 * max(1.0, abs(energy))


def relax(model: Potential | Calculator, atoms: Atoms, fmax: float = FMAX, smax: float = SMAX,
          steps: int = STEPS, symprec: float | None = SYMPREC) -> Relaxed:
    """Relax cell and positions of a crystal together to zero stress and force.

    ASE's BFGS on a FrechetCellFilter, with the space group spglib finds (``symprec`` Å) kept by
    FixSymmetry (``symprec=None``: no symmetry constraint), until every force is below ``fmax`` eV/Å
    and every stress component below ``smax`` GPa. Any crystal: cubic ones keep their cubic cell,
    hexagonal ones relax a and c (c/a) and free internal coordinates (wurtzite's u). ``model`` is a
    gafit Potential or any ASE calculator. GafitInputError if the energy is not finite, the cell runs
    away (volume x/÷ MAX_VOLUME_CHANGE), or it does not converge within ``steps``.
    """
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    if not all(atoms.pbc) or atoms.cell.rank != 3:
        raise GafitInputError("relaxation: a crystal needs a cell periodic in 3 directions")
    if not (fmax > 0 and smax > 0 and steps >= 0):
        raise GafitInputError(f"relaxation: need fmax > 0, smax > 0 and steps >= 0 "
                              f"(got {fmax}, {smax}, {steps})")
    out = atoms.copy()
    out.constraints = []
    formula = out.get_chemical_formula(empirical=True)
    spacegroup = _spacegroup(out, symprec or 1e-5)
    if symprec is not None:
        from ase.spacegroup.symmetrize import refine_symmetry

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            refine_symmetry(out, symprec=symprec)  # exact symmetry, so that phonopy finds it too
            out.set_constraint(FixSymmetry(out, symprec=symprec))
    out.calc = _calculator(model)
    volume0 = out.get_volume()
    smax_ev = smax * GPa
    e, f_left, s_left = _state(out)
    if not np.isfinite([e, f_left, s_left]).all():
        raise GafitInputError(f"relaxation of {formula} ({spacegroup}): the potential's energy, forces "
                              "or stress are not finite at the given structure")
    done = 0
    if f_left > fmax or s_left > smax_ev:
        # the filter's cell "forces" are the virial per atom, stress x volume per atom (with a margin
        # for the volume shrinking on the way)
        f_opt = min(fmax, 0.5 * smax_ev * volume0 / len(out))
        opt = BFGS(FrechetCellFilter(out), logfile=None)
        try:
            with np.errstate(all="ignore"):
                opt.run(fmax=f_opt, steps=steps)
            e, f_left, s_left = _state(out)
        except (PropertyNotImplementedError, np.linalg.LinAlgError, ValueError):  # not finite on the way
            e = f_left = s_left = float("nan")
        done = int(opt.nsteps)
    ratio = out.get_volume() / volume0
    if not np.isfinite([e, f_left, s_left, ratio]).all() or not (
            1 / MAX_VOLUME_CHANGE < ratio < MAX_VOLUME_CHANGE):
        raise GafitInputError(
            f"relaxation of {formula} ({spacegroup}) ran away (volume x{ratio:.3g} after {done} steps): "
            "the potential has no minimum near this structure; check the potential or the structure")
    if s_left == 0.0 and f_left == 0.0 and _flat(out, e):
        raise GafitInputError(
            f"relaxation of {formula} ({spacegroup}) ran away: after {done} steps (volume "
            f"x{ratio:.3g}) the atoms no longer interact (no neighbour within the potential's cutoff); "
            "the potential has no minimum near this structure; check the potential or the structure")
    if f_left > fmax or s_left > smax_ev:
        raise GafitInputError(
            f"relaxation of {formula} ({spacegroup}) did not converge in {done} steps: forces up to "
            f"{f_left:.3g} eV/Å (tolerance {fmax:g}), stress up to {s_left / GPa:.3g} GPa (tolerance "
            f"{smax:g}); check the potential or the structure")
    out.calc = None
    out.constraints = []
    return Relaxed(out, e, f_left, s_left, done, _spacegroup(out, symprec or 1e-5))


def cell_parameters(atoms: Atoms) -> dict[str, float]:
    """a, b, c (Å) and alpha, beta, gamma (deg) of the cell."""
    return dict(zip(("a", "b", "c", "alpha", "beta", "gamma"), map(float, atoms.cell.cellpar()),
                    strict=True))
