"""The vector lanes of the numba kernels (gafit.forms.lanes): each lane gets numpy's IEEE
operation bit for bit (vector with vector, with a float on either side), loads and stores move
the LANES doubles at a flat index, and anything but a C-contiguous float64 array is refused."""

from __future__ import annotations

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from gafit.forms.lanes import LANES, vadd, vdiv, vload, vmul, vstore, vsub  # noqa: E402


@numba.njit(error_model="numpy")
def _apply(a: np.ndarray, b: np.ndarray, s: float, out: np.ndarray) -> None:
    # out[op, k] for the ops below, each on rows of LANES doubles
    for at in range(0, a.shape[0], LANES):
        u, v = vload(a, at), vload(b, at)
        vstore(out[0], at, vadd(u, v))
        vstore(out[1], at, vsub(u, v))
        vstore(out[2], at, vmul(u, v))
        vstore(out[3], at, vdiv(u, v))
        vstore(out[4], at, vsub(s, u))
        vstore(out[5], at, vdiv(u, s))
        vstore(out[6], at, vdiv(s, u))
        vstore(out[7], at, vmul(vadd(vmul(u, s), v), u))
        vstore(out[8], at, s)


def _doubles(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(size=n) * 10.0 ** rng.integers(-300, 300, n)
    x[: 8] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-310, -5e-324, 1.0]
    return x


def test_each_lane_is_numpys_operation_bit_for_bit() -> None:
    rng = np.random.default_rng(5)
    n = 64 * LANES
    a, b, s = _doubles(rng, n), rng.permutation(_doubles(rng, n)), 0.1
    out = np.empty((9, n))
    _apply(a, b, s, out)
    with np.errstate(all="ignore"):
        want = [a + b, a - b, a * b, a / b, s - a, a / s, s / a, (a * s + b) * a,
                np.full(n, s)]
    for k, w in enumerate(want):
        np.testing.assert_array_equal(out[k], w, err_msg=f"op {k}")


@numba.njit
def _shift(a: np.ndarray, at: int, to: int) -> None:
    vstore(a, to, vload(a, at))


def test_load_and_store_move_lanes_doubles_at_a_flat_index() -> None:
    a = np.arange(4.0 * LANES).reshape(4, LANES)
    _shift(a, 3, 2 * LANES + 1)
    want = np.arange(4.0 * LANES)
    want[2 * LANES + 1 : 3 * LANES + 1] = np.arange(3.0, 3.0 + LANES)
    np.testing.assert_array_equal(a.ravel(), want)


@pytest.mark.parametrize("array", [np.zeros(2 * LANES, np.float32),
                                   np.zeros((LANES, 2))[:, 0],
                                   np.zeros((2, LANES), order="F")])
def test_other_arrays_are_refused(array: np.ndarray) -> None:
    with pytest.raises(numba.core.errors.TypingError, match="C-contiguous float64"):
        _shift(array, 0, 0)

