"""Where a worker runs the jobs it claims: threads, child processes, or an event loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobs_ui.worker.pools.base import BasePool

POOLS = ("thread", "process", "async")


def make_pool(name: str, concurrency: int, on_slot_free: Callable[[], None]) -> BasePool:
    """The pool called ``name`` (one of ``POOLS``)."""
    if name == "thread":
        from jobs_ui.worker.pools.threads import ThreadPool

        return ThreadPool(concurrency, on_slot_free)
    if name == "process":
        from jobs_ui.worker.pools.processes import ProcessPool

        return ProcessPool(concurrency, on_slot_free)
    if name == "async":
        from jobs_ui.worker.pools.coroutines import AsyncPool

        return AsyncPool(concurrency, on_slot_free)
    raise ValueError(f"Unknown pool {name!r}; use one of {', '.join(POOLS)}.")
