"""How gafit's numba kernels are compiled: ``error_model="numpy"`` (a division by zero gives inf or
NaN, scored as bad, as in numpy) and, for every function that is not inlined into another, numba's
disk cache (``__pycache__`` beside the module), so that a fit's processes load the machine code
instead of compiling it again (about 10 s for the Tersoff kernels). Where no cache can be written
the functions compile in each process.

numba's cache follows the defining file only: after editing a module that a cached kernel inlines
(gafit/forms/vec_math.py, gafit/forms/lanes.py, ...) without touching the kernel's own file, delete
the ``*.nbi``/``*.nbc`` files of ``__pycache__`` (an installed gafit rewrites every file, which
invalidates them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    import numba
except ImportError:  # pragma: no cover - numba is optional
    numba = None


def njit(fn: Callable | None = None, *, inline: str = "never", fastmath: Any = False) -> Any:
    """``numba.njit`` as gafit's kernels use it (see the module's docstring); the function itself
    without numba. As a decorator with or without arguments."""
    if fn is None:
        return lambda f: njit(f, inline=inline, fastmath=fastmath)
    if numba is None:
        return fn
    options = {"error_model": "numpy", "fastmath": fastmath, "inline": inline}
    if inline == "never":
        try:
            return numba.njit(cache=True, **options)(fn)
        except RuntimeError:  # no writable place for the cache
            pass
    return numba.njit(**options)(fn)
