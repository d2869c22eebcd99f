"""LAMMPS as the reference evaluator (energies eV, forces eV/Å, stress eV/Å³ ASE convention)."""

from gafit.lammps.runner import (
    LammpsError,
    LammpsEvaluator,
    lammps_compute,
    load_lammps,
    potentials_dir,
)

__all__ = ["LammpsError", "LammpsEvaluator", "lammps_compute", "load_lammps", "potentials_dir"]
