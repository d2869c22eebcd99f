"""exp and log for numba kernels, written in plain arithmetic so that a loop over a batch of
individuals vectorises (numba has no vector math library here: ``math.exp`` in a loop is one
scalar library call per element, which also stops the loop from vectorising); and sine and
cosine of |x| <= pi/2 (:func:`vsin_cos_fma`, for the Tersoff cutoff), which need no argument
reduction.

exp and log are accurate to about one unit in the last place (tested against numpy over the whole range
of doubles); they return inf, 0, -inf and nan where numpy's exp and log do, without raising.
Subnormal arguments of :func:`vlog` are not supported (its callers take logarithms of numbers far
above 1e-300). :func:`vexp` and :func:`vlog` are for compiled code (they need numba); :func:`exp`
works everywhere.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

try:
    import numba
    from llvmlite import ir
    from numba.core import types
    from numba.extending import intrinsic, overload
except ImportError:  # pragma: no cover - numba is optional
    numba = None

_LOG2E = 1.4426950408889634
# ln 2 in two parts (fdlibm's): k * _LN2_HI is exact for |k| < 2**20
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_SQRT2 = 1.4142135623730951
_EXP_MAX = 709.782712893384  # exp(x) overflows above
_EXP_MIN = -745.1332191019412  # and is 0 below


if numba is not None:
    @intrinsic
    def _f64_from_bits(typingctx, bits):
        """The double whose IEEE bits are the int64 ``bits``."""
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.DoubleType())
        return types.float64(types.int64), codegen

    @intrinsic
    def _bits_of_f64(typingctx, x):
        """The IEEE bits of the double ``x``, as an int64."""
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.IntType(64))
        return types.int64(types.float64), codegen

    def _jit(fn):
        return numba.njit(inline="always", error_model="numpy")(fn)

    def _jit_fma(fn):
        # compiled apart (the compiler still inlines it) so that its flags stay its own
        return numba.njit(error_model="numpy", fastmath={"contract"})(fn)
else:  # pragma: no cover
    def _jit(fn):
        return fn

    _jit_fma = _jit


def _exp(x: float) -> float:
    """e**x to about 1 ulp: x = k ln 2 + r with |r| <= ln(2)/2, a degree-13 Taylor polynomial of
    e**r, times 2**k in two factors (so that k down to -1075 gives subnormals, not garbage)."""
    xc = x if x > _EXP_MIN else _EXP_MIN  # also maps nan to a finite number (selected below)
    xc = xc if xc < _EXP_MAX + 1.0 else _EXP_MAX + 1.0
    k = math.floor(xc * _LOG2E + 0.5)
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    # Estrin's scheme for the terms r^4/4! .. r^13/13! (pairs, then quadruples: a short chain of
    # dependent operations), Horner's for the low terms, so that the last steps add to 1 as
    # Horner's do (the same accuracy; half the latency, which bounds chains such as exp(log))
    r2 = r * r
    r4 = r2 * r2
    h0 = (1.0 / 24.0 + r * (1.0 / 120.0)) + r2 * (1.0 / 720.0 + r * (1.0 / 5040.0))
    h1 = (1.0 / 40320.0 + r * (1.0 / 362880.0)) + r2 * (1.0 / 3628800.0 + r * (1.0 / 39916800.0))
    h2 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0)
    p = h0 + r4 * (h1 + r4 * h2)
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    ki = int(k)
    k1 = ki >> 1
    out = p * _f64_from_bits((k1 + 1023) << 52) * _f64_from_bits((ki - k1 + 1023) << 52)
    out = out if x < _EXP_MAX else math.inf
    out = out if x > _EXP_MIN else 0.0
    return out if x == x else x


def _log(x: float) -> float:
    """ln x to about 1 ulp for normal x > 0 (inf, -inf at 0 and nan below, as np.log): x = 2**e m
    with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s), s = (m - 1)/(m + 1), by its series."""
    bits = _bits_of_f64(x)
    e = (bits >> 52) - 1023
    m = _f64_from_bits((bits & 0xFFFFFFFFFFFFF) | 0x3FF0000000000000)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    ef = float(e + 1 if big else e)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    # p = 1/3 + z/5 + ... + z^10/23 by Estrin's scheme (see _exp)
    z2 = z * z
    z4 = z2 * z2
    q0 = (1.0 / 3.0 + z * (1.0 / 5.0)) + z2 * (1.0 / 7.0 + z * (1.0 / 9.0))
    q1 = (1.0 / 11.0 + z * (1.0 / 13.0)) + z2 * (1.0 / 15.0 + z * (1.0 / 17.0))
    q2 = (1.0 / 19.0 + z * (1.0 / 21.0)) + z2 * (1.0 / 23.0)
    p = q0 + z4 * (q1 + z4 * q2)
    # ln m = f - s f + s z p' arranged as 2 s + 2 s z p: the small correction added last
    t = s + s
    out = ef * _LN2_HI + (t * z * p + (t + ef * _LN2_LO))
    out = out if x < math.inf else x
    out = out if x > 0.0 else (-math.inf if x == 0.0 else math.nan)
    return out if x == x else x


def _sin_cos(x: float) -> tuple[float, float]:
    """(sin x, cos x) for |x| <= pi/2 (no argument reduction), by their Taylor series to x^21
    and x^22 (the first terms left out are below 1e-17 there): sin within 2 ulp of numpy's, cos
    within 2e-16 absolute (relative where it is not near 0)."""
    z = x * x
    # sin x = x + x z P(z), P(z) = -1/3! + z/5! - ... + z^9/21!
    p = -1.0 / 51090942171709440000.0
    p = p * z + 1.0 / 121645100408832000.0
    p = p * z - 1.0 / 355687428096000.0
    p = p * z + 1.0 / 1307674368000.0
    p = p * z - 1.0 / 6227020800.0
    p = p * z + 1.0 / 39916800.0
    p = p * z - 1.0 / 362880.0
    p = p * z + 1.0 / 5040.0
    p = p * z - 1.0 / 120.0
    p = p * z + 1.0 / 6.0
    sin = x - (x * z) * p
    # cos x = 1 - z/2 + z^2 Q(z), Q(z) = 1/4! - z/6! + ... + z^9/22!
    q = 1.0 / 1124000727777607680000.0
    q = q * z - 1.0 / 2432902008176640000.0
    q = q * z + 1.0 / 6402373705728000.0
    q = q * z - 1.0 / 20922789888000.0
    q = q * z + 1.0 / 87178291200.0
    q = q * z - 1.0 / 479001600.0
    q = q * z + 1.0 / 3628800.0
    q = q * z - 1.0 / 40320.0
    q = q * z + 1.0 / 720.0
    q = q * z - 1.0 / 24.0
    cos = (1.0 - 0.5 * z) - (z * z) * q
    return sin, cos


vexp = _jit(_exp)
vlog = _jit(_log)
#: the same with fused multiply-adds (faster; equal to the others to about 1 ulp, not to the bit)
vexp_fma = _jit_fma(_exp)
vlog_fma = _jit_fma(_log)
#: sine and cosine of |x| <= pi/2, vectorisable (with fused multiply-adds)
vsin_cos_fma = _jit_fma(_sin_cos)


def exp(x: Any) -> Any:
    """``np.exp(x)``; inside numba-compiled code, on a float, :func:`vexp_fma`, so that a pair
    form's ``pair_energy`` written with it vectorises in the fused pair kernels (the same to about
    1 ulp; the single-vector and batched kernels both use it, so they still agree to the bit)."""
    return np.exp(x)


if numba is not None:
    @overload(exp)
    def _exp_in_numba(x):
        if isinstance(x, types.Float):
            return lambda x: vexp_fma(x)
        return lambda x: np.exp(x)
