"""Jobs in a bounded thread pool inside the web process."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

from django.db import close_old_connections, connections
from django.db.models.functions import Now

from jobs_ui.claiming import claim_next
from jobs_ui.conf import get_config
from jobs_ui.executors.base import BaseExecutor
from jobs_ui.models import Job, Worker, WorkerKind, WorkerState
from jobs_ui.recovery import recover_lost_jobs, renew_leases
from jobs_ui.running import run_claimed

logger = logging.getLogger(__name__)


class ThreadExecutor(BaseExecutor):
    """Runs thread jobs in ``THREAD_POOL_SIZE`` threads of this process.

    Jobs beyond the pool wait as READY rows and are taken in priority order,
    FIFO within a priority. Any web process with a pool may run any thread job.
    """

    name = "thread"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pid: int | None = None
        self.worker_id = ""

    def dispatch(self, job: Job) -> None:
        try:
            self.start()
        except Exception:
            logger.exception("Could not start the thread pool; job %s waits as READY", job.pk)
            return
        with self._wake:
            self._wake.notify()

    def start(self) -> None:
        """Register this process as a worker and start the pool (once per process)."""
        with self._lock:
            if self._pid == os.getpid() and not self._stopping.is_set():
                return
            size = get_config()["THREAD_POOL_SIZE"]
            self._stopping = threading.Event()
            self._pid = os.getpid()
            self.worker_id = f"thread-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            Worker.objects.create(
                id=self.worker_id,
                label=f"web {os.getpid()}",
                host=socket.gethostname(),
                pid=os.getpid(),
                kind=WorkerKind.THREAD,
                concurrency=size,
            )
            self._threads = [
                threading.Thread(target=self._serve, name=f"jobs_ui-thread-{i}", daemon=True) for i in range(size)
            ]
            self._threads.append(threading.Thread(target=self._heartbeat, name="jobs_ui-heartbeat", daemon=True))
            for thread in self._threads:
                thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            if self._pid != os.getpid() or self._stopping.is_set():
                return
            self._stopping.set()
            threads, self._threads = self._threads, []
        with self._wake:
            self._wake.notify_all()
        for thread in threads:
            thread.join(timeout)
        Worker.objects.filter(pk=self.worker_id).update(state=WorkerState.STOPPED, stopped_at=Now())

    def _serve(self) -> None:
        stopping = self._stopping
        idle = get_config()["THREAD_IDLE_POLL"]
        try:
            while not stopping.is_set():
                job = claim_next(executor=self.name, worker_id=self.worker_id)
                if job is None:
                    close_old_connections()
                    with self._wake:
                        if not stopping.is_set():
                            self._wake.wait(idle)
                    continue
                try:
                    run_claimed(job)
                except Exception:
                    logger.exception("Job %s crashed its runner", job.pk)
        except Exception:
            logger.exception("Thread pool runner stopped")
        finally:
            _close_thread_connections()

    def _heartbeat(self) -> None:
        stopping = self._stopping
        interval = get_config()["HEARTBEAT_INTERVAL"]
        try:
            while True:
                try:
                    Worker.objects.filter(pk=self.worker_id).update(heartbeat_at=Now())
                    renew_leases(self.worker_id)
                    if recover_lost_jobs():
                        with self._wake:
                            self._wake.notify_all()
                except Exception:
                    logger.exception("Heartbeat failed")
                if stopping.wait(interval):
                    return
        finally:
            _close_thread_connections()


def _close_thread_connections() -> None:
    from jobs_ui import amqp

    connections.close_all()
    amqp.close()
