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
