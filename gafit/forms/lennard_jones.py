"""Lennard-Jones, exactly LAMMPS ``pair_style lj/cut`` (per species pair, hard cutoff, no shift).

The smallest form gafit ships, and the one ``docs/writing_a_form.md`` reads: a :class:`PairForm`
declares its parameters, its pair energy with dE/dr, and (optionally) their parameter derivatives;
everything else (tables, batches, the fused kernel, LAMMPS files) comes from :class:`PairForm`.

    E(r) = 4 epsilon [(sigma / r)^12 - (sigma / r)^6]  for r < cutoff, 0 beyond.

LAMMPS's ``pair_modify shift yes`` (E(r) - E(cutoff)) is not supported: gafit writes ``lj/cut``
without it, and a ``pair.lmp`` holding a ``pair_modify`` line is refused when read (the shift
changes energies, not forces, so it would be silently lost). Per-pair cutoffs other than the global
one are refused too (:meth:`PairForm.from_lammps`); LAMMPS's mixing rules are not needed, as gafit
writes a ``pair_coeff`` for every species pair.
"""

from __future__ import annotations

import numpy as np

from gafit.forms.base import ParamSpec
from gafit.forms.pair import PairForm


class LennardJones(PairForm):
    """E = 4 epsilon [(sigma / r)^12 - (sigma / r)^6] for r < cutoff (LAMMPS ``lj/cut``)."""

    name = "lj"
    lammps_style = "lj/cut"
    params = (
        ParamSpec("epsilon", "eV", (1e-3, 1.0), 0.4, "well depth", log=True, lower_limit=0.0),
        ParamSpec("sigma", "Å", (1.5, 4.0), 2.3, "zero-energy distance", lower_limit=0.0),
    )

    @staticmethod
    def pair_energy(r_p: np.ndarray, epsilon: np.ndarray, sigma: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Energy (eV) and dE/dr (eV/Å); plain expressions, so numba compiles it for scalars."""
        x6 = (sigma / r_p) ** 6
        return 4.0 * epsilon * x6 * (x6 - 1.0), 24.0 * epsilon * x6 * (1.0 - 2.0 * x6) / r_p

    @staticmethod
    def pair_parameter_derivatives(r_p: np.ndarray, epsilon: float, sigma: float
                                   ) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
        """d/d(epsilon, sigma) of the pair energy and of dE/dr."""
        x6 = (sigma / r_p) ** 6
        return ((4.0 * x6 * (x6 - 1.0), 24.0 * epsilon * x6 * (2.0 * x6 - 1.0) / sigma),
                (24.0 * x6 * (1.0 - 2.0 * x6) / r_p,
                 144.0 * epsilon * x6 * (1.0 - 4.0 * x6) / (r_p * sigma)))
