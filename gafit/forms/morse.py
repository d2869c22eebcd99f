"""Morse pair potential, LAMMPS ``pair_style morse`` (hard cutoff, no shift)."""

from __future__ import annotations

import numpy as np

from gafit.forms import vec_math
from gafit.forms.base import ParamSpec
from gafit.forms.pair import PairForm


class Morse(PairForm):
    """E = D0 [exp(-2 alpha (r - r0)) - 2 exp(-alpha (r - r0))] for r < cutoff."""

    name = "morse"
    lammps_style = "morse"
    params = (
        ParamSpec("D0", "eV", (0.01, 2.0), 0.3, "well depth", lower_limit=0.0),
        ParamSpec("alpha", "1/Å", (0.5, 3.0), 1.4, "stiffness", lower_limit=0.0),
        ParamSpec("r0", "Å", (1.5, 4.0), 2.8, "equilibrium distance", lower_limit=0.0),
    )

    @staticmethod
    def pair_energy(
        r_p: np.ndarray, d0: np.ndarray, alpha: np.ndarray, r0: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        # plain expressions: this also runs on scalars inside the fused numba kernel
        x = vec_math.exp(alpha * (r0 - r_p))
        return d0 * x * (x - 2.0), 2.0 * alpha * d0 * x * (1.0 - x)

    @staticmethod
    def pair_parameter_derivatives(
        r_p: np.ndarray, d0: float, alpha: float, r0: float
    ) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
        """d/d(D0, alpha, r0) of the pair energy (eV per eV, 1/Å, Å) and of dE/dr (tuples: the
        fused Jacobian kernel runs this on scalars)."""
        x = vec_math.exp(alpha * (r0 - r_p))
        dx_dalpha, dx_dr0 = (r0 - r_p) * x, alpha * x
        de_dx = 2.0 * d0 * (x - 1.0)  # d(energy)/dx
        dg_dx = 2.0 * alpha * d0 * (1.0 - 2.0 * x)  # d(dE/dr)/dx at fixed alpha
        return (
            (x * (x - 2.0), de_dx * dx_dalpha, de_dx * dx_dr0),
            (2.0 * alpha * x * (1.0 - x), 2.0 * d0 * x * (1.0 - x) + dg_dx * dx_dalpha,
             dg_dx * dx_dr0),
        )
