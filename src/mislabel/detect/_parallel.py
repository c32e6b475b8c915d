"""One parallel layer for fold training, with pluggable backends.

- ``"local"`` (default): local worker processes through joblib/loky (``n_jobs`` of them).
- ``"threads"``: threads in this process (models that release the GIL, e.g. PyTorch).
- ``"dask"``: Dask distributed. ``scheduler=None`` or ``"local"`` starts a LocalCluster with
  ``n_jobs`` single-threaded worker processes for the duration of the call;
  ``scheduler="tcp://host:8786"`` joins an existing cluster (its workers need mislabel and the
  estimator's libraries installed).

Ray works through joblib's Ray backend: ``from ray.util.joblib import register_ray;
register_ray()`` then ``backend="ray"`` is passed through to joblib.

Every backend runs the same seeded fold function with BLAS pinned to one thread, so results
are bitwise identical whatever the backend and ``n_jobs``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from mislabel._validation import optional_import
from mislabel.exceptions import InvalidParameterError

BACKENDS = ("local", "threads", "dask", "loky", "threading", "multiprocessing", "ray")


@contextlib.contextmanager
def dask_client(scheduler: str | None, n_workers: int | None) -> Iterator[Any]:
    """A dask.distributed Client: a fresh LocalCluster, or a connection to ``scheduler``."""
    distributed = optional_import("distributed", "dask", "the Dask backend")
    if scheduler in (None, "local"):
        cluster = distributed.LocalCluster(
            n_workers=n_workers or 2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
    else:
        if not isinstance(scheduler, str) or "://" not in scheduler:
            raise InvalidParameterError(
                "`scheduler` must be 'local' or an address like 'tcp://host:8786'; "
                f"got {scheduler!r}."
            )
        client = distributed.Client(scheduler)
        try:
            yield client
        finally:
            client.close()


def run_tasks(
    fn: Callable[..., Any],
    args: Sequence[tuple[Any, ...]],
    *,
    backend: str = "local",
    n_jobs: int | None = None,
    scheduler: str | None = None,
    shared: dict[str, Any] | None = None,
) -> Iterator[Any]:
    """Yield ``fn(*a, **shared)`` for each ``a`` in ``args``, in completion order.

    ``shared`` holds large arguments common to every task (the data): joblib memory-maps
    them, Dask scatters them once.
    """
    shared = shared or {}
    if backend == "dask":
        distributed = optional_import("distributed", "dask", "the Dask backend")
        with dask_client(scheduler, n_jobs) as client:
            scattered = {k: client.scatter(v, broadcast=True) for k, v in shared.items()}
            futures = [
                client.submit(one_blas_thread, fn, *a, pure=False, **scattered) for a in args
            ]
            for fut in distributed.as_completed(futures):
                yield fut.result()
        return
    from joblib import Parallel, delayed

    if scheduler is not None:
        raise InvalidParameterError(
            f"`scheduler` is only used with backend='dask'; got backend={backend!r}."
        )
    joblib_backend = {"local": "loky", "threads": "threading"}.get(backend, backend)
    if n_jobs in (None, 1):
        for a in args:
            yield one_blas_thread(fn, *a, **shared)
        return
    extra: dict[str, Any] = {}
    if joblib_backend == "loky":  # workers orphaned by a killed run exit soon, not after 300 s
        extra["idle_worker_timeout"] = _IDLE_WORKER_TIMEOUT
    parallel = Parallel(
        n_jobs=n_jobs, backend=joblib_backend, return_as="generator_unordered", **extra
    )
    yield from parallel(delayed(one_blas_thread)(fn, *a, **shared) for a in args)


#: Seconds an idle local worker process waits for work before it exits.
_IDLE_WORKER_TIMEOUT = 10


def one_blas_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` with BLAS on one thread, in every process and backend alike,
    so that a task's floating point results do not depend on where it ran (a worker process
    gets one BLAS thread, the parent as many as it has cores: sums come out in another
    order)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return fn(*args, **kwargs)
