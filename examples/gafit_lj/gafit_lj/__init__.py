"""A 9-6 Lennard-Jones pair potential for gafit, LAMMPS ``pair_style lj96/cut`` (hard cutoff, no
shift): a form shipped in a package of its own and registered through an entry point."""

from __future__ import annotations

import numpy as np

from gafit.forms import ParamSpec
from gafit.forms.pair import PairForm


class LennardJones96(PairForm):
    """E = 4 epsilon [(sigma / r)^9 - (sigma / r)^6] for r < cutoff."""

    name = "lj96"
    lammps_style = "lj96/cut"
    params = (
        ParamSpec("epsilon", "eV", (1e-3, 1.0), 0.4, "well depth", log=True, lower_limit=0.0),
        ParamSpec("sigma", "Å", (1.5, 4.0), 2.3, "zero-energy distance", lower_limit=0.0),
    )

    @staticmethod
    def pair_energy(r_p: np.ndarray, epsilon: np.ndarray, sigma: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Energy (eV) and dE/dr (eV/Å); plain expressions, so numba compiles it for scalars."""
        x3 = (sigma / r_p) ** 3
        x6 = x3 * x3
        return 4.0 * epsilon * x6 * (x3 - 1.0), 12.0 * epsilon * x6 * (2.0 - 3.0 * x3) / r_p

    @staticmethod
    def pair_parameter_derivatives(r_p: np.ndarray, epsilon: float, sigma: float
                                   ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """d/d(epsilon, sigma) of the pair energy and of dE/dr."""
        x3 = (sigma / r_p) ** 3
        x6 = x3 * x3
        return ([4.0 * x6 * (x3 - 1.0), 12.0 * epsilon * x6 * (3.0 * x3 - 2.0) / sigma],
                [12.0 * x6 * (2.0 - 3.0 * x3) / r_p,
                 36.0 * epsilon * x6 * (4.0 - 9.0 * x3) / (r_p * sigma)])
