"""Evaluators: where the runs of an experiment are executed, interchangeably.

An evaluator maps the model over tasks and yields records as runs finish, in any order:
:class:`SerialEvaluator` in this process, :class:`PoolEvaluator` on a local process pool
(``--jobs``), :class:`DaskEvaluator` on a ``dask.distributed`` scheduler (``--dask ADDRESS``)
or a ``LocalCluster`` on 127.0.0.1 (``--dask local``). A run's outcomes depend only on its
task, so the same design gives the same outcomes on any of them.

Ctrl-C: pool workers ignore SIGINT; the runner catches it in this process and calls
:meth:`abort`, which stops the workers (runs in flight are lost and run again on resume).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any, Protocol

from simmarket.experiments.model import ModelFn, RunRecord, Task, guarded


class Evaluator(Protocol):
    """Runs tasks; yields their records as they finish."""

    workers: int

    def map(self, model: ModelFn, tasks: Iterable[Any]) -> Iterator[RunRecord]: ...

    def abort(self) -> None: ...

    def close(self) -> None: ...


class SerialEvaluator:
    """One run after another in this process (for debugging and tiny designs)."""

    workers = 1

    def map(self, model: ModelFn, tasks: Iterable[Task]) -> Iterator[RunRecord]:
        for task in tasks:
            yield guarded(model, task)

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def pool_context() -> mp.context.BaseContext:
    """forkserver where there is one (workers fork from a clean, preloaded server; no
    threads of this process are copied), else spawn."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["simmarket.api", "simmarket.experiments.model"])
        return ctx
    return mp.get_context("spawn")


class PoolEvaluator:
    """A local process pool of ``jobs`` workers, one run per worker at a time."""

    def __init__(self, jobs: int | None = None):
        self.workers = max(1, jobs or os.cpu_count() or 1)
        self._pool = pool_context().Pool(self.workers, initializer=_ignore_sigint)

    def map(self, model: ModelFn, tasks: Iterable[Task]) -> Iterator[RunRecord]:
        yield from self._pool.imap_unordered(partial(guarded, model), list(tasks))

    def abort(self) -> None:
        self._pool.terminate()
        self._pool.join()

    def close(self) -> None:
        self._pool.close()
        self._pool.join()


class DaskEvaluator:
    """Runs on a ``dask.distributed`` scheduler at ``address``, or on a ``LocalCluster`` on
    127.0.0.1 with ``jobs`` single-threaded worker processes when address is "local"."""

    def __init__(self, address: str = "local", jobs: int | None = None, *,
                 processes: bool = True):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise RuntimeError("--dask needs the distributed extra: pip install "
                               "'simmarket[distributed]'") from None
        self._cluster = None
        if address == "local":
            n = max(1, jobs or os.cpu_count() or 1)
            self._cluster = LocalCluster(host="127.0.0.1", n_workers=n if processes else 1,
                                         threads_per_worker=1 if processes else n,
                                         processes=processes, protocol="tcp://",
                                         dashboard_address=None)
            self._client = Client(self._cluster)
        else:
            self._client = Client(address, timeout="10s")
        self.workers = max(1, sum(self._client.nthreads().values()))

    def map(self, model: ModelFn, tasks: Iterable[Task]) -> Iterator[RunRecord]:
        from dask.distributed import as_completed

        tasks = list(tasks)
        if not tasks:
            return
        self._futures = self._client.map(partial(guarded, model), tasks, pure=False)
        for future in as_completed(self._futures):
            yield future.result()

    def abort(self) -> None:
        futures = getattr(self, "_futures", None)
        if futures:
            self._client.cancel(futures)
        self.close()

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_evaluator(jobs: int | None = None, dask: str | None = None) -> Evaluator:
    """The evaluator the CLI's ``--jobs``/``--dask`` ask for (serial for one job)."""
    if dask:
        return DaskEvaluator(dask, jobs)
    if jobs == 1:
        return SerialEvaluator()
    return PoolEvaluator(jobs)
