"""Builders shared by test files (imported as ``from helpers import ...``; tests/ is on sys.path
because conftest.py lives there)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ase import Atoms

from gafit.geometry import VOIGT


def strain_derivative(energy_of: Callable[[Atoms], float], atoms: Atoms, h: float = 1e-6
                      ) -> np.ndarray:
    """dE/dε / V (eV/Å³, Voigt order xx yy zz yz xz xy) of ``energy_of`` at ``atoms`` by central
    differences of symmetric strains ±h/2: the stress a form must give."""
    out = np.empty(len(VOIGT))
    for v, (a, b) in enumerate(VOIGT):
        e = []
        for sgn in (1, -1):
            eps = np.eye(3)
            eps[a, b] += sgn * h / 2
            eps[b, a] += sgn * h / 2
            at = atoms.copy()
            at.set_cell(at.cell @ eps, scale_atoms=True)
            e.append(energy_of(at))
        out[v] = (e[0] - e[1]) / (2 * h) / atoms.get_volume()
    return out
