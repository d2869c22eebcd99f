"""How gafit's numba kernels are compiled: ``error_model="numpy"`` (a division by zero gives inf or
NaN, scored as bad, as in numpy) and, for every function that is not inlined into another, numba's
disk cache (``__pycache__`` beside the module), so that a fit's processes load the machine code
instead of compiling it again (about 10 s for the Tersoff kernels). Where no cache can be written
the functions compile in each process. Kernels generated from source (the pair forms', one per
form and number of parameters) are cached the same way through a file of gafit's disk cache
(:func:`compile_generated`).

numba's cache follows the defining file only: a kernel that inlines a function of another module
(gafit/forms/vec_math.py, gafit/forms/lanes.py, ...) would keep running the old code after an edit of
that module alone. So at import the sources of gafit/forms are digested, and where they differ from
those the caches were written with (an edit, another branch checked out), every cached kernel of
gafit/forms is dropped and compiled again on first use (:func:`forget_stale_caches`).
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gafit import disk_cache

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


def compile_generated(source: str, namespace: dict, name: str,
                      inlined: Sequence[Callable | types.ModuleType], where: str) -> Callable:
    """``numba.njit`` (error_model numpy) of the function ``name`` that ``source`` defines, with
    ``namespace`` as its globals, cached on disk like a module's kernels: the source is written to
    a file of gafit's disk cache (:mod:`gafit.disk_cache`, ``kernels/``) named by a digest of it,
    of numba's version and of the source of everything it inlines (``inlined``: functions and
    modules), so that an edit of any of them is another file. Without a cache folder, or where an
    inlined function's source cannot be read (one defined interactively), it is compiled in each
    process from ``where`` (a pseudo file name for tracebacks)."""
    path = _generated_file(source, inlined)
    if path is None:  # numba finds no cache for the pseudo file: njit compiles in the process
        exec(compile(source, where, "exec"), namespace)
        return njit(namespace[name])
    # a module of its own, importable by name: numba's cache rebuilds a function's globals so
    module = sys.modules.get(f"gafit_kernel_{path.stem}") or types.ModuleType(
        f"gafit_kernel_{path.stem}")
    module.__dict__.update(namespace)
    module.__file__ = str(path)
    sys.modules[module.__name__] = module
    exec(compile(source, str(path), "exec"), module.__dict__)
    return njit(module.__dict__[name])


def _generated_file(source: str, inlined: Sequence[Callable | types.ModuleType]) -> Path | None:
    root = disk_cache.folder()
    if root is None or numba is None:
        return None
    parts = [source, f"numba {numba.__version__}"]
    try:
        for item in inlined:
            parts.append(inspect.getsource(item))
    except (OSError, TypeError):
        return None
    path = root / "kernels" / f"k{disk_cache.digest(parts)[:32]}.py"
    if not path.is_file() and not disk_cache.write_whole(path, source):
        return None
    return path


#: the package whose kernels numba caches (gafit/forms)
FORMS = Path(__file__).resolve().parent


def forget_stale_caches(root: Path = FORMS) -> bool:
    """Drop numba's cached kernels (``*.nbi``, ``*.nbc``) below ``root`` (gafit/forms) where its
    Python sources are not those the caches were written with (a digest kept in
    ``root/__pycache__``); True when it dropped them. Silently nothing where ``root`` cannot be
    written (an installed package is rewritten whole, which invalidates its caches anyway)."""
    sources = sorted(root.rglob("*.py"))
    digest = disk_cache.digest(part for f in sources
                               for part in (str(f.relative_to(root)), f.read_bytes()))
    stamp = root / "__pycache__" / "gafit-sources.sha256"
    try:
        if stamp.is_file() and stamp.read_text() == digest:
            return False
        for pattern in ("*.nbi", "*.nbc"):
            for f in root.rglob(pattern):
                f.unlink(missing_ok=True)
    except OSError:
        return False
    return disk_cache.write_whole(stamp, digest)


if numba is not None:
    forget_stale_caches()
