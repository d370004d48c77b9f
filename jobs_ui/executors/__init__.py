"""The executors of this process, by name: "thread" (a pool in this process) and "worker" (hand-off to workers)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, cast

from django.utils.module_loading import import_string

from jobs_ui.exceptions import InvalidBackend

if TYPE_CHECKING:
    from jobs_ui.executors.base import BaseExecutor
    from jobs_ui.executors.thread import ThreadExecutor

# Loaded by name, as Django loads its backends: the executors run jobs, and the jobs
# package hands jobs to them (a retry is dispatched again).
EXECUTOR_CLASSES = {
    "thread": "jobs_ui.executors.thread.ThreadExecutor",
    "worker": "jobs_ui.executors.worker.WorkerExecutor",
    "immediate": "jobs_ui.executors.immediate.ImmediateExecutor",
}

_executors: dict[str, BaseExecutor] = {}
_lock = threading.Lock()


def get_executor(name: str) -> BaseExecutor:
    """This process's executor called ``name`` ("thread", "worker" or "immediate"), built on first use."""
    with _lock:
        if name not in _executors:
            if name not in EXECUTOR_CLASSES:
                raise InvalidBackend(f"Unknown executor {name!r}; use one of {', '.join(EXECUTOR_CLASSES)}.")
            _executors[name] = import_string(EXECUTOR_CLASSES[name])()
        return _executors[name]


def stop_executors(timeout: float = 10.0) -> None:
    """Stop every executor of this process (tests, shutdown)."""
    with _lock:
        executors = list(_executors.values())
    for executor in executors:
        executor.stop(timeout)


def thread_executor() -> ThreadExecutor:
    """This process's thread pool."""
    return cast("ThreadExecutor", get_executor("thread"))
