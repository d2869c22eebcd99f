"""Which kernel a many-body form takes for a batch of parameter vectors.

The single-vector kernels (what a least-squares step evaluates) give a batch kernel's numbers only
to rounding, and each form takes them below a batch size of its own. A population split into
chunks (one per worker, or by memory) would then give an individual other last bits in a small
chunk than in a large one, and a seed another GA for another number of workers. Inside
:func:`population_rows` every form takes the kernel of a large batch, whatever the size of the
batch it is given, so that a population's rows do not depend on how it is split."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_POPULATION: ContextVar[bool] = ContextVar("gafit_population_rows", default=False)


@contextmanager
def population_rows() -> Iterator[None]:
    """Within the block, forms evaluate every batch with their large-batch kernels."""
    token = _POPULATION.set(True)
    try:
        yield
    finally:
        _POPULATION.reset(token)


def as_population() -> bool:
    """Whether the caller is inside :func:`population_rows`."""
    return _POPULATION.get()
