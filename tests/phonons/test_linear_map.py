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
