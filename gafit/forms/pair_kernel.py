"""A fused pair kernel (numba): per-pair energy and dE/dr, scattered straight into energies, forces
and virials, one pass over the pairs for the whole batch, with no temporaries.

It runs the form's own ``pair_energy`` (written so that it works on scalars as well as arrays), so
the physics is defined once, whatever its number of parameters. Without numba, with
``ENABLED = False``, or for a ``pair_energy`` numba cannot compile (with a warning), pair forms use
the pure numpy path (per-pair arrays and sparse maps), which gives the same numbers to rounding.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - numba is optional
    numba = None

#: set False to force the pure numpy path (tests compare the two)
ENABLED = numba is not None
_KERNELS: dict[tuple[Callable, int], Callable] = {}
#: the pair_energy functions numba could not compile (they take the numpy path)
_UNCOMPILABLE: set[Callable] = set()


def available() -> bool:
    return ENABLED and numba is not None


def kernel_for(pair_energy: Callable, n_params: int) -> Callable:
    """The compiled fused kernel of ``pair_energy(r, p_1, ..., p_n) -> (e, dedr)``, n = n_params."""
    key = (pair_energy, n_params)
    if key not in _KERNELS:
        _KERNELS[key] = _make_kernel(pair_energy, n_params)
    return _KERNELS[key]


#: the kernel's source, for any number of parameters: numba compiles one loop per form with the
#: parameters as plain scalar arguments (a loop over a parameter axis would not vectorise)
_KERNEL_SOURCE = """
def kernel(r_p, i_p, j_p, s_p, u_pc, entry_p, params, energy, forces, virial):
    # params (entries, n_params, B); energy (S, B); forces (N, 3, B); virial (S, 6, B), Voigt order.
    # Two loops over the batch per pair: the first evaluates the form, the second scatters
    # with unit stride, which the compiler vectorises.
    n_b = params.shape[2]
    e_b = np.empty(n_b)
    g_b = np.empty(n_b)
    for p in range(r_p.shape[0]):
        r = r_p[p]
        i, j, s, k = i_p[p], j_p[p], s_p[p], entry_p[p]
        {unpack}
        for b in range(n_b):
            e_b[b], g_b[b] = fn(r, {call})
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
"""


def _make_kernel(pair_energy: Callable, n_params: int) -> Callable:
    # error_model="numpy": a division by zero gives inf/nan (scored as bad), as in numpy
    names = [f"a{m}" for m in range(n_params)]
    unpack = (", ".join(names) + " = " + ", ".join(f"params[k, {m}]" for m in range(n_params))
              if n_params else "pass")
    source = _KERNEL_SOURCE.format(unpack=unpack, call=", ".join(f"{a}[b]" for a in names))
    namespace = {"np": np, "fn": numba.njit(error_model="numpy")(pair_energy)}
    exec(compile(source, f"<gafit pair kernel, {n_params} parameters>", "exec"), namespace)
    return numba.njit(error_model="numpy")(namespace["kernel"])


def fused_pairs(
    pair_energy: Callable, params: np.ndarray, r_p: np.ndarray, i_p: np.ndarray, j_p: np.ndarray,
    s_p: np.ndarray, u_pc: np.ndarray, entry_p: np.ndarray, n_atoms: int, n_structures: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Energies (B, S) eV, forces (B, 3N) eV/Å and virials (B, S, 6) eV for params
    (entries, n_params, B); None (and a warning, once) when numba cannot compile ``pair_energy``."""
    if pair_energy in _UNCOMPILABLE:
        return None
    b = params.shape[2]
    energy = np.zeros((n_structures, b))
    forces = np.zeros((n_atoms, 3, b))
    virial = np.zeros((n_structures, 6, b))
    kernel = kernel_for(pair_energy, params.shape[1])
    try:
        kernel(r_p, i_p, j_p, s_p, u_pc, entry_p, np.ascontiguousarray(params), energy, forces,
               virial)
    except numba.core.errors.TypingError as err:  # compiled on the first call, before any work
        _UNCOMPILABLE.add(pair_energy)
        first = str(err).strip().splitlines()[0]
        warnings.warn(f"{pair_energy.__qualname__}: numba cannot compile it ({first}); this pair "
                      "form takes the slower numpy path", RuntimeWarning, stacklevel=3)
        return None
    return energy.T, forces.reshape(3 * n_atoms, b).T, virial.transpose(2, 0, 1)
