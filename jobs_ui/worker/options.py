"""What a worker serves and how: the options of ``jobs_ui_worker``, checked before it starts."""

from __future__ import annotations

import os
from dataclasses import dataclass

from jobs_ui.backend import known_queues
from jobs_ui.exceptions import JobsUiException, UnknownTask
from jobs_ui.jobs.registry import resolve_task
from jobs_ui.worker.pools import POOLS

# Jobs in flight at once on the event loop of the async pool, unless --concurrency says otherwise.
ASYNC_CONCURRENCY = 100


class InvalidWorkerOptions(JobsUiException, ValueError):
    """Worker options that cannot be used: unknown queue or task, bad number."""


@dataclass(frozen=True, kw_only=True)
class WorkerOptions:
    """The options of a ``Worker``; each bad value raises ``InvalidWorkerOptions`` with the reason."""

    queues: tuple[str, ...] = ()
    """Queues to serve; empty for every queue of the task backends."""

    exclude_queues: tuple[str, ...] = ()
    exclude_tasks: tuple[str, ...] = ()
    """Dotted paths of tasks this worker never runs."""

    concurrency: int | None = None
    """Jobs at once; None: like ``ThreadPoolExecutor`` (CPUs + 4, at most 32) for threads, the number
    of CPUs for processes, ``ASYNC_CONCURRENCY`` for the async pool."""

    pool: str = "thread"
    max_jobs: int | None = None
    """Stop taking jobs after this many, and exit once they have finished."""

    until_done: bool = False
    """Exit once no due READY job is left for this worker."""

    label: str = ""
    """Shown to staff; ``{pid}`` and ``{host}`` are replaced."""

    heartbeat: float | None = None
    """Seconds between heartbeats; None for ``HEARTBEAT_INTERVAL``."""

    rate_limit: float | None = None
    """Seconds after a job ends before the next one starts; one job at a time (``--rate-limit``)."""

    schedules: bool = True
    """Run the cron schedules (``jobs_ui.jobs.schedules``); ``--no-schedules`` on workers that should not."""

    timeout: float | None = None
    """Stop after this many seconds as on a first SIGTERM (running jobs get ``SHUTDOWN_GRACE``), for
    workers a cron job starts."""

    def __post_init__(self) -> None:
        if self.pool not in POOLS:
            raise InvalidWorkerOptions(f"Unknown pool {self.pool!r}; use one of {', '.join(POOLS)}.")
        for name, value in (("concurrency", self.concurrency), ("max_jobs", self.max_jobs)):
            if value is not None and (type(value) is not int or value < 1):
                raise InvalidWorkerOptions(f"{name} must be a whole number >= 1, not {value!r}.")
        if self.heartbeat is not None and not self.heartbeat > 0:
            raise InvalidWorkerOptions(f"heartbeat must be > 0 seconds, not {self.heartbeat!r}.")
        if self.rate_limit is not None and not self.rate_limit > 0:
            raise InvalidWorkerOptions(f"rate_limit must be > 0 seconds, not {self.rate_limit!r}.")
        if self.timeout is not None and not self.timeout > 0:
            raise InvalidWorkerOptions(f"timeout must be > 0 seconds, not {self.timeout!r}.")
        known = known_queues()
        for queue in (*self.queues, *self.exclude_queues):
            if known is not None and queue not in known:
                raise InvalidWorkerOptions(
                    f"Unknown queue {queue!r}; the task backends have {', '.join(sorted(known))}."
                )
        if both := set(self.queues) & set(self.exclude_queues):
            raise InvalidWorkerOptions(f"Queue(s) both served and excluded: {', '.join(sorted(both))}.")
        for path in self.exclude_tasks:
            try:
                resolve_task(path)
            except UnknownTask as e:
                raise InvalidWorkerOptions(f"Cannot exclude {path!r}: {e}") from e
        if not self.consumed_queues():
            raise InvalidWorkerOptions("Every queue is excluded: this worker would have nothing to do.")

    def consumed_queues(self) -> list[str]:
        """The queues this worker takes jobs from, sorted."""
        names = set(self.queues) or known_queues() or {"default"}
        return sorted(names - set(self.exclude_queues))

    def resolved_concurrency(self) -> int:
        if self.concurrency is not None:
            return self.concurrency
        cpus = os.cpu_count() or 1
        return {"thread": min(32, cpus + 4), "process": cpus}.get(self.pool, ASYNC_CONCURRENCY)
