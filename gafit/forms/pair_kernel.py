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
#: the single-vector kernels (what every least-squares step calls), by the same key
_SINGLE: dict[tuple[Callable, int], Callable] = {}
#: the pair_energy functions numba could not compile (they take the numpy path)
_UNCOMPILABLE: set[Callable] = set()


def available() -> bool:
    return ENABLED and numba is not None


def kernel_for(pair_energy: Callable, n_params: int, single: bool = False) -> Callable:
    """The compiled fused kernel of ``pair_energy(r, p_1, ..., p_n) -> (e, dedr)``, n = n_params;
    with ``single`` the one for a batch of one."""
    key = (pair_energy, n_params)
    cache = _SINGLE if single else _KERNELS
    if key not in cache:
        cache[key] = _make_kernel(pair_energy, n_params, single)
    return cache[key]


#: the kernel's source, for any number of parameters: numba compiles one loop per form with the
#: parameters as plain scalar arguments (a loop over a parameter axis would not vectorise).
#: Pairs come in runs of one centre atom i and of one structure s (the table keeps the neighbour
#: list's order inside each species pair): F_i, E_s and the virial of s are summed over the run
#: in local accumulators and added once, which spares a chain of read-modify-writes of one memory
#: location per pair.
_KERNEL_SOURCE = """
def kernel(r_p, i_p, j_p, s_p, u_pc, entry_p, params, energy, forces, virial):
    # params (entries, n_params, B); energy (S, B); forces (N, 3, B); virial (S, 6, B), Voigt order.
    # Two loops over the batch per pair: the first evaluates the form, the second scatters
    # with unit stride, which the compiler vectorises.
    n_b = params.shape[2]
    e_b = np.empty(n_b)
    g_b = np.empty(n_b)
    f_cb = np.zeros((3, n_b))  # F of the run's centre atom
    ev_vb = np.zeros((7, n_b))  # energy and virial of the run's structure
    i_run, s_run = -1, -1
    for p in range(r_p.shape[0]):
        r = r_p[p]
        i, j, k = i_p[p], j_p[p], entry_p[p]
        if i != i_run:  # a structure's pairs are runs of centre atoms: s changes only here
            if i_run >= 0:
                for c in range(3):
                    for b in range(n_b):
                        forces[i_run, c, b] += f_cb[c, b]
                        f_cb[c, b] = 0.0
            i_run = i
            s = s_p[p]
            if s != s_run:
                if s_run >= 0:
                    for b in range(n_b):
                        energy[s_run, b] += ev_vb[0, b]
                        ev_vb[0, b] = 0.0
                    for v in range(6):
                        for b in range(n_b):
                            virial[s_run, v, b] += ev_vb[v + 1, b]
                            ev_vb[v + 1, b] = 0.0
                s_run = s
        {unpack}
        for b in range(n_b):
            e_b[b], g_b[b] = fn(r, {call})
        ux, uy, uz = u_pc[p, 0], u_pc[p, 1], u_pc[p, 2]
        dx, dy, dz = r * ux, r * uy, r * uz
        for b in range(n_b):
            g = g_b[b]
            gx, gy, gz = g * ux, g * uy, g * uz
            ev_vb[0, b] += e_b[b]
            f_cb[0, b] += gx
            f_cb[1, b] += gy
            f_cb[2, b] += gz
            forces[j, 0, b] -= gx
            forces[j, 1, b] -= gy
            forces[j, 2, b] -= gz
            ev_vb[1, b] += gx * dx
            ev_vb[2, b] += gy * dy
            ev_vb[3, b] += gz * dz
            ev_vb[4, b] += gy * dz
            ev_vb[5, b] += gx * dz
            ev_vb[6, b] += gx * dy
    if i_run >= 0:
        for c in range(3):
            for b in range(n_b):
                forces[i_run, c, b] += f_cb[c, b]
        for b in range(n_b):
            energy[s_run, b] += ev_vb[0, b]
        for v in range(6):
            for b in range(n_b):
                virial[s_run, v, b] += ev_vb[v + 1, b]
"""

#: the same for one parameter vector (what every least-squares step evaluates): no batch loops
#: and the accumulators in registers, with the same operations in the same order, so that a
#: vector gives the same numbers alone as in a batch
_SINGLE_SOURCE = """
def kernel(r_p, i_p, j_p, s_p, u_pc, entry_p, params, energy, forces, virial):
    fx, fy, fz = 0.0, 0.0, 0.0
    e, v0, v1, v2, v3, v4, v5 = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    i_run, s_run = -1, -1
    n_p = r_p.shape[0]
    e_q = np.empty(BLOCK)  # e and dE/dr of the block's pairs
    g_q = np.empty(BLOCK)
    for p0 in range(0, n_p, BLOCK):
        p1 = min(p0 + BLOCK, n_p)
        k = entry_p[p0]
        if entry_p[p1 - 1] == k:  # one entry (pairs are sorted by entry): a loop without calls
            {unpack}
            for p in range(p0, p1):
                e_q[p - p0], g_q[p - p0] = fn(r_p[p], {call})
        else:
            for p in range(p0, p1):
                k = entry_p[p]
                {unpack}
                e_q[p - p0], g_q[p - p0] = fn(r_p[p], {call})
        for p in range(p0, p1):
            r = r_p[p]
            i, j = i_p[p], j_p[p]
            if i != i_run:  # a structure's pairs are runs of centre atoms: s changes only here
                if i_run >= 0:
                    forces[i_run, 0, 0] += fx
                    forces[i_run, 1, 0] += fy
                    forces[i_run, 2, 0] += fz
                    fx, fy, fz = 0.0, 0.0, 0.0
                i_run = i
                s = s_p[p]
                if s != s_run:
                    if s_run >= 0:
                        energy[s_run, 0] += e
                        virial[s_run, 0, 0] += v0
                        virial[s_run, 1, 0] += v1
                        virial[s_run, 2, 0] += v2
                        virial[s_run, 3, 0] += v3
                        virial[s_run, 4, 0] += v4
                        virial[s_run, 5, 0] += v5
                        e, v0, v1, v2, v3, v4, v5 = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
                    s_run = s
            e_p, g = e_q[p - p0], g_q[p - p0]
            ux, uy, uz = u_pc[p, 0], u_pc[p, 1], u_pc[p, 2]
            gx, gy, gz = g * ux, g * uy, g * uz
            dx, dy, dz = r * ux, r * uy, r * uz
            e += e_p
            fx += gx
            fy += gy
            fz += gz
            forces[j, 0, 0] -= gx
            forces[j, 1, 0] -= gy
            forces[j, 2, 0] -= gz
            v0 += gx * dx
            v1 += gy * dy
            v2 += gz * dz
            v3 += gy * dz
            v4 += gx * dz
            v5 += gx * dy
    if i_run >= 0:
        forces[i_run, 0, 0] += fx
        forces[i_run, 1, 0] += fy
        forces[i_run, 2, 0] += fz
        energy[s_run, 0] += e
        virial[s_run, 0, 0] += v0
        virial[s_run, 1, 0] += v1
        virial[s_run, 2, 0] += v2
        virial[s_run, 3, 0] += v3
        virial[s_run, 4, 0] += v4
        virial[s_run, 5, 0] += v5
"""


def _make_kernel(pair_energy: Callable, n_params: int, single: bool = False) -> Callable:
    # error_model="numpy": a division by zero gives inf/nan (scored as bad), as in numpy
    names = [f"a{m}" for m in range(n_params)]
    index = ", 0]" if single else "]"
    unpack = (", ".join(names) + " = " + ", ".join(f"params[k, {m}{index}" for m in range(n_params))
              if n_params else "pass")
    source = (_SINGLE_SOURCE if single else _KERNEL_SOURCE).format(
        unpack=unpack, call=", ".join(names if single else [f"{a}[b]" for a in names]))
    namespace = {"np": np, "BLOCK": 64,
                 "fn": numba.njit(error_model="numpy", inline="always")(pair_energy)}
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
    kernel = kernel_for(pair_energy, params.shape[1], single=b == 1)
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
