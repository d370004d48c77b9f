"""Jobs in a bounded thread pool inside the web process."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from types import FrameType

from django.db import close_old_connections, connections
from django.db.models import Q
from django.db.models.functions import Now

from jobs_ui.broker import amqp
from jobs_ui.conf import get_config
from jobs_ui.executors.base import BaseExecutor
from jobs_ui.jobs import worker_rows
from jobs_ui.jobs.claim import claim, claim_next
from jobs_ui.jobs.expire import expire_jobs
from jobs_ui.jobs.finish import hand_back
from jobs_ui.jobs.recover import recover_lost_jobs, renew_leases
from jobs_ui.jobs.run import run_claimed, running_context
from jobs_ui.models import Job, JobStatus, WorkerKind, WorkerState

logger = logging.getLogger(__name__)


class ThreadExecutor(BaseExecutor):
    """Runs thread jobs in ``THREAD_POOL_SIZE`` threads of this process.

    Jobs beyond the pool wait as READY rows and are taken in priority order,
    FIFO within a priority. Any web process with a pool may run any thread job.

    At interpreter exit the pool starts no job launched by another process. A process
    that never served a request (a script, a management command) waits until the jobs
    it launched itself have finished; a web process gives its running jobs
    ``SHUTDOWN_GRACE`` seconds. What still runs after that is handed back as READY.
    """

    name = "thread"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._exiting = threading.Event()
        # Notified by pool threads between two jobs, for the exit's wait; guards _claiming,
        # the number of claims under way, which the exit waits for before its hand-back.
        self._between_jobs = threading.Condition()
        self._claiming = 0
        self._threads: list[threading.Thread] = []
        self._pid: int | None = None
        self._exit_hook = False
        # Ids of the jobs this process launched that may still need to run here.
        self._launched: set[str] = set()
        self._launched_lock = threading.Lock()
        # Whether this process has served a request (request_started): a web process.
        self.serves_requests = False
        self.worker_id = ""

    def note_request(self) -> None:
        """This process serves requests: at exit its running jobs get ``SHUTDOWN_GRACE``, then go back."""
        self.serves_requests = True
        with self._launched_lock:
            self._launched.clear()

    def dispatch(self, job: Job) -> None:
        if not job.attempts and not self.serves_requests:
            # A new job of a process that serves no requests: it runs before the process exits.
            with self._launched_lock:
                self._launched.add(str(job.pk))
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
            if self._pid == os.getpid() and (self._exiting.is_set() or not self._stopping.is_set()):
                return
            if not self._exit_hook:
                # Runs before the interpreter joins its threads: daemon pool threads and
                # database connections still work, and no job is cut off by the exit.
                threading._register_atexit(self._at_exit)  # type: ignore[attr-defined]
                self._exit_hook = True
            size = get_config()["THREAD_POOL_SIZE"]
            self._stopping = threading.Event()
            self._pid = os.getpid()
            self.worker_id = f"thread-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            worker_rows.register(self.worker_id, WorkerKind.THREAD, label=f"web {os.getpid()}", concurrency=size)
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
        worker_rows.stopped(self.worker_id, WorkerState.STOPPED)

    def _serve(self) -> None:
        stopping = self._stopping
        idle = get_config()["THREAD_IDLE_POLL"]
        try:
            while not stopping.is_set():
                job = self._claim()
                if job is None:
                    close_old_connections()
                    with self._wake:
                        if not stopping.is_set():
                            self._wake.wait(idle)
                    continue
                try:
                    run_claimed(job)
                except BaseException:
                    # Not only Exception: this thread is a slot of the pool, and must keep serving.
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
                    worker_rows.beat(self.worker_id)
                    renew_leases(self.worker_id)
                    if recover_lost_jobs():
                        with self._wake:
                            self._wake.notify_all()
                    expire_jobs()
                    if self._launched:
                        self._unfinished_launched()
                except Exception:
                    logger.exception("Heartbeat failed")
                if stopping.wait(interval):
                    return
        finally:
            _close_thread_connections()

    def interrupt(self) -> None:
        """For a process about to exit: start nothing more, hand back what runs here as READY.

        A job handed back does not use up its attempt; another process's pool runs it.
        """
        with self._lock:
            if self._pid != os.getpid() or self._stopping.is_set():
                return
            self._exiting.set()
        self._close()

    def _claim(self) -> Job | None:
        with self._between_jobs:
            self._between_jobs.notify_all()
            if self._stopping.is_set():
                return None
            self._claiming += 1
        try:
            if not self._exiting.is_set():
                job = claim_next(executor=self.name, worker_id=self.worker_id)
            elif self.serves_requests:
                return None
            else:
                job = self._claim_launched()
            if job is not None and self._exiting.is_set() and self._stopping.is_set():
                # Claimed as the pool closed: it goes back before it starts, for another process.
                hand_back(job)
                return None
            return job
        finally:
            with self._between_jobs:
                self._claiming -= 1
                self._between_jobs.notify_all()

    def _claim_launched(self) -> Job | None:
        # An exiting process that serves no requests runs what it launched, and nothing else.
        for job_id in self._launched_due():
            job = claim(job_id, self.worker_id)
            if job is not None:
                return job
        return None

    def _launched_chunks(self) -> list[list[str]]:
        with self._launched_lock:
            ids = sorted(self._launched)
        return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]

    def _launched_due(self) -> list[str]:
        due = Job.objects.due().filter(executor=self.name).in_claim_order()
        return [
            str(pk) for chunk in self._launched_chunks() for pk in due.filter(pk__in=chunk).values_list("pk", flat=True)
        ]

    def _unfinished_launched(self) -> set[str]:
        """Ids of launched jobs to run here before exit: RUNNING here, a retry waiting, or due.

        Forgets those that finished or that another process took.
        """
        pending: set[str] = set()
        gone: set[str] = set()
        for chunk in self._launched_chunks():
            alive = Job.objects.filter(pk__in=chunk).filter(
                Q(status=JobStatus.READY) | Q(status=JobStatus.RUNNING, worker_id=self.worker_id)
            )
            kept = {str(pk) for pk in alive.values_list("pk", flat=True)}
            gone.update(set(chunk) - kept)
            # A first attempt delayed by run_after does not hold the process.
            waiting = alive.filter(
                Q(status=JobStatus.RUNNING) | Q(attempts__gt=0) | Q(run_after__isnull=True) | Q(run_after__lte=Now())
            )
            pending.update(str(pk) for pk in waiting.values_list("pk", flat=True))
        with self._launched_lock:
            self._launched -= gone
        return pending

    def _at_exit(self) -> None:
        # Never raises: an exception here would keep the interpreter from joining its threads.
        with self._lock:
            if self._pid != os.getpid() or self._stopping.is_set():
                return
            self._exiting.set()
        interrupted = False
        try:
            try:
                with sigint_noted() as noted:
                    worker_rows.set_state(self.worker_id, WorkerState.STOPPING)
                    self._drain(noted)
                    interrupted = noted()
            except KeyboardInterrupt:
                interrupted = True
            finally:
                if interrupted:
                    logger.warning("Interrupted: thread jobs still running in this process go back as READY")
                self._close()
        except BaseException:
            logger.exception("Could not stop the thread pool")

    def _drain(self, interrupted: Callable[[], bool]) -> None:
        """Wait for launched jobs (a process that serves no requests) and give other running jobs the grace."""
        config = get_config()
        idle = config["THREAD_IDLE_POLL"]
        grace_ends = time.monotonic() + config["SHUTDOWN_GRACE"]
        announced = False
        while not interrupted():
            launched = set() if self.serves_requests else self._unfinished_launched()
            running = Job.objects.running().filter(worker_id=self.worker_id).values_list("pk", flat=True)
            others = {str(pk) for pk in running} - launched
            left = grace_ends - time.monotonic()
            if others and left <= 0:
                self._hand_back_running(others)
                others = set()
            if not launched and not others:
                return
            if launched and not announced:
                announced = True
                logger.warning(
                    "Waiting for %d thread job(s) launched by this process to finish (Ctrl-C hands them back as READY)",
                    len(launched),
                )
            with self._between_jobs:
                self._between_jobs.wait(min(idle, left) if others else idle)

    def _close(self) -> None:
        with self._lock:
            self._stopping.set()
            threads, self._threads = self._threads, []
        with self._launched_lock:
            self._launched.clear()
        with self._wake:
            self._wake.notify_all()
        with self._between_jobs:
            # A job claimed from now on is handed back by its thread; one claimed before is
            # RUNNING by the time this wait ends, and handed back below.
            self._between_jobs.wait_for(lambda: not self._claiming, timeout=30.0)
        # A further Ctrl-C does not cut the hand-back short.
        with sigint_noted():
            self._hand_back_running()
            worker_rows.stopped(self.worker_id, WorkerState.STOPPED)
        # Idle threads end at once and close their connections; busy ones are daemons.
        deadline = time.monotonic() + 1.0
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0))

    def _hand_back_running(self, only: Iterable[str] | None = None) -> None:
        rows = Job.objects.running().filter(worker_id=self.worker_id)
        if only is not None:
            rows = rows.filter(pk__in=list(only))
        for row in rows:
            context = running_context(row.pk)
            # The running attempt's own instance holds its latest workspace.
            job = context.job if context is not None and context.job.attempts == row.attempts else row
            if hand_back(job):
                logger.warning("Handed thread job %s back as READY", row.pk)
            if context is not None:
                # Its writes are fenced off now; asking it to stop frees its thread sooner.
                context.request_cancel()


# Ids per query of the launched jobs.
_CHUNK = 500


@contextlib.contextmanager
def sigint_noted(wake: Callable[[], None] | None = None) -> Iterator[Callable[[], bool]]:
    """Inside, Ctrl-C (SIGINT) is noted, and ``wake`` called, instead of raising ``KeyboardInterrupt``.

    Yields whether SIGINT came. Only in the main thread while SIGINT has Python's
    default handler; otherwise nothing changes.
    """
    # A KeyboardInterrupt raised inside a query leaves its cursor open with the
    # traceback, and on SQLite its lock held, so the hand-back that follows could not write.
    came = False

    def note(signum: int, frame: FrameType | None) -> None:
        nonlocal came
        came = True
        if wake is not None:
            wake()

    replace = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if replace:
        signal.signal(signal.SIGINT, note)
    try:
        yield lambda: came
    finally:
        if replace:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _close_thread_connections() -> None:
    connections.close_all()
    amqp.close()
