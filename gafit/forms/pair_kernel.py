"""A fused pair kernel (numba): per-pair energy and dE/dr, scattered straight into energies, forces
and virials, one pass over the pairs for the whole batch, with no temporaries.

It runs the form's own ``pair_energy`` (written so that it works on scalars as well as arrays), so
the physics is defined once. Without numba, or with ``ENABLED = False``, pair forms use the pure
numpy path (per-pair arrays and sparse maps), which gives the same numbers to rounding.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - numba is optional
    numba = None

#: set False to force the pure numpy path (tests compare the two)
ENABLED = numba is not None
_KERNELS: dict[Callable, Callable] = {}


def available() -> bool:
    return ENABLED and numba is not None


def kernel_for(pair_energy: Callable) -> Callable:
    """The compiled fused kernel of a 3-parameter ``pair_energy(r, a, b, c) -> (e, dedr)``."""
    if pair_energy not in _KERNELS:
        _KERNELS[pair_energy] = _make_kernel(pair_energy)
    return _KERNELS[pair_energy]


def _make_kernel(pair_energy: Callable) -> Callable:
    # error_model="numpy": a division by zero gives inf/nan (scored as bad), as in numpy
    fn = numba.njit(error_model="numpy")(pair_energy)

    @numba.njit(error_model="numpy")
    def kernel(r_p, i_p, j_p, s_p, u_pc, entry_p, params, energy, forces, virial):  # noqa: ANN001
        # params (entries, 3, B); energy (S, B); forces (N, 3, B); virial (S, 6, B), Voigt order.
        # Two loops over the batch per pair: the first evaluates the form, the second scatters
        # with unit stride, which the compiler vectorises.
        n_b = params.shape[2]
        e_b = np.empty(n_b)
        g_b = np.empty(n_b)
        for p in range(r_p.shape[0]):
            r = r_p[p]
            i, j, s, k = i_p[p], j_p[p], s_p[p], entry_p[p]
            a0, a1, a2 = params[k, 0], params[k, 1], params[k, 2]
            for b in range(n_b):
                e_b[b], g_b[b] = fn(r, a0[b], a1[b], a2[b])
            ux, uy, uz = u_pc[p, 0], u_pc[p, 1], u_pc[p, 2]
            vxx, vyy, vzz = r * ux * ux, r * uy * uy, r * uz * uz
            vyz, vxz, vxy = r * uy * uz, r * ux * uz, r * ux * uy
            for b in range(n_b):
                g = g_b[b]
                energy[s, b] += e_b[b]
                forces[i, 0, b] += g * ux
                forces[i, 1, b] += g * uy
                forces[i, 2, b] += g * uz
                forces[j, 0, b] -= g * ux
                forces[j, 1, b] -= g * uy
                forces[j, 2, b] -= g * uz
                virial[s, 0, b] += g * vxx
                virial[s, 1, b] += g * vyy
                virial[s, 2, b] += g * vzz
                virial[s, 3, b] += g * vyz
                virial[s, 4, b] += g * vxz
                virial[s, 5, b] += g * vxy

    return kernel


def fused_pairs(
    pair_energy: Callable, params: np.ndarray, r_p: np.ndarray, i_p: np.ndarray, j_p: np.ndarray,
    s_p: np.ndarray, u_pc: np.ndarray, entry_p: np.ndarray, n_atoms: int, n_structures: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energies (B, S) eV, forces (B, 3N) eV/Å and virials (B, S, 6) eV for params (entries, 3, B)."""
    b = params.shape[2]
    energy = np.zeros((n_structures, b))
    forces = np.zeros((n_atoms, 3, b))
    virial = np.zeros((n_structures, 6, b))
    kernel_for(pair_energy)(r_p, i_p, j_p, s_p, u_pc, entry_p, np.ascontiguousarray(params),
                            energy, forces, virial)
    return energy.T, forces.reshape(3 * n_atoms, b).T, virial.transpose(2, 0, 1)
