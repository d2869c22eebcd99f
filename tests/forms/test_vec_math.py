"""The vectorisable exp and log of the numba kernels (gafit.forms.vec_math) against numpy: within
two units in the last place over the whole range of doubles, and the same inf, 0 and nan."""

from __future__ import annotations

import numpy as np
import pytest

from gafit.forms import vec_math

numba = pytest.importorskip("numba")


def _loop(fn):
    @numba.njit(error_model="numpy")
    def apply(x: np.ndarray, out: np.ndarray) -> None:
        for k in range(x.shape[0]):
            out[k] = fn(x[k])
    return apply


EXPS = {"vexp": _loop(vec_math.vexp), "vexp_fma": _loop(vec_math.vexp_fma)}
LOGS = {"vlog": _loop(vec_math.vlog), "vlog_fma": _loop(vec_math.vlog_fma)}


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return np.abs(got - want) / np.spacing(np.abs(want))


@pytest.mark.parametrize("name", EXPS)
def test_vexp_is_within_two_ulp_of_numpy_everywhere(name: str) -> None:
    _apply_exp = EXPS[name]
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(-745.2, 709.9, 200_000), rng.uniform(-2.0, 2.0, 100_000),
                        rng.uniform(-1e-9, 1e-9, 1000), np.arange(-745, 710, 0.5) * np.log(2.0),
                        [0.0, -0.0, 1.0, -1.0, 709.78, 709.79, -708.4, -745.0, -745.2, 1e-320]])
    got = np.empty_like(x)
    _apply_exp(x, got)
    with np.errstate(over="ignore"):
        want = np.exp(x)
    normal = np.isfinite(want) & (want >= np.finfo(float).tiny)
    assert _ulps(got[normal], want[normal]).max() <= 2.0
    # subnormal results to their absolute resolution, overflow and underflow exactly
    tiny = ~normal & np.isfinite(want)
    assert np.all(np.abs(got[tiny] - want[tiny]) <= 4 * np.finfo(float).smallest_subnormal)
    assert tiny.sum() > 100 and np.isinf(want).sum() > 10
    np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)])
    specials = np.array([np.inf, -np.inf, np.nan, 800.0, -800.0])
    got = np.empty_like(specials)
    _apply_exp(specials, got)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got, np.exp(specials))


@pytest.mark.parametrize("name", LOGS)
def test_vlog_is_within_two_ulp_of_numpy_on_normal_numbers(name: str) -> None:
    _apply_log = LOGS[name]
    rng = np.random.default_rng(4)
    x = np.concatenate([np.exp(rng.uniform(-700.0, 709.0, 200_000)), rng.uniform(0.5, 2.0, 100_000),
                        1.0 + rng.uniform(-1e-7, 1e-7, 1000), np.sqrt([0.5, 2.0]),
                        [1.0, 2.0, np.finfo(float).tiny, np.finfo(float).max]])
    got = np.empty_like(x)
    _apply_log(x, got)
    want = np.log(x)
    nonzero = want != 0.0
    assert _ulps(got[nonzero], want[nonzero]).max() <= 2.0
    assert np.all(got[~nonzero] == 0.0)
    specials = np.array([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan])
    got = np.empty_like(specials)
    _apply_log(specials, got)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_array_equal(got, np.log(specials))


def test_exp_is_numpys_on_arrays_and_vexp_fma_in_compiled_code() -> None:
    """The pair forms' exp: numpy's on arrays (the numpy path, the parameter derivatives), vexp
    with fused multiply-adds on the floats of the numba kernels."""
    x = np.linspace(-30.0, 30.0, 1001)
    np.testing.assert_array_equal(vec_math.exp(x), np.exp(x))
    got, want = np.empty_like(x), np.empty_like(x)
    _loop(vec_math.exp)(x, got)
    EXPS["vexp_fma"](x, want)
    np.testing.assert_array_equal(got, want)


def test_vsin_cos_is_numpys_on_the_cutoff_band() -> None:
    """The Tersoff cutoff's sine and cosine of |x| <= pi/2: sine within 2 ulp of numpy's, cosine
    within 2e-16 absolute (its argument ends near pi/2, where it goes to 0) and 2 ulp where it is
    not small."""
    @numba.njit(error_model="numpy")
    def apply(x: np.ndarray, sin: np.ndarray, cos: np.ndarray) -> None:
        for k in range(x.shape[0]):
            sin[k], cos[k] = vec_math.vsin_cos_fma(x[k])

    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(-np.pi / 2, np.pi / 2, 300_000),
                        rng.uniform(-1e-6, 1e-6, 1000), [0.0, np.pi / 2, -np.pi / 2, 1e-300]])
    sin, cos = np.empty_like(x), np.empty_like(x)
    apply(x, sin, cos)
    nonzero = np.sin(x) != 0.0
    assert _ulps(sin[nonzero], np.sin(x[nonzero])).max() <= 2.0
    assert np.all(sin[~nonzero] == 0.0)
    assert np.abs(cos - np.cos(x)).max() <= 2e-16
    not_small = np.abs(x) < 1.0
    assert _ulps(cos[not_small], np.cos(x[not_small])).max() <= 2.0
