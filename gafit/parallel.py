"""Evaluating a population across workers: local processes, or a Dask cluster.

The objective (with its geometry tables) goes to each worker once; every generation then sends only
the parameter vectors. Each individual's loss does not depend on how the population is split, so
the same seed gives the same result for any number of workers.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from gafit.structures import GafitInputError

_OBJECTIVE: Any = None  # the objective inside a local worker process
_SUBSET: Any = None  # and the objective on a subset of the structures, if any


def _init_worker(objective: Any, subset: Any = None) -> None:
    global _OBJECTIVE, _SUBSET
    _OBJECTIVE, _SUBSET = objective, subset
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _local_loss(task: tuple[np.ndarray, bool]) -> np.ndarray:
    x, subset = task
    return (_SUBSET if subset else _OBJECTIVE).loss(x)


def _dask_loss(x: np.ndarray, objective: Any) -> np.ndarray:
    return objective.loss(x)


def _refine(objective: Any, task: tuple, progress: Callable[[int, float], None] | None = None
            ) -> Any:
    from gafit.refine import refine

    x0, lower, upper, max_evaluations, jacobian, deadline = task
    analytic = objective.jacobian if jacobian != "finite-difference" else None
    return refine(objective.residuals, x0, lower, upper, max_evaluations, analytic=analytic,
                  deadline=deadline, progress=progress)


def _local_refine(task: tuple) -> Any:
    return _refine(_OBJECTIVE, task)


def _dask_refine(task: tuple, objective: Any) -> Any:
    return _refine(objective, task)


class PopulationEvaluator:
    """``loss(x)`` for a batch of free vectors, split over ``workers`` processes or a Dask cluster;
    ``loss(x, subset=True)`` with the ``subset`` objective (the same potential on fewer structures).
    """

    def __init__(self, objective: Any, workers: int = 1, scheduler: str = "", subset: Any = None):
        self.objective = objective
        self.subset = subset
        self._remote_subset = None
        self.workers = max(int(workers), 1)
        self._pool = None
        self._client = None
        self._remote = None
        if scheduler:
            try:
                from dask.distributed import Client
            except ImportError:
                raise GafitInputError("a Dask scheduler was given but dask.distributed is not "
                                      "installed: pip install 'dask[distributed]'") from None
            try:
                self._client = Client(scheduler, timeout=30)
            except OSError as err:
                raise GafitInputError(f"cannot reach the Dask scheduler {scheduler}: {err}") from None
            self._remote = self._client.scatter(objective, broadcast=True)
            if subset is not None:
                self._remote_subset = self._client.scatter(subset, broadcast=True)
            self.workers = max(sum(self._client.nthreads().values()), 1)
        elif self.workers > 1:
            # fork: workers inherit the objective without pickling its tables
            ctx = mp.get_context("fork")
            self._pool = ctx.Pool(self.workers, initializer=_init_worker,
                                  initargs=(objective, subset))

    def loss(self, x: np.ndarray, subset: bool = False) -> np.ndarray:
        x = np.atleast_2d(x)
        if subset and self.subset is None:
            raise ValueError("no subset objective was given")
        if self._client is None and self._pool is None:
            return (self.subset if subset else self.objective).loss(x)
        chunks = [c for c in np.array_split(x, min(self.workers, len(x))) if len(c)]
        if self._client is not None:
            remote = self._remote_subset if subset else self._remote
            futures = self._client.map(_dask_loss, chunks, objective=remote, pure=False)
            parts = self._client.gather(futures)
        else:
            parts = self._pool.map(_local_loss, [(c, subset) for c in chunks])
        return np.concatenate(parts)

    def refine_all(self, starts: list[np.ndarray], lower: np.ndarray, upper: np.ndarray,
                   max_evaluations: int, jacobian: str = "auto", deadline: float | None = None,
                   progress: Callable[[int, int, float], None] | None = None) -> list[Any]:
        """Least-squares refinements from several starts, one start per worker at a time;
        ``jacobian`` as ``[refine] jacobian``, ``deadline`` a ``time.time()`` at which each stops.
        ``progress(k, evaluations, best_loss)`` reports start k: after every evaluation here, when
        it is done on workers."""
        tasks = [(x0, lower, upper, max_evaluations, jacobian, deadline) for x0 in starts]
        if self._client is None and self._pool is None:
            return [_refine(self.objective, t, None if progress is None else
                            (lambda n, loss, k=k: progress(k, n, loss)))
                    for k, t in enumerate(tasks)]
        if self._client is not None:
            futures = self._client.map(_dask_refine, tasks, objective=self._remote, pure=False)
            done = iter(self._client.gather(futures))
        else:
            done = self._pool.imap(_local_refine, tasks, chunksize=1)
        results = []
        for k, res in enumerate(done):
            results.append(res)
            if progress is not None:
                progress(k, res.evaluations, res.loss)
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> PopulationEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
