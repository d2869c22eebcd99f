"""Evaluating a population across workers: local processes, or a Dask cluster.

The objective (with its geometry tables) goes to each worker once; every generation then sends only
the parameter vectors. Each individual's predictions do not depend on how the population is split
(every chunk takes the forms' large-batch kernels, :mod:`gafit.forms.rows`); its loss depends on it
only in the last bits (at most about 1e-15 relative: the objective's sums over a batch's
column-major blocks), which can change the GA's choice only between individuals whose losses are
that close. So the same seed gives the same result for any number of workers, short of such ties.

A local worker that dies (killed, out of memory) costs only time: the batch it was part of runs again
on fresh workers, which gives the same losses, so the result stays the one the seed decides.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from gafit.forms.rows import population_rows
from gafit.structures import GafitInputError

#: times one batch may lose a worker and run again on a fresh pool before the fit gives up
MAX_RESTARTS = 3
#: seconds to wait for a Dask scheduler to answer
CONNECT_TIMEOUT_S = 10

_CLIENT_LOG = logging.getLogger("distributed.client")

_OBJECTIVE: Any = None  # the objective inside a local worker process
_SUBSET: Any = None  # and the objective on a subset of the structures, if any


class WorkerError(RuntimeError):
    """Local worker processes kept dying; the message is one line for the CLI."""


def _init_worker(objective: Any, subset: Any = None, parent: int | None = None) -> None:
    global _OBJECTIVE, _SUBSET
    _OBJECTIVE, _SUBSET = objective, subset
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # Ctrl-C reaches the whole process group: the main process decides what to do and ends the
    # workers itself; SIGTERM (the parent may have a handler) must just end a worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int, every_s: float = 0.5) -> None:
    """End this worker once ``parent`` is gone (killed with no chance to end its workers):
    an idle worker would otherwise wait for tasks forever."""
    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(1)


def _population_loss(objective: Any, x: np.ndarray) -> np.ndarray:
    """``objective.loss(x)`` of a population's chunk, with the forms' large-batch kernels
    (:func:`gafit.forms.rows.population_rows`) whatever the chunk's size."""
    with population_rows():
        return objective.loss(x)


def _local_loss(task: tuple[np.ndarray, bool]) -> np.ndarray:
    x, subset = task
    return _population_loss(_SUBSET if subset else _OBJECTIVE, x)


def _dask_loss(x: np.ndarray, objective: Any) -> np.ndarray:
    return _population_loss(objective, x)


def _refine(objective: Any, task: tuple, progress: Callable[[int, float], None] | None = None
            ) -> Any:
    from gafit.refine import refine, wants_analytic

    x0, lower, upper, max_evaluations, jacobian, deadline, *method = task  # method: optional
    analytic = objective.jacobian if wants_analytic(jacobian, objective.potential) else None
    return refine(objective.residuals, x0, lower, upper, max_evaluations, analytic=analytic,
                  deadline=deadline, progress=progress, method=method[0] if method else "trf")


def _local_call(task: tuple[Callable[[Any, Any], Any], Any]) -> Any:
    fn, arg = task
    return fn(_OBJECTIVE, arg)


def _dask_call(arg: Any, fn: Callable[[Any, Any], Any], objective: Any) -> Any:
    return fn(objective, arg)


class _LocalPool:
    """``workers`` forked processes holding the objectives (``initargs`` of :func:`_init_worker`).

    Tasks that a dying worker interrupted run again on a fresh pool, at most :data:`MAX_RESTARTS`
    times per batch, then :class:`WorkerError`.
    """

    def __init__(self, workers: int, initargs: tuple):
        self.workers, self.initargs = workers, initargs
        self.restarts = 0  # pools rebuilt after a lost worker, over the pool's life
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # fork: workers inherit the objective without pickling its tables
        return ProcessPoolExecutor(self.workers, mp_context=mp.get_context("fork"),
                                   initializer=_init_worker, initargs=self.initargs)

    def map(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> list[Any]:
        """``[fn(t) for t in tasks]`` on the workers."""
        return list(self.imap(fn, tasks))

    def imap(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        """``fn(t)`` for each task on the workers, yielded in order as they finish."""
        tasks = list(tasks)
        done: dict[int, Any] = {}
        pending: dict[int, Future] = {}
        lost = 0
        i = 0
        while i < len(tasks):
            try:
                if not pending:
                    pending = {j: self._executor.submit(fn, tasks[j]) for j in range(i, len(tasks))
                               if j not in done}
                if i not in done:
                    done[i] = pending.pop(i).result()
            except BrokenProcessPool:
                lost += 1
                if lost > MAX_RESTARTS:
                    raise WorkerError(
                        f"a worker process died {lost} times in one batch of {len(tasks)} "
                        "evaluations (killed, or out of memory?); giving up: try fewer --workers"
                    ) from None
                done |= {j: f.result() for j, f in pending.items() if _succeeded(f)}
                print("gafit: a worker process died; running its share again on fresh workers",
                      file=sys.stderr)
                self._restart()
                pending = {}
                continue
            yield done.pop(i)
            i += 1

    def _restart(self) -> None:
        self.close(terminate=True)
        self.restarts += 1
        self._executor = self._start()

    def close(self, terminate: bool = False) -> None:
        """Wait for the workers to exit; with ``terminate``, end them first (SIGTERM)."""
        if terminate:
            # ProcessPoolExecutor has no public way to end its workers before Python 3.14
            processes = getattr(self._executor, "_processes", None) or {}
            for process in list(processes.values()):
                if process.is_alive():
                    process.terminate()
        self._executor.shutdown(wait=True, cancel_futures=True)


def _succeeded(future: Future) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None


class PopulationEvaluator:
    """``loss(x)`` for a batch of free vectors, split over ``workers`` processes or a Dask cluster;
    ``loss(x, subset=True)`` with the ``subset`` objective (the same potential on fewer structures).
    """

    def __init__(self, objective: Any, workers: int = 1, scheduler: str = "", subset: Any = None):
        if int(workers) < 1:
            raise GafitInputError(f"workers = {workers}: must be at least 1")
        self.objective = objective
        self.subset = subset
        self._remote_subset = None
        self.workers = int(workers)
        self._pool: _LocalPool | None = None
        self._client = None
        self._remote = None
        self.scheduler = scheduler
        if scheduler:
            # a lost scheduler would be logged as tracebacks from Dask's thread: the fit says it
            # in one line (WorkerError) instead
            self._client = connect(scheduler)  # imports distributed, which sets its log levels
            self._client_log_level = _CLIENT_LOG.level
            _CLIENT_LOG.setLevel(logging.CRITICAL)
            try:
                self._remote = self._client.scatter(objective, broadcast=True)
                if subset is not None:
                    self._remote_subset = self._client.scatter(subset, broadcast=True)
            except OSError as err:  # e.g. a scheduler without workers
                self.close()
                raise GafitInputError(f"--scheduler / [ga] scheduler {scheduler!r}: {err}; "
                                      "start workers with: dask worker ADDRESS") from None
            self.workers = max(sum(self._client.nthreads().values()), 1)
        elif self.workers > 1:
            self._pool = _LocalPool(self.workers, (objective, subset, os.getpid()))

    @property
    def restarts(self) -> int:
        """How often the local workers were replaced after one of them died."""
        return self._pool.restarts if self._pool is not None else 0

    def loss(self, x: np.ndarray, subset: bool = False) -> np.ndarray:
        """Losses (B,) of the free vectors x (B, n_free), on the subset objective with ``subset``;
        every chunk with the forms' large-batch kernels (:func:`_population_loss`), so that a
        vector's predictions are the same in any chunk (its loss to the last bits, see the
        module's docstring)."""
        x = np.atleast_2d(x)
        if subset and self.subset is None:
            raise ValueError("no subset objective was given")
        if self._client is None and self._pool is None:
            return _population_loss(self.subset if subset else self.objective, x)
        chunks = [c for c in np.array_split(x, min(self.workers, len(x))) if len(c)]
        if self._client is not None:
            remote = self._remote_subset if subset else self._remote
            futures = self._client.map(_dask_loss, chunks, objective=remote, pure=False)
            parts = self._gather(futures)
        else:
            parts = self._pool.map(_local_loss, [(c, subset) for c in chunks])
        return np.concatenate(parts)

    def refine_all(self, starts: list[np.ndarray], lower: np.ndarray, upper: np.ndarray,
                   max_evaluations: int, jacobian: str = "auto", deadline: float | None = None,
                   progress: Callable[[int, int, float], None] | None = None,
                   method: str = "trf") -> list[Any]:
        """Least-squares refinements from several starts, one start per worker at a time;
        ``jacobian`` and ``method`` as ``[refine] jacobian`` and ``method``, ``deadline`` a
        ``time.time()`` at which each stops.
        ``progress(k, evaluations, best_loss)`` reports start k: after every evaluation here, when
        it is done on workers."""
        tasks = [(x0, lower, upper, max_evaluations, jacobian, deadline, method) for x0 in starts]
        if self._client is None and self._pool is None:
            return [_refine(self.objective, t, None if progress is None else
                            (lambda n, loss, k=k: progress(k, n, loss)))
                    for k, t in enumerate(tasks)]
        results = []
        for k, res in enumerate(self.each(_refine, tasks)):
            results.append(res)
            if progress is not None:
                progress(k, res.evaluations, res.loss)
        return results

    def each(self, fn: Callable[[Any, Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        """``fn(objective, task)`` for each task, one task per worker at a time, with the objective
        the workers hold; yielded in the order of ``tasks`` (here, one after the other, without
        workers). ``fn`` must be a module-level function (it is pickled by name)."""
        tasks = list(tasks)
        if self._client is not None:
            futures = self._client.map(_dask_call, tasks, fn=fn, objective=self._remote,
                                       pure=False)
            yield from self._gather(futures)
        elif self._pool is not None:
            yield from self._pool.imap(_local_call, [(fn, t) for t in tasks])
        else:
            for t in tasks:
                yield fn(self.objective, t)

    def _gather(self, futures: list) -> list:
        """The results of Dask futures; a cluster that lost its scheduler or all its workers (and
        with them the objective), or a task that kept killing workers, is a :class:`WorkerError`."""
        from concurrent.futures import CancelledError

        from distributed import KilledWorker

        try:
            return self._client.gather(futures)
        except (CancelledError, KilledWorker, OSError) as err:
            why = " ".join(str(err).split())  # one line
            raise WorkerError(f"the Dask cluster at {self.scheduler} failed "
                              f"({type(err).__name__}: {why})") from None

    def close(self, terminate: bool = False) -> None:
        """Let the workers go; with ``terminate`` (the fit stopped on an error or Ctrl-C) end local
        workers at once instead of waiting for them."""
        if self._pool is not None:
            self._pool.close(terminate)
            self._pool = None
        if self._client is not None:
            try:
                self._client.close()
            finally:
                _CLIENT_LOG.setLevel(self._client_log_level)
            self._client = None

    def __enter__(self) -> PopulationEvaluator:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(terminate=exc_type is not None)


#: Dask's address schemes that reach another process
SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def check_scheduler(address: str, option: str = "scheduler") -> None:
    """A :class:`GafitInputError` naming ``option`` unless ``address`` reads as a Dask scheduler
    address: ``[SCHEME://]HOST:PORT`` (SCHEME tcp by default; an IPv6 HOST in brackets)."""
    scheme, sep, location = address.rpartition("://")
    host, _, port = location.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    problem = None
    if sep and scheme not in SCHEMES:
        problem = f"unknown scheme {scheme!r} (known: {', '.join(SCHEMES)})"
    elif ":" not in location:
        problem = "no :PORT"
    elif not host or any(c.isspace() or c in "/[]" for c in host):
        problem = f"{host!r} is not a host name"
    elif not (port.isdigit() and 0 < int(port) < 65536):
        problem = f"port {port!r} is not a number in 1..65535"
    if problem:
        raise GafitInputError(f"{option} {address!r}: {problem}; expected tcp://HOST:PORT")


def connect(address: str) -> Any:
    """A Dask client of the scheduler at ``address``; a :class:`GafitInputError` when it is not an
    address or no scheduler answers there within :data:`CONNECT_TIMEOUT_S`."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise GafitInputError("a Dask scheduler was given but dask.distributed is not "
                              "installed: pip install 'dask[distributed]'") from None
    option = "--scheduler / [ga] scheduler"
    check_scheduler(address, option)
    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S)
    except OSError as err:
        raise GafitInputError(f"{option} {address!r}: no Dask scheduler answered ({err})") from None
