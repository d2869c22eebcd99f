"""A fused pair Jacobian (numba): d(energy, forces, virial)/d(parameter) of a pair form at one
parameter vector, for every parameter of every species pair, in one pass over the pair table.

Per pair it runs the form's own ``pair_parameter_derivatives(r, *params)`` on a scalar r (written
so that it works on scalars as well as arrays, returning the derivatives of the pair energy and of
dE/dr per parameter) and scatters them as the fused pair kernel scatters E and dE/dr: a pair of
entry k touches only the n_params columns of that entry, which lie side by side in the outputs
(energy (S, C), forces (N, 3, C), virial (S, 6, C), C = entries × n_params), so a pair's updates
are a few adjacent doubles. This replaces per-pair (P, C) arrays and two sparse products with C
columns each, the numpy path of :meth:`gafit.forms.pair.PairForm.parameter_derivatives`, which
stays (``ENABLED = False``, no numba, or derivatives numba cannot compile) and gives the same
numbers to rounding.
"""

from __future__ import annotations

import textwrap
import warnings
from collections.abc import Callable

import numpy as np

from gafit.forms import vec_math
from gafit.forms.jit import compile_generated
from gafit.forms.pair_kernel import add_pair, flush_atom, flush_structure

try:
    import numba
except ImportError:  # pragma: no cover - numba is optional
    numba = None

#: set False to force the numpy path (tests compare the two)
ENABLED = numba is not None
_KERNELS: dict[tuple[Callable, int], Callable] = {}
#: the derivative functions numba could not compile (they take the numpy path)
_UNCOMPILABLE: set[Callable] = set()


def available() -> bool:
    return ENABLED and numba is not None


#: Pairs come by entry (``start_k``), inside an entry in runs of one centre atom i and of one
#: structure (the neighbour list's order): F_i, E_s and the virial of s are summed over a run in
#: local accumulators (NP columns each) and added once. Accumulators are flushed at each entry's
#: end, since the next entry writes other columns. Per block of BLOCK pairs, ``compute`` first
#: evaluates the form's derivatives (a loop without branches or scatters, which the compiler
#: vectorises; pairs of the block outside the entry, where a block that would run past the table's
#: end starts earlier, are not used), then the scatter adds them pair by pair: the same operations
#: in the same order as one pair at a time.
_KERNEL_SOURCE = """
def kernel(r_p, i_p, j_p, s_n, u_cp, start_k, params, energy, forces, virial):
    f_cm = np.zeros((3, NP))  # d F_i / d(param) of the run's centre atom
    ev_vm = np.zeros((7, NP))  # d(E, virial)/d(param) of the run's structure
    n_p = r_p.shape[0]
    buf = np.empty((2 * NP, BLOCK))  # per pair of the block: d(energy), then d(dE/dr)
    for k in range(start_k.shape[0] - 1):
        if start_k[k + 1] == start_k[k]:
            continue
        {unpack}
        c0 = k * NP
        i_run, s_run = -1, -1
        for p0 in range(start_k[k], start_k[k + 1], BLOCK):
            p1 = min(p0 + BLOCK, start_k[k + 1])
            if n_p >= BLOCK:
                base = min(p0, n_p - BLOCK)
                compute(base, BLOCK, r_p, {args}buf)
            else:
                base = p0
                compute(base, p1 - p0, r_p, {args}buf)
            for p in range(p0, p1):
                q = p - base
                r = r_p[p]
                i, j = i_p[p], j_p[p]
                if i != i_run:
                    if i_run >= 0:
                        flush_atom(forces, f_cm, i_run, c0)
                    i_run = i
                    s = s_n[i]
                    if s != s_run:
                        if s_run >= 0:
                            flush_structure(energy, virial, ev_vm, s_run, c0)
                        s_run = s
                ux, uy, uz = u_cp[0, p], u_cp[1, p], u_cp[2, p]
                dx, dy, dz = r * ux, r * uy, r * uz
                for m in range(NP):
                    add_pair(forces, f_cm, ev_vm, j, m, c0, buf[m, q], buf[NP + m, q], ux, uy, uz,
                             dx, dy, dz)
        flush_atom(forces, f_cm, i_run, c0)
        flush_structure(energy, virial, ev_vm, s_run, c0)
"""

_COMPUTE_SOURCE = """
def compute(base, n_q, r_p, {args}buf):
    r_q = r_p[base:base + n_q]  # a slice: indices known to be non-negative
    for q in range(n_q):
        de, dg = fn(r_q[q], {names})
{stores}
"""

#: pairs per block (the buffer, 2 NP doubles a pair, stays in L1)
BLOCK = 256


def kernel_for(derivatives: Callable, n_params: int) -> Callable:
    """The compiled kernel of ``derivatives(r, p_1, ..., p_n) -> (de, dg)``, n = n_params."""
    key = (derivatives, n_params)
    if key not in _KERNELS:
        _KERNELS[key] = _make_kernel(derivatives, n_params)
    return _KERNELS[key]


def _make_kernel(derivatives: Callable, n_params: int) -> Callable:
    # error_model="numpy": a division by zero gives inf/nan (a bad Jacobian, refused), as in numpy
    names = [f"a{m}" for m in range(n_params)]
    unpack = (", ".join(names) + " = " + ", ".join(f"params[k, {m}]" for m in range(n_params))
              if n_params else "pass")
    inline = numba.njit(error_model="numpy", inline="always")
    fields = {"unpack": unpack, "names": ", ".join(names), "args": "".join(f"{a}, " for a in names),
              "stores": "\n".join(f"        buf[{m}, q] = de[{m}]\n        buf[{n_params + m}, q] = dg[{m}]"
                                  for m in range(n_params)) or "        pass"}
    where = f"<gafit pair jacobian, {n_params} parameters>"
    compute = _COMPUTE_SOURCE.format(**fields)
    namespace = {"np": np, "NP": n_params, "BLOCK": BLOCK, "fn": inline(derivatives),
                 "add_pair": inline(add_pair), "flush_atom": inline(flush_atom),
                 "flush_structure": inline(flush_structure)}
    exec(compile(compute, where, "exec"), namespace)
    namespace["compute"] = inline(namespace["compute"])
    source = (f"# compute, inlined:\n{textwrap.indent(compute, '# ')}\n"
              + _KERNEL_SOURCE.format(**fields))
    return compile_generated(source, namespace, "kernel",
                             [derivatives, vec_math, add_pair, flush_atom, flush_structure],
                             where)


def fused_parameter_derivatives(
    derivatives: Callable, params: np.ndarray, r_p: np.ndarray, i_p: np.ndarray, j_p: np.ndarray,
    s_n: np.ndarray, u_cp: np.ndarray, start_k: np.ndarray, n_structures: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """d(energy)/d(param) (C, S) eV, d(forces) (C, 3N) eV/Å and d(virial) (C, S, 6) eV per unit
    parameter, C = entries × n_params (entry-major, as the form's parameter vector), for params
    (entries, n_params) on the pairs p (r_p Å, atoms i_p and j_p, unit vectors u_cp from i to j)
    of the entries k (pairs start_k[k] to start_k[k + 1]) of atoms n in structures s_n; None (and a
    warning, once) when numba cannot compile ``derivatives``."""
    if derivatives in _UNCOMPILABLE:
        return None
    n_entries, n_params = params.shape
    n_cols = n_entries * n_params
    n_atoms = len(s_n)
    energy = np.zeros((n_structures, n_cols))
    forces = np.zeros((n_atoms, 3, n_cols))
    virial = np.zeros((n_structures, 6, n_cols))
    kernel = kernel_for(derivatives, n_params)
    try:
        kernel(r_p, i_p, j_p, s_n, u_cp, start_k, np.ascontiguousarray(params, dtype=float),
               energy, forces, virial)
    except numba.core.errors.TypingError as err:  # compiled on the first call, before any work
        _UNCOMPILABLE.add(derivatives)
        first = str(err).strip().splitlines()[0]
        warnings.warn(f"{derivatives.__qualname__}: numba cannot compile it ({first}); this pair "
                      "form's Jacobian takes the slower numpy path", RuntimeWarning, stacklevel=3)
        return None
    return energy.T, forces.reshape(3 * n_atoms, n_cols).T, virial.transpose(2, 0, 1)
