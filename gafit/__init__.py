"""gafit: fit classical interatomic potentials to DFT data and export them to LAMMPS."""

__version__ = "0.1.0"
