"""Small pieces the many-body single-vector kernels share (numba, inlined): a pair's virial terms
from its dE/dd_ij, a pair's dE/dd_ij taken off its neighbour's force, and a finished row's sums
added onto its atom and its structure."""

from __future__ import annotations

import numpy as np

from gafit.forms.jit import njit


@njit(inline="always")
def pair_virial(r: float, ux: float, uy: float, uz: float, gx: float, gy: float, gz: float
                ) -> tuple[float, float, float, float, float, float]:
    """Virial terms (eV; Voigt xx, yy, zz, yz, xz, xy, the off-diagonal ones symmetrised) of a pair
    at r (Å) along the unit vector u from i to j whose dE/dd_ij is g (eV/Å)."""
    dx, dy, dz = r * ux, r * uy, r * uz
    return (dx * gx, dy * gy, dz * gz, 0.5 * (dy * gz + dz * gy), 0.5 * (dx * gz + dz * gx),
            0.5 * (dx * gy + dy * gx))


@njit(inline="always")
def pair_force(forces: np.ndarray, j: int, r: float, ux: float, uy: float, uz: float, gr: float,
               tx: float, ty: float, tz: float
               ) -> tuple[float, float, float, float, float, float, float, float, float]:
    """A pair's dE/dd_ij g = t + gr u (eV/Å: its angular part t and its dE/dr gr along the unit
    vector u from i to j, the pair at r Å), taken off atom j's force (forces (N, 3)); returns g and
    its virial terms (:func:`pair_virial`), for the row's sums on atom i."""
    gx = tx + gr * ux
    gy = ty + gr * uy
    gz = tz + gr * uz
    forces[j, 0] -= gx
    forces[j, 1] -= gy
    forces[j, 2] -= gz
    w0, w1, w2, w3, w4, w5 = pair_virial(r, ux, uy, uz, gx, gy, gz)
    return gx, gy, gz, w0, w1, w2, w3, w4, w5


@njit(inline="always")
def flush_row(i: int, s: int, fx: float, fy: float, fz: float, e: float, v0: float, v1: float,
              v2: float, v3: float, v4: float, v5: float, energy: np.ndarray, forces: np.ndarray,
              virial: np.ndarray) -> None:
    """A row's sums onto atom i's force (forces (N, 3), eV/Å) and its structure s's energy
    (energy (S,), eV) and virial (virial (S, 6), eV)."""
    forces[i, 0] += fx
    forces[i, 1] += fy
    forces[i, 2] += fz
    energy[s] += e
    virial[s, 0] += v0
    virial[s, 1] += v1
    virial[s, 2] += v2
    virial[s, 3] += v3
    virial[s, 4] += v4
    virial[s, 5] += v5
