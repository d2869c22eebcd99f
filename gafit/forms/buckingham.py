"""Buckingham pair potential, LAMMPS ``pair_style buck`` (hard cutoff, no shift)."""

from __future__ import annotations

import numpy as np

from gafit.forms import vec_math
from gafit.forms.base import ParamSpec
from gafit.forms.pair import PairForm


class Buckingham(PairForm):
    """E = A exp(-r / rho) - C / r^6 for r < cutoff."""

    name = "buckingham"
    lammps_style = "buck"
    params = (
        ParamSpec("A", "eV", (10.0, 1e5), 1000.0, "repulsion prefactor", log=True, lower_limit=0.0),
        ParamSpec("rho", "Å", (0.1, 0.6), 0.3, "repulsion range", lower_limit=1e-6),
        ParamSpec("C", "eV Å^6", (0.0, 200.0), 10.0, "dispersion", lower_limit=0.0),
    )

    @staticmethod
    def pair_energy(
        r_p: np.ndarray, a: np.ndarray, rho: np.ndarray, c: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        # one division per pair (1 / rho is the same for every pair of a kernel's loop, which the
        # compiler hoists): divisions are what a vectorised kernel waits for
        inv_rho = 1.0 / rho
        inv_r = 1.0 / r_p
        rep = a * vec_math.exp(-r_p * inv_rho)
        inv2 = inv_r * inv_r
        inv6 = inv2 * inv2 * inv2  # as LAMMPS; a power r**-6 is a libm pow per pair in the kernel
        e = rep - c * inv6
        dedr = 6.0 * c * inv6 * inv_r - rep * inv_rho
        return e, dedr

    @staticmethod
    def pair_parameter_derivatives(
        r_p: np.ndarray, a: float, rho: float, c: float
    ) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
        """d/d(A, rho, C) of the pair energy and of dE/dr (tuples: the fused Jacobian kernel
        runs this on scalars)."""
        # as pair_energy: one division per pair, and no pow (a libm call per pair in the kernel)
        inv_rho = 1.0 / rho
        x = r_p * inv_rho
        ex = vec_math.exp(-x)
        rep = a * ex
        inv_r = 1.0 / r_p
        inv2 = inv_r * inv_r
        inv6 = inv2 * inv2 * inv2
        return (
            (ex, rep * x * inv_rho, -inv6),
            (-ex * inv_rho, rep * inv_rho * inv_rho * (1.0 - x), 6.0 * inv6 * inv_r),
        )
