"""Where shard tasks run: a local process pool, or a Dask cluster.

Work is a list of independent tasks (shards of sample ids, each a pure function of the recipe, the
seed and the ids); an executor runs them and yields ``(index, result)`` as they complete, in any
order. The caller merges results deterministically, so the output does not depend on the executor,
the number of workers, retries or completion order.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import sys
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from pikfix_bench.errors import PikfixError

EXECUTORS = ("local", "dask")
RETRIES = 3  # a task whose worker dies is run again this many times (Dask)


class Executor(Protocol):
    """Runs tasks and yields ``(index, result)`` as each completes."""

    workers: int

    def run(
        self, function: Callable[[Any], Any], tasks: list[Any], resources: dict[str, float] | None = None
    ) -> Iterator[tuple[int, Any]]:
        """Run ``function(task)`` for every task (``resources``: what each task needs, Dask only)."""

    def close(self) -> None:
        """Release the pool or the cluster connection."""


def _indexed(call: tuple[Callable[[Any], Any], int, Any]) -> tuple[int, Any]:
    function, index, task = call
    return index, function(task)


def _single_threaded() -> None:
    """Pool initializer: one compute thread per worker process.

    The workers share the cores, and a forked child must not enter the OpenMP thread pool it inherited
    from a parent that already ran torch (it would wait forever for threads that were not copied);
    with one thread torch runs its loops inline."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


class LocalExecutor:
    """A process pool on this machine (in-process for one worker)."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)
        self._pool = (
            multiprocessing.get_context("fork").Pool(self.workers, initializer=_single_threaded)
            if self.workers > 1
            else None
        )

    def run(
        self, function: Callable[[Any], Any], tasks: list[Any], resources: dict[str, float] | None = None
    ) -> Iterator[tuple[int, Any]]:  # noqa: D102
        calls = [(function, index, task) for index, task in enumerate(tasks)]
        if self._pool is None:
            yield from map(_indexed, calls)
        else:
            yield from self._pool.imap_unordered(_indexed, calls)

    def close(self) -> None:  # noqa: D102
        if self._pool is not None:
            self._pool.close()
            self._pool.join()


class DaskExecutor:
    """Tasks submitted to a Dask distributed scheduler, retried when a worker dies.

    Parameters
    ----------
    scheduler : str
        ``tcp://HOST:PORT`` of a running scheduler, or ``local:N`` to start a ``LocalCluster`` of N
        worker processes (one thread each) on this machine.

    Notes
    -----
    The local cluster's workers keep glibc's own malloc tuning: Dask's default
    ``MALLOC_TRIM_THRESHOLD_=65536`` hands every freed image buffer back to the system, and
    faulting the pages in again made builds about 20% slower (``bench/scale.py``).
    ``docs/scale.md`` says how to do the same on a cluster of your own.
    """

    def __init__(self, scheduler: str) -> None:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise PikfixError("--executor dask needs Dask: pip install 'pikfix-bench[scale]'") from None
        self._cluster = None
        if scheduler.startswith("local:"):
            try:
                count = int(scheduler.split(":", 1)[1])
            except ValueError:
                raise PikfixError(
                    f"--scheduler {scheduler}: expected local:N with a number of workers"
                ) from None
            with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
                self._cluster = LocalCluster(
                    n_workers=count,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    host="127.0.0.1",
                )
            self.client = Client(self._cluster)
        else:
            try:
                self.client = Client(scheduler, timeout="20s")
            except OSError as exc:
                raise PikfixError(
                    f"--scheduler {scheduler}: cannot reach the Dask scheduler ({exc})"
                ) from None
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})))

    def warm_up(self, module: str) -> None:
        """Import ``module`` on every worker now (a long-lived cluster pays this once, not per task)."""
        self.client.run(importlib.import_module, module)

    def gpu_workers(self) -> int:
        """Workers that declared a ``GPU`` resource (``dask-worker --resources GPU=1``)."""
        return sum(
            1 for w in self.client.scheduler_info()["workers"].values() if w.get("resources", {}).get("GPU")
        )

    def run(
        self, function: Callable[[Any], Any], tasks: list[Any], resources: dict[str, float] | None = None
    ) -> Iterator[tuple[int, Any]]:  # noqa: D102
        from distributed import as_completed

        futures = {
            self.client.submit(function, task, pure=False, retries=RETRIES, resources=resources): index
            for index, task in enumerate(tasks)
        }
        for future in as_completed(futures):
            yield futures[future], future.result()

    def close(self) -> None:  # noqa: D102
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


@contextlib.contextmanager
def given_or_local(executor: Executor | None, workers: int = 1) -> Iterator[Executor]:
    """``executor`` as it is (its owner closes it), or a :class:`LocalExecutor` of ``workers`` closed on exit."""
    if executor is not None:
        yield executor
        return
    local = LocalExecutor(workers)
    try:
        yield local
    finally:
        local.close()


def make_executor(kind: str = "local", workers: int = 1, scheduler: str | None = None) -> Executor:
    """The executor named by ``--executor`` (``local`` with ``--workers``, or ``dask`` with ``--scheduler``)."""
    if kind == "local":
        if scheduler:
            raise PikfixError("--scheduler applies to --executor dask")
        return LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(scheduler or f"local:{max(1, workers)}")
    raise PikfixError(f"unknown executor {kind!r}; choose {' or '.join(EXECUTORS)}")
