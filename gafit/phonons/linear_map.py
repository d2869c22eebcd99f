"""Linear maps applied to a batch row by row in a fixed order (numba): forces to dynamical
matrices (:class:`gafit.phonons.harmonic.PhononBatch`), where each individual's numbers must not
depend on the batch it is evaluated in (a population split over workers, a vector alone in the
least squares). numpy's einsum gives that too, ten times slower; a BLAS product is fast but may sum
in another order for another batch size. Without numba the einsum path is taken."""

from __future__ import annotations

import numpy as np

from gafit.forms.jit import njit

try:
    import numba
except ImportError:  # pragma: no cover - numba is optional
    numba = None

#: output columns per block: a block of the map (n_in x COLUMNS doubles) stays in the L2 cache
#: while every row of the batch passes through it
COLUMNS = 64


def _rows_times(x_bi: np.ndarray, m_io: np.ndarray, out_bo: np.ndarray) -> None:
    """out[b, o] += sum over i, in order, of x[b, i] m[i, o] (numba): a block of COLUMNS columns
    at a time, four rows together (each m[i, o] read once for the four)."""
    n_b, n_i, n_o = x_bi.shape[0], x_bi.shape[1], m_io.shape[1]
    for o0 in range(0, n_o, COLUMNS):
        o1 = min(o0 + COLUMNS, n_o)
        b = 0
        while b + 4 <= n_b:
            a0, a1 = out_bo[b, o0:o1], out_bo[b + 1, o0:o1]
            a2, a3 = out_bo[b + 2, o0:o1], out_bo[b + 3, o0:o1]
            for i in range(n_i):
                x0, x1, x2, x3 = x_bi[b, i], x_bi[b + 1, i], x_bi[b + 2, i], x_bi[b + 3, i]
                m = m_io[i, o0:o1]
                for o in range(o1 - o0):
                    a0[o] += x0 * m[o]
                    a1[o] += x1 * m[o]
                    a2[o] += x2 * m[o]
                    a3[o] += x3 * m[o]
            b += 4
        for r in range(b, n_b):
            acc = out_bo[r, o0:o1]
            for i in range(n_i):
                x = x_bi[r, i]
                m = m_io[i, o0:o1]
                for o in range(o1 - o0):
                    acc[o] += x * m[o]


_KERNEL = njit(_rows_times) if numba is not None else None


class RowMap:
    """x (B, n_in) -> x mᵀ (B, n_out) for a complex or real map m (n_out, n_in) and real rows x:
    every output element a sum over the inputs in their order, whatever B."""

    def __init__(self, m_oi: np.ndarray):
        self.m_oi = m_oi
        self.complex = np.iscomplexobj(m_oi)
        parts = [m_oi.real, m_oi.imag] if self.complex else [m_oi]
        self.m_io = np.ascontiguousarray(np.concatenate(parts).T, dtype=float)  # (n_in, n_out[*2])

    def __call__(self, x_bi: np.ndarray) -> np.ndarray:
        x_bi = np.ascontiguousarray(x_bi, dtype=float)
        if _KERNEL is None:
            return np.einsum("bi,oi->bo", x_bi, self.m_oi)
        out = np.zeros((len(x_bi), self.m_io.shape[1]))
        _KERNEL(x_bi, self.m_io, out)
        if not self.complex:
            return out
        n = self.m_oi.shape[0]
        y = np.empty((len(x_bi), n), complex)
        y.real, y.imag = out[:, :n], out[:, n:]
        return y


class HermitianRowMap:
    """:class:`RowMap` for maps onto Hermitian matrices: m (n_blocks n², n_in) whose rows are, per
    block, the elements of an n x n matrix that is Hermitian for any x (the row of element (j, i)
    exactly the conjugate of that of (i, j), as phonopy's dynamical matrices give). Only the lower
    triangle's real parts and the imaginary parts that are not zero throughout are summed (about a
    quarter to a half of the products), and one row of zeros for the rest; the upper triangle is
    their conjugate. The numbers are those of :class:`RowMap` bit for bit: the same sums in the
    same order, and a sum of negated products is the negated sum (but for the sign of an upper
    imaginary part that sums to exactly zero, -0.0 here). A map that is not exactly Hermitian
    takes :class:`RowMap`."""

    def __init__(self, m_oi: np.ndarray, n: int):
        self.n = n
        m = np.asarray(m_oi).reshape(-1, n, n, m_oi.shape[-1])
        self.n_blocks = len(m)
        self.full = None if _KERNEL is not None and _is_hermitian(m) else RowMap(m_oi)
        if self.full is not None:
            return
        low_i, low_j = np.tril_indices(n)
        re_rows = m[:, low_i, low_j].real.reshape(-1, m.shape[-1])  # (n_blocks n_low, n_in)
        im_all = m[:, low_i, low_j].imag.reshape(-1, m.shape[-1])
        live = np.flatnonzero(np.any(im_all != 0.0, axis=1))  # imaginary parts not always zero
        n_kept = len(re_rows) + len(live)
        self.rows = RowMap(np.concatenate([re_rows, im_all[live], np.zeros((1, m.shape[-1]))]))
        # where each element's real and imaginary parts are among the rows' outputs o, followed by
        # their negatives -o (at n_kept + 1 + index); the zero row's output for the zeros
        lower = np.zeros((n, n), int)  # element (i, j) -> its lower-triangle position
        lower[low_i, low_j] = lower[low_j, low_i] = np.arange(len(low_i))
        blocks = np.arange(self.n_blocks)[:, None, None] * len(low_i)
        at_low = (blocks + lower).ravel()  # (n_blocks n²,)
        im_out = np.full(len(im_all), n_kept)  # the zero row's output
        im_out[live] = len(re_rows) + np.arange(len(live))
        upper = np.broadcast_to(np.triu(np.ones((n, n), bool), 1), (self.n_blocks, n, n)).ravel()
        im_at = im_out[at_low] + np.where(upper & (im_out[at_low] != n_kept), n_kept + 1, 0)
        self.gather = np.stack([at_low, im_at], axis=1).ravel()  # re, im of each element

    def __call__(self, x_bi: np.ndarray) -> np.ndarray:
        """The matrices (B, n_blocks, n, n), complex, for rows x (B, n_in)."""
        if self.full is not None:
            return self.full(x_bi).reshape(-1, self.n_blocks, self.n, self.n)
        out = self.rows(x_bi)
        both = np.concatenate([out, -out], axis=1)
        y = np.empty((len(out), self.n_blocks, self.n, self.n), complex)
        np.take(both, self.gather, axis=1, out=y.view(float).reshape(len(out), -1))
        return y


def _is_hermitian(m_bnni: np.ndarray) -> bool:
    """Whether every block of rows (n_blocks, n, n, n_in) is exactly its conjugate transpose."""
    return bool(np.array_equal(m_bnni, np.conj(np.swapaxes(m_bnni, 1, 2))))
