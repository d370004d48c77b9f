"""This process's executors, built on first use: the thread pool, and the hand-off to worker processes."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from jobs_ui.exceptions import InvalidBackend

if TYPE_CHECKING:
    from jobs_ui.executors.base import BaseExecutor
    from jobs_ui.executors.thread import ThreadExecutor

_executors: dict[str, BaseExecutor] = {}
_lock = threading.Lock()


def get_executor(name: str) -> BaseExecutor:
    """This process's executor called ``name`` ("thread" or "worker"), built on first use."""
    with _lock:
        if name not in _executors:
            if name == "thread":
                from jobs_ui.executors.thread import ThreadExecutor

                _executors[name] = ThreadExecutor()
            elif name == "worker":
                from jobs_ui.executors.worker import WorkerExecutor

                _executors[name] = WorkerExecutor()
            else:
                raise InvalidBackend(f"Unknown executor {name!r}; use 'thread' or 'worker'.")
        return _executors[name]


def stop_executors(timeout: float = 10.0) -> None:
    """Stop every executor of this process (tests, shutdown)."""
    with _lock:
        executors = list(_executors.values())
    for executor in executors:
        executor.stop(timeout)


def thread_executor() -> ThreadExecutor:
    """This process's thread pool."""
    from jobs_ui.executors.thread import ThreadExecutor

    executor = get_executor("thread")
    assert isinstance(executor, ThreadExecutor)
    return executor
