"""Progress of a fit's set-up (reading data, building tables, probing phonopy), which can take
a minute on a first run: a bar on standard error for the long steps, shown on a terminal unless
the caller is quiet (``with quiet_setup(): ...``, as ``gafit fit --quiet`` does)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")

_QUIET: ContextVar[bool] = ContextVar("gafit_quiet_setup", default=False)


@contextmanager
def quiet_setup(quiet: bool = True) -> Iterator[None]:
    """No set-up progress bars inside the block (with ``quiet``)."""
    token = _QUIET.set(quiet)
    try:
        yield
    finally:
        _QUIET.reset(token)


def steps(items: Iterable[T], total: int, desc: str) -> Iterable[T]:
    """``items`` with a progress bar (``desc``, ``total`` steps) on a terminal, none when quiet."""
    if _QUIET.get():
        return items
    from tqdm import tqdm

    # disable=None: only where standard error is a terminal (not in logs nor in tests)
    return tqdm(items, total=total, desc=desc, unit="step", file=sys.stderr, leave=False,
                disable=None, dynamic_ncols=True, mininterval=0.5)
