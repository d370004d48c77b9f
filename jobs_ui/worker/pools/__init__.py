"""Where a worker runs the jobs it claims: threads, child processes, or an event loop."""

from __future__ import annotations

from collections.abc import Callable

from jobs_ui.worker.pools.base import BasePool
from jobs_ui.worker.pools.coroutines import AsyncPool
from jobs_ui.worker.pools.processes import ProcessPool
from jobs_ui.worker.pools.threads import ThreadPool

POOL_CLASSES: dict[str, type[BasePool]] = {"thread": ThreadPool, "process": ProcessPool, "async": AsyncPool}
POOLS = tuple(POOL_CLASSES)


def make_pool(name: str, concurrency: int, on_slot_free: Callable[[], None]) -> BasePool:
    """The pool called ``name`` (one of ``POOLS``)."""
    if name not in POOL_CLASSES:
        raise ValueError(f"Unknown pool {name!r}; use one of {', '.join(POOLS)}.")
    return POOL_CLASSES[name](concurrency, on_slot_free)
