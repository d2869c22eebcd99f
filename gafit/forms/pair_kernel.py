"""A fused pair kernel (numba): per-pair energy and dE/dr, scattered straight into energies, forces
and virials, one pass over the pairs for the whole batch, with no per-pair arrays (the kernel for
a single vector keeps one block of pairs' products, see ``_SINGLE_SOURCE``).

It runs the form's own ``pair_energy`` (written so that it works on scalars as well as arrays), so
the physics is defined once, whatever its number of parameters. Without numba, with
``ENABLED = False``, or for a ``pair_energy`` numba cannot compile (with a warning), pair forms use
the pure numpy path (per-pair arrays and sparse maps), which gives the same numbers to rounding.
"""

from __future__ import annotations

import textwrap
import warnings
from collections.abc import Callable

import numpy as np

from gafit.forms import vec_math
from gafit.forms.jit import compile_generated

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
#: Pairs come by entry (species pair, ``start_k``), inside an entry in runs of one centre atom i
#: and of one structure (the neighbour list's order): F_i, E_s and the virial of s are summed over
#: the run in local accumulators and added once, which spares a chain of read-modify-writes of one
#: memory location per pair.
_KERNEL_SOURCE = """
def kernel(r_p, i_p, j_p, s_n, u_cp, start_k, params, energy, forces, virial):
    # params (entries, n_params, B); energy (S, B); forces (N, 3, B); virial (S, 6, B), Voigt order.
    # Two loops over the batch per pair: the first evaluates the form, the second scatters
    # with unit stride, which the compiler vectorises.
    n_b = params.shape[2]
    e_b = np.empty(n_b)
    g_b = np.empty(n_b)
    f_cb = np.zeros((3, n_b))  # F of the run's centre atom
    ev_vb = np.zeros((7, n_b))  # energy and virial of the run's structure
    i_run, s_run = -1, -1
    for k in range(start_k.shape[0] - 1):
        {unpack}
        for p in range(start_k[k], start_k[k + 1]):
            r = r_p[p]
            i, j = i_p[p], j_p[p]
            if i != i_run:  # a structure's pairs are runs of centre atoms: s changes only here
                if i_run >= 0:
                    flush_atom(forces, f_cb, i_run, 0)
                i_run = i
                s = s_n[i]
                if s != s_run:
                    if s_run >= 0:
                        flush_structure(energy, virial, ev_vb, s_run, 0)
                    s_run = s
            for b in range(n_b):
                e_b[b], g_b[b] = fn(r, {call})
            ux, uy, uz = u_cp[0, p], u_cp[1, p], u_cp[2, p]
            dx, dy, dz = r * ux, r * uy, r * uz
            for b in range(n_b):
                add_pair(forces, f_cb, ev_vb, j, b, 0, e_b[b], g_b[b], ux, uy, uz, dx, dy, dz)
    if i_run >= 0:
        flush_atom(forces, f_cb, i_run, 0)
        flush_structure(energy, virial, ev_vb, s_run, 0)
"""


def add_pair(forces: np.ndarray, f_cm: np.ndarray, ev_vm: np.ndarray, j: int, m: int, c0: int,
             e: float, g: float, ux: float, uy: float, uz: float, dx: float, dy: float,
             dz: float) -> None:
    """Add one pair's energy e and its force g u (g = dE/dr, u the unit vector from i to j, d = r u)
    in column m of a run's sums (``f_cm`` F_i, ``ev_vm`` energy and virial) and take the force off
    neighbour j in column c0 + m of ``forces`` (N, 3, C) (numba, inlined into the generated
    kernels; its order of operations is what makes a vector's numbers the same in any of them)."""
    gx, gy, gz = g * ux, g * uy, g * uz
    ev_vm[0, m] += e
    f_cm[0, m] += gx
    f_cm[1, m] += gy
    f_cm[2, m] += gz
    forces[j, 0, c0 + m] -= gx
    forces[j, 1, c0 + m] -= gy
    forces[j, 2, c0 + m] -= gz
    ev_vm[1, m] += gx * dx
    ev_vm[2, m] += gy * dy
    ev_vm[3, m] += gz * dz
    ev_vm[4, m] += gy * dz
    ev_vm[5, m] += gx * dz
    ev_vm[6, m] += gx * dy


def flush_atom(forces: np.ndarray, f_cm: np.ndarray, i: int, c0: int) -> None:
    """Add a run's sums of atom i's force (3, M) to its columns c0 to c0 + M of ``forces``
    (N, 3, C), and zero them (numba, inlined into the generated kernels)."""
    for c in range(3):
        for m in range(f_cm.shape[1]):
            forces[i, c, c0 + m] += f_cm[c, m]
            f_cm[c, m] = 0.0


def flush_structure(energy: np.ndarray, virial: np.ndarray, ev_vm: np.ndarray, s: int,
                    c0: int) -> None:
    """Add a run's sums of structure s's energy and virial (7, M) to its columns c0 to c0 + M of
    ``energy`` (S, C) and ``virial`` (S, 6, C), and zero them."""
    for m in range(ev_vm.shape[1]):
        energy[s, c0 + m] += ev_vm[0, m]
        ev_vm[0, m] = 0.0
        for v in range(6):
            virial[s, v, c0 + m] += ev_vm[v + 1, m]
            ev_vm[v + 1, m] = 0.0

#: the same for one parameter vector (what every least-squares step evaluates), in two phases per
#: block of BLOCK pairs: ``compute`` evaluates the form and every per-pair product (a loop without
#: branches or scatters, which the compiler vectorises), then the scatter adds them in the
#: accumulators, which stay in registers. Same operations in the same order as the batch kernel,
#: so that a vector gives the same numbers alone as in a batch. ``compute`` runs over whole blocks
#: (a constant trip count vectorises best): a block that would run past the table's end starts
#: earlier, and the pairs it computes outside [p0, p1) (another entry's, with the wrong
#: parameters) are not used.
_COMPUTE_SOURCE = """
def compute(base, n_q, r_p, u_cp, {args}buf):
    # slices: indices known to be non-negative, so no wrap-around selects that stop vectorising
    r_q = r_p[base:base + n_q]
    ux_q = u_cp[0, base:base + n_q]
    uy_q = u_cp[1, base:base + n_q]
    uz_q = u_cp[2, base:base + n_q]
    for q in range(n_q):
        r = r_q[q]
        e, g = fn(r, {names})
        ux, uy, uz = ux_q[q], uy_q[q], uz_q[q]
        gx, gy, gz = g * ux, g * uy, g * uz
        dx, dy, dz = r * ux, r * uy, r * uz
        buf[0, q] = e
        buf[1, q] = gx
        buf[2, q] = gy
        buf[3, q] = gz
        buf[4, q] = gx * dx
        buf[5, q] = gy * dy
        buf[6, q] = gz * dz
        buf[7, q] = gy * dz
        buf[8, q] = gx * dz
        buf[9, q] = gx * dy
"""

_SINGLE_SOURCE = """
def kernel(r_p, i_p, j_p, s_n, u_cp, start_k, params, energy, forces, virial):
    # energy (S,), forces (3N,), virial (6S,): flat, so that an index costs no stride product;
    # the scatter indexes with unsigned integers (U), which need no wrap-around select
    fx, fy, fz = 0.0, 0.0, 0.0
    e, v0, v1, v2, v3, v4, v5 = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    i_run, s_run = -1, -1
    n_p = r_p.shape[0]
    buf = np.empty((10, BLOCK))  # per pair of the block: E, F_i, virial
    for k in range(start_k.shape[0] - 1):
        {unpack}
        for p0 in range(start_k[k], start_k[k + 1], BLOCK):
            p1 = min(p0 + BLOCK, start_k[k + 1])
            if n_p >= BLOCK:
                base = min(p0, n_p - BLOCK)
                compute(base, BLOCK, r_p, u_cp, {args}buf)
            else:
                base = p0
                compute(base, p1 - p0, r_p, u_cp, {args}buf)
            i_q = i_p[base:]
            j_q = j_p[base:]
            for q in range(U(p0 - base), U(p1 - base)):
                i = i_q[q]
                if i != i_run:  # a structure's pairs are runs of centre atoms: s changes only here
                    if i_run >= 0:
                        forces[3 * i_run] += fx
                        forces[3 * i_run + 1] += fy
                        forces[3 * i_run + 2] += fz
                        fx, fy, fz = 0.0, 0.0, 0.0
                    i_run = i
                    s = s_n[i]
                    if s != s_run:
                        if s_run >= 0:
                            energy[s_run] += e
                            virial[6 * s_run] += v0
                            virial[6 * s_run + 1] += v1
                            virial[6 * s_run + 2] += v2
                            virial[6 * s_run + 3] += v3
                            virial[6 * s_run + 4] += v4
                            virial[6 * s_run + 5] += v5
                            e, v0, v1, v2, v3, v4, v5 = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
                        s_run = s
                j3 = U(j_q[q]) * U(3)
                gx, gy, gz = buf[1, q], buf[2, q], buf[3, q]
                e += buf[0, q]
                fx += gx
                fy += gy
                fz += gz
                forces[j3] -= gx
                forces[j3 + U(1)] -= gy
                forces[j3 + U(2)] -= gz
                v0 += buf[4, q]
                v1 += buf[5, q]
                v2 += buf[6, q]
                v3 += buf[7, q]
                v4 += buf[8, q]
                v5 += buf[9, q]
    if i_run >= 0:
        forces[3 * i_run] += fx
        forces[3 * i_run + 1] += fy
        forces[3 * i_run + 2] += fz
        energy[s_run] += e
        virial[6 * s_run] += v0
        virial[6 * s_run + 1] += v1
        virial[6 * s_run + 2] += v2
        virial[6 * s_run + 3] += v3
        virial[6 * s_run + 4] += v4
        virial[6 * s_run + 5] += v5
"""

#: pairs per block of the single-vector kernel (its buffer, 10 doubles a pair, stays in L1)
BLOCK = 256


def _make_kernel(pair_energy: Callable, n_params: int, single: bool = False) -> Callable:
    # error_model="numpy": a division by zero gives inf/nan (scored as bad), as in numpy
    names = [f"a{m}" for m in range(n_params)]
    index = ", 0]" if single else "]"
    unpack = (", ".join(names) + " = " + ", ".join(f"params[k, {m}{index}" for m in range(n_params))
              if n_params else "pass")
    fields = {"unpack": unpack, "names": ", ".join(names),
              "args": "".join(f"{a}, " for a in names),
              "call": ", ".join(names if single else [f"{a}[b]" for a in names])}
    inline = numba.njit(error_model="numpy", inline="always")
    namespace = {"np": np, "BLOCK": BLOCK, "U": np.uint64, "fn": inline(pair_energy),
                 "add_pair": inline(add_pair), "flush_atom": inline(flush_atom),
                 "flush_structure": inline(flush_structure)}
    where = f"<gafit pair kernel, {n_params} parameters>"
    source = (_SINGLE_SOURCE if single else _KERNEL_SOURCE).format(**fields)
    if single:
        compute = _COMPUTE_SOURCE.format(**fields)
        exec(compile(compute, where, "exec"), namespace)
        namespace["compute"] = numba.njit(error_model="numpy", inline="always")(
            namespace["compute"])
        source = f"# compute, inlined:\n{textwrap.indent(compute, '# ')}\n{source}"
    return compile_generated(source, namespace, "kernel", [pair_energy, vec_math, add_pair,
                                                           flush_atom, flush_structure], where)


def fused_pairs(
    pair_energy: Callable, params: np.ndarray, r_p: np.ndarray, i_p: np.ndarray, j_p: np.ndarray,
    s_n: np.ndarray, u_cp: np.ndarray, start_k: np.ndarray, n_structures: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Energies (B, S) eV, forces (B, 3N) eV/Å and virials (B, S, 6) eV for params
    (entries, n_params, B) on the pairs p (r_p Å, centre and neighbour atoms i_p and j_p, unit
    vectors u_cp from i to j) of the entries k (pairs start_k[k] to start_k[k + 1]) of atoms n in
    structures s_n; None (and a warning, once) when numba cannot compile ``pair_energy``."""
    if pair_energy in _UNCOMPILABLE:
        return None
    b = params.shape[2]
    n_atoms = len(s_n)
    # one allocation for the three (what a single vector pays is mostly such calls)
    out = np.zeros((7 * n_structures + 3 * n_atoms) * b)
    n_e, n_f = n_structures * b, 3 * n_atoms * b
    energy = out[:n_e].reshape(n_structures, b)
    forces = out[n_e:n_e + n_f].reshape(n_atoms, 3, b)
    virial = out[n_e + n_f:].reshape(n_structures, 6, b)
    kernel = kernel_for(pair_energy, params.shape[1], single=b == 1)
    try:
        flat = (out[:n_e], out[n_e:n_e + n_f], out[n_e + n_f:]) if b == 1 else ()
        kernel(r_p, i_p, j_p, s_n, u_cp, start_k, np.ascontiguousarray(params),
               *(flat or (energy, forces, virial)))
    except numba.core.errors.TypingError as err:  # compiled on the first call, before any work
        _UNCOMPILABLE.add(pair_energy)
        first = str(err).strip().splitlines()[0]
        warnings.warn(f"{pair_energy.__qualname__}: numba cannot compile it ({first}); this pair "
                      "form takes the slower numpy path", RuntimeWarning, stacklevel=3)
        return None
    return energy.T, forces.reshape(3 * n_atoms, b).T, virial.transpose(2, 0, 1)
