"""The thread pool: each job in one of the worker's threads."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from django.db import connections

from jobs_ui.jobs.run import run_claimed
from jobs_ui.models import Job
from jobs_ui.worker.pools.base import BasePool

logger = logging.getLogger(__name__)


class ThreadPool(BasePool):
    """Each job in one of ``concurrency`` threads; cancel and timeout are cooperative."""

    name = "thread"
    reserves = True

    def __init__(self, concurrency: int, on_slot_free: Callable[[], None] = lambda: None) -> None:
        super().__init__(concurrency, on_slot_free)
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        # Daemon threads: a job still running after a shutdown has been handed
        # back, and must not keep the process alive.
        self._threads = [
            threading.Thread(target=self._serve, name=f"jobs_ui-job-{i}", daemon=True) for i in range(self.concurrency)
        ]
        for thread in self._threads:
            thread.start()

    def _start(self, job: Job) -> None:
        self._queue.put(job)

    def close(self) -> None:
        for _thread in self._threads:
            self._queue.put(None)

    def _serve(self) -> None:
        try:
            while (job := self._queue.get()) is not None:
                if not self._begin(job):
                    continue  # revoked while it waited: handed back
                try:
                    run_claimed(job)
                except BaseException:
                    # Not only Exception: this thread is the slot, and must keep serving.
                    logger.exception("Job %s crashed its runner", job.pk)
                finally:
                    drop_broken_connections()
                    self._finished(job)
        finally:
            connections.close_all()


def drop_broken_connections() -> None:
    # Connections stay open between jobs; one a job (or the database) broke is replaced.
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and connection.errors_occurred and not connection.is_usable():
            connection.close()
