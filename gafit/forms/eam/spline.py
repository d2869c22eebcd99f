"""LAMMPS's cubic splines of tabulated EAM functions (``PairEAM::interpolate`` and the lookups of
``PairEAM::compute``), reimplemented so that gafit evaluates a table exactly as LAMMPS does.

A table ``f`` holds values at x = k * delta, k = 0 .. n-1. Each interval k gets a cubic in the
fraction p in [0, 1] of the interval, ``((c3 p + c2) p + c1) p + c0``, whose end slopes are
five-point estimates (one- and three-point at the ends); its x-derivative is that cubic's
p-derivative over delta. Coefficient arrays are (..., n, 4) in the order c3 c2 c1 c0; the last
row is the constant f[n-1] (LAMMPS never uses it inside the table).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def spline_coefficients(f_xn: np.ndarray) -> np.ndarray:
    """(..., n, 4) cubic coefficients (c3, c2, c1, c0) per interval of tables ``f_xn`` (..., n),
    n >= 5, in the units of f per interval fraction."""
    f = np.asarray(f_xn, float)
    n = f.shape[-1]
    slope = np.empty_like(f)  # f' times delta at each knot
    slope[..., 0] = f[..., 1] - f[..., 0]
    slope[..., 1] = 0.5 * (f[..., 2] - f[..., 0])
    slope[..., n - 2] = 0.5 * (f[..., n - 1] - f[..., n - 3])
    slope[..., n - 1] = f[..., n - 1] - f[..., n - 2]
    slope[..., 2 : n - 2] = ((f[..., : n - 4] - f[..., 4:])
                             + 8.0 * (f[..., 3 : n - 1] - f[..., 1 : n - 3])) / 12.0
    out = np.zeros(f.shape + (4,))
    step = f[..., 1:] - f[..., :-1]
    out[..., :-1, 1] = 3.0 * step - 2.0 * slope[..., :-1] - slope[..., 1:]
    out[..., :-1, 0] = slope[..., :-1] + slope[..., 1:] - 2.0 * step
    out[..., 2] = slope
    out[..., 3] = f
    return out


def r_lookup(r_p: np.ndarray, dr: float, nr: int) -> tuple[np.ndarray, np.ndarray]:
    """(interval index k (0-based), fraction p) of distances ``r_p`` (Å) in a table of ``nr``
    points spaced ``dr``: beyond the table, the end of its last interval."""
    p = r_p * (1.0 / dr) + 1.0
    m = np.minimum(p.astype(np.int64), nr - 1)
    return m - 1, np.minimum(p - m, 1.0)


def rho_lookup(rho: np.ndarray, drho: np.ndarray, nrho: int) -> tuple[np.ndarray, np.ndarray]:
    """(interval index k (0-based), fraction p) of densities ``rho`` in a table of ``nrho`` points
    spaced ``drho`` (broadcast against rho): below the table the first interval extrapolated,
    beyond it the end of the last."""
    p = rho * (1.0 / drho) + 1.0
    m = np.clip(np.trunc(p), 1, nrho - 1).astype(np.int64)
    return m - 1, np.minimum(p - m, 1.0)


def value(c: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The cubic of gathered coefficients ``c`` (..., 4) at fractions ``p`` (...)."""
    return ((c[..., 0] * p + c[..., 1]) * p + c[..., 2]) * p + c[..., 3]


def slope(c: np.ndarray, p: np.ndarray, delta: float | np.ndarray) -> np.ndarray:
    """d(cubic)/dx at fractions ``p`` for knots spaced ``delta``, as LAMMPS: the coefficients
    divided by delta first."""
    return ((3.0 * c[..., 0] / delta) * p + 2.0 * c[..., 1] / delta) * p + c[..., 2] / delta


def knot_slopes(n: int) -> sp.csr_matrix:
    """(n, n) map from a table's values to its knot slopes times delta (the c1 column of
    :func:`spline_coefficients`), LAMMPS's stencils."""
    rows, cols, vals = [0, 0, 1, 1, n - 2, n - 2, n - 1, n - 1], \
        [1, 0, 2, 0, n - 1, n - 3, n - 1, n - 2], [1.0, -1.0, 0.5, -0.5, 0.5, -0.5, 1.0, -1.0]
    m = np.arange(2, n - 2)
    for shift, w in ((-2, 1.0), (2, -1.0), (1, 8.0), (-1, -8.0)):
        rows += list(m)
        cols += list(m + shift)
        vals += [w / 12.0] * len(m)
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n))


def hermite_maps(k: np.ndarray, p: np.ndarray, n: int, delta: float
                 ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(value, d/dx) maps (len(k), n) from a table's values to the spline of
    :func:`spline_coefficients` at intervals ``k`` and fractions ``p``: the same cubic, written as
    a linear map of the table (rounding aside, identical), so that a fixed geometry evaluates every
    table of a batch with one sparse product."""
    s = knot_slopes(n)
    rows = np.arange(len(k))
    p2, p3 = p * p, p * p * p

    def combine(w0, w1, w2, w3) -> sp.csr_matrix:
        ends = sp.csr_matrix((np.concatenate([w0, w1]),
                              (np.concatenate([rows, rows]), np.concatenate([k, k + 1]))),
                             shape=(len(k), n))
        return (ends + sp.diags(w2) @ s[k] + sp.diags(w3) @ s[k + 1]).tocsr()

    value = combine(1.0 - 3.0 * p2 + 2.0 * p3, 3.0 * p2 - 2.0 * p3, p - 2.0 * p2 + p3, p3 - p2)
    slope = combine((6.0 * p2 - 6.0 * p) / delta, (6.0 * p - 6.0 * p2) / delta,
                    (1.0 - 4.0 * p + 3.0 * p2) / delta, (3.0 * p2 - 2.0 * p) / delta)
    return value, slope


def on_functions(m: sp.csr_matrix, function_p: np.ndarray, n: int, n_functions: int
                 ) -> sp.csr_matrix:
    """A (P, n) map of one table placed, row by row, on table ``function_p`` of ``n_functions``
    tables of n values flattened one after the other: (P, n_functions n)."""
    coo = m.tocoo()
    return sp.csr_matrix((coo.data, (coo.row, coo.col + function_p[coo.row] * n)),
                         shape=(m.shape[0], n_functions * n))
