"""Which kernel a many-body form takes for a batch of parameter vectors.

The single-vector kernels (what a least-squares step evaluates) give a batch kernel's numbers only
to rounding, and each form takes them below a batch size of its own. A population split into
chunks (one per worker, or by memory) would then give an individual other last bits in a small
chunk than in a large one, and a seed another GA for another number of workers. Inside
:func:`population_rows` every form takes the kernel of a large batch, whatever the size of the
batch it is given, so that a population's rows do not depend on how it is split."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

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


def vector_by_vector(evaluate_one: Callable[[int], tuple[np.ndarray, ...]], n_b: int
                     ) -> tuple[np.ndarray, ...]:
    """A single-vector kernel over a batch: ``evaluate_one(b)`` (energies (1, S), forces (1, 3N),
    virials (1, S, 6) of vector b) for each of the n_b vectors, stacked along the batch."""
    parts = [evaluate_one(b) for b in range(n_b)]
    if n_b == 1:
        return parts[0]
    return tuple(np.concatenate(x) for x in zip(*parts, strict=True))
