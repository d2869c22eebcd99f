"""gafit.phonons.linear_map.RowMap: x mᵀ row by row, whatever the batch."""

from __future__ import annotations

import numpy as np
import pytest

from gafit.phonons import linear_map
from gafit.phonons.linear_map import RowMap


@pytest.mark.parametrize("dtype", [float, complex])
@pytest.mark.parametrize("n_out", [3, linear_map.COLUMNS, 2 * linear_map.COLUMNS + 5])
def test_rows_give_the_product_and_the_same_numbers_in_any_batch(dtype: type, n_out: int) -> None:
    rng = np.random.default_rng(n_out)
    m = rng.normal(size=(n_out, 37)).astype(dtype)
    if dtype is complex:
        m += 1j * rng.normal(size=m.shape)
    x = rng.normal(size=(11, 37))
    y = RowMap(m)(x)
    assert y.dtype == np.dtype(dtype) and y.shape == (11, n_out)
    np.testing.assert_allclose(y, x @ m.T, rtol=1e-12, atol=1e-12)
    for a, b in [(0, 1), (3, 4), (2, 9), (5, 11), (0, 11)]:  # alone, in fours and the rest
        np.testing.assert_array_equal(RowMap(m)(x[a:b]), y[a:b])


def test_without_numba_it_is_einsum(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    m = rng.normal(size=(20, 8)) + 1j * rng.normal(size=(20, 8))
    x = rng.normal(size=(5, 8))
    monkeypatch.setattr(linear_map, "_KERNEL", None)
    np.testing.assert_array_equal(RowMap(m)(x), np.einsum("bi,oi->bo", x, m))


def hermitian_rows(rng: np.random.Generator, n_blocks: int, n: int, n_in: int) -> np.ndarray:
    """Rows (n_blocks n², n_in) of maps onto Hermitian n x n matrices, the upper triangle's rows
    exactly the conjugates of the lower's, and some imaginary parts zero throughout (as at a
    q-point with real phases)."""
    m = rng.normal(size=(n_blocks, n, n, n_in)) + 1j * rng.normal(size=(n_blocks, n, n, n_in))
    m[0].imag = 0.0
    m[1:, 1, 0].imag = 0.0
    low_i, low_j = np.tril_indices(n, -1)
    m[:, low_j, low_i] = np.conj(m[:, low_i, low_j])
    idx = np.arange(n)
    m[:, idx, idx] = m[:, idx, idx].real
    return m.reshape(-1, n_in)


def test_hermitian_rows_give_the_full_maps_numbers_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    m = hermitian_rows(rng, 3, 6, 29)
    x = rng.normal(size=(9, 29))
    x[4, 7] = np.nan  # a bad individual stays bad
    h = linear_map.HermitianRowMap(m, 6)
    assert h.full is None  # the lower triangle's products only
    assert h.rows.m_io.shape[1] < m.shape[0]
    want = RowMap(m)(x).reshape(9, 3, 6, 6)
    got = h(x)
    np.testing.assert_array_equal(got[np.arange(9) != 4], want[np.arange(9) != 4])
    assert not np.isfinite(got[4]).all()
    for a, b in [(0, 1), (2, 9)]:
        np.testing.assert_array_equal(h(x[a:b]), got[a:b])


def test_a_map_that_is_not_exactly_hermitian_takes_every_product() -> None:
    rng = np.random.default_rng(4)
    m = hermitian_rows(rng, 2, 4, 11)
    m[4, 3] *= 1.0 + 1e-15  # element (1, 0) of block 0: no longer the conjugate of (0, 1)
    x = rng.normal(size=(3, 11))
    h = linear_map.HermitianRowMap(m, 4)
    assert h.full is not None
    np.testing.assert_array_equal(h(x), RowMap(m)(x).reshape(3, 2, 4, 4))
