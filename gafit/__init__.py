"""gafit: fit classical interatomic potentials to DFT data and export them to LAMMPS."""

import os as _os

# gafit runs in parallel over processes (``workers``); BLAS threads on top only contend with them and
# with anything else on the machine: the least squares' SVD of a 33,000 x 12 Jacobian took 0.23 s
# with 2 OpenBLAS threads on a busy 2-core machine and 0.016 s with one. Set before numpy loads
# (the command line); ``run_fit`` also caps them at run time, for scripts that imported numpy first.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")

__version__ = "0.1.0"
