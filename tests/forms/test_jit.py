"""gafit.forms.jit.njit: numba's disk cache for the kernels that are not inlined, and a compile in
each process where no cache can be written."""

from __future__ import annotations

import pytest

from gafit.forms import jit
from gafit.forms.tersoff import kernel

numba = pytest.importorskip("numba")


def _twice(x: float) -> float:
    return 2.0 * x


def _cached(dispatcher) -> bool:
    return type(dispatcher._cache).__name__ != "NullCache"


def test_kernels_are_cached_on_disk_and_inlined_helpers_are_not() -> None:
    assert _cached(jit.njit(_twice)) and jit.njit(_twice)(1.5) == 3.0
    assert not _cached(jit.njit(_twice, inline="always"))
    assert _cached(kernel._kernel_batch)  # the Tersoff batch kernel: about 10 s to compile


def test_without_a_writable_cache_it_compiles_in_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    real = numba.njit

    def no_cache(*args, cache=False, **kwargs):
        if cache:
            raise RuntimeError("cannot cache function '_twice': no locator available")
        return real(*args, **kwargs)

    monkeypatch.setattr(jit.numba, "njit", no_cache)
    d = jit.njit(_twice)
    assert not _cached(d) and d(2.0) == 4.0


_SOURCE = """
def kernel(x):
    return fn(x) + 1.0
"""


def _inlined(x: float) -> float:
    return 3.0 * x


def test_generated_kernels_are_files_named_by_what_they_inline(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GAFIT_CACHE_DIR", str(tmp_path))
    fn = numba.njit(inline="always")(_inlined)
    k = jit.compile_generated(_SOURCE, {"fn": fn}, "kernel", [_inlined], "<test>")
    assert k(2.0) == 7.0 and _cached(k)
    files = sorted((tmp_path / "kernels").glob("k*.py"))
    assert len(files) == 1 and files[0].read_text() == _SOURCE
    jit.compile_generated(_SOURCE, {"fn": fn}, "kernel", [_inlined], "<test>")
    assert len(list((tmp_path / "kernels").glob("k*.py"))) == 1  # the same file again
    jit.compile_generated(_SOURCE, {"fn": fn}, "kernel", [_twice], "<test>")  # other inlined code
    assert len(list((tmp_path / "kernels").glob("k*.py"))) == 2


def test_generated_kernels_without_a_cache_or_a_source(tmp_path, monkeypatch) -> None:
    fn = numba.njit(inline="always")(_inlined)
    monkeypatch.setenv("GAFIT_CACHE_DIR", "off")
    k = jit.compile_generated(_SOURCE, {"fn": fn}, "kernel", [_inlined], "<test>")
    assert k(1.0) == 4.0 and not _cached(k)
    monkeypatch.setenv("GAFIT_CACHE_DIR", str(tmp_path))
    sourceless = eval("lambda x: 3.0 * x")  # no file to read its source from
    k = jit.compile_generated(_SOURCE, {"fn": numba.njit(inline="always")(sourceless)}, "kernel",
                              [sourceless], "<test>")
    assert k(1.0) == 4.0 and not _cached(k) and not (tmp_path / "kernels").exists()


def test_a_second_process_loads_the_pair_kernels_from_the_cache(tmp_path) -> None:
    """The pair forms' generated kernels (batch, single vector, Jacobian): compiled by the first
    process, loaded from numba's cache by the next."""
    script = (
        "import numpy as np\n"
        "from gafit.forms.morse import Morse\n"
        "from gafit.forms import pair_kernel, pair_jacobian\n"
        "from helpers import varied_structures\n"
        "from gafit.structures import ReferenceSet\n"
        "form, values = Morse.example(['Cu', 'Ag'])\n"
        "tab = form.build_tables(ReferenceSet(varied_structures(seed=1), 'x'))\n"
        "form.evaluate(np.tile(values, (3, 1)), tab)\n"
        "form.evaluate(values[None], tab)\n"
        "form.parameter_derivatives(values, tab)\n"
        "kernels = [*pair_kernel._KERNELS.values(), *pair_kernel._SINGLE.values(),\n"
        "           *pair_jacobian._KERNELS.values()]\n"
        "print(sum(len(k.stats.cache_hits) for k in kernels), len(kernels))\n")
    import os
    import subprocess
    import sys

    from helpers import ROOT
    env = dict(os.environ, GAFIT_CACHE_DIR=str(tmp_path),
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, check=True).stdout.split() for _ in range(2)]
    assert runs[0] == ["0", "3"]  # compiled
    assert runs[1] == ["3", "3"]  # each loaded from the cache


def test_cached_kernels_are_dropped_when_any_source_changes(tmp_path) -> None:
    """numba's cache follows a kernel's own file only: an edit of any module of the package (an
    inlined helper's) drops every cached kernel, once."""
    (tmp_path / "sub" / "__pycache__").mkdir(parents=True)
    (tmp_path / "kernel.py").write_text("x = 1\n")
    (tmp_path / "sub" / "helper.py").write_text("y = 1\n")
    cached = [tmp_path / "sub" / "__pycache__" / "kernel.f-1.py311.nbi",
              tmp_path / "sub" / "__pycache__" / "kernel.f-1.py311.1.nbc"]

    def write_cache() -> None:
        for f in cached:
            f.write_bytes(b"machine code")

    write_cache()
    assert jit.forget_stale_caches(tmp_path)  # no digest yet: whatever is there may be stale
    assert not any(f.exists() for f in cached)
    write_cache()
    assert not jit.forget_stale_caches(tmp_path)  # the same sources: kept
    assert all(f.exists() for f in cached)
    (tmp_path / "sub" / "helper.py").write_text("y = 2\n")  # an inlined helper edited
    assert jit.forget_stale_caches(tmp_path)
    assert not any(f.exists() for f in cached)
    assert (tmp_path / "kernel.py").exists() and (tmp_path / "sub" / "helper.py").exists()
