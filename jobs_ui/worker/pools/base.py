"""The base class of worker pools: slots, the reserve of short jobs, cancel requests and time limits."""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from jobs_ui.conf import get_config
from jobs_ui.exceptions import JobCancelled, JobTimedOut
from jobs_ui.jobs.finish import fail, finish, hand_back
from jobs_ui.jobs.registry import resolve_task
from jobs_ui.jobs.run import running_context
from jobs_ui.models import Job, JobStatus

logger = logging.getLogger(__name__)

# Claimed jobs that may wait in a pool for a slot while its jobs are short (see BasePool).
RESERVE = 24
# Seconds: a job that ran this long or longer ends the reserve, until ``concurrency`` short jobs in a row.
# A full reserve of jobs just shorter than this (RESERVE * SHORT_JOB in all) waits less than RESERVE_WAIT.
SHORT_JOB = 0.005
# Seconds a reserved job may wait for a slot; then it goes back to READY, for another worker.
RESERVE_WAIT = 0.2


@dataclass(slots=True)
class Running:
    job: Job
    started: float
    """When it was submitted, then (pools that reserve) when it began to run."""
    timeout: float | None
    cancel_seen: float | None = None
    stopping: str = ""
    begun: bool = False


class BasePool(ABC):
    """Runs claimed jobs of a worker, at most ``concurrency`` at a time."""

    name: str = ""
    """Value of ``--pool`` that selects this pool."""

    supports_hard_stop: bool = False
    """Whether a job that ignores its timeout or a cancel request is stopped after ``HARD_STOP_GRACE``."""

    # Optimization: with a reserve, a worker draining short jobs claims, acknowledges and
    # writes them in batches several times larger, and a job thread takes the next job
    # without being woken.
    reserves: bool = False
    """Whether claimed jobs may wait here for a slot: ``RESERVE`` of them, while the jobs are short.

    A job that ran ``SHORT_JOB`` or longer ends the reserve at once; a reserved job still
    waiting after ``RESERVE_WAIT`` is handed back as READY (``enforce()``), so a job claimed
    behind one that turned out long runs elsewhere instead of waiting.
    """

    def __init__(self, concurrency: int, on_slot_free: Callable[[], None] = lambda: None) -> None:
        self.concurrency = concurrency
        self.on_slot_free = on_slot_free
        self._running: dict[str, Running] = {}
        self._changed = threading.Condition()
        self._short_streak = 0
        self._emptied = threading.Event()
        self._gathering = False

    @property
    def window(self) -> int:
        """The most jobs this pool holds at once, running or reserved."""
        return self.concurrency + (RESERVE if self.reserves else 0)

    def start(self) -> None:
        """Get ready to take jobs (threads, event loop, child processes)."""
        return None

    @abstractmethod
    def _start(self, job: Job) -> None:
        """Begin running ``job``; call ``_finished(job)`` once it has ended, whatever happened."""

    @property
    def free(self) -> int:
        """How many more jobs to take now: slots without a job, plus the reserve while it is open."""
        with self._changed:
            return max(self._limit() - len(self._running), 0)

    def gather(self, timeout: float) -> None:
        """While the reserve is open and jobs run, wait (at most ``timeout`` seconds) until none runs.

        Then the caller claims a whole window at once. Optimization: the waiter is woken
        once, not by every job that ends; a job that turns out long ends the wait at once
        (the reserve ends with it).
        """
        with self._changed:
            if not self._running or self._limit() == self.concurrency:
                return
            self._emptied.clear()
            self._gathering = True
        self._emptied.wait(timeout)
        with self._changed:
            self._gathering = False

    def _limit(self) -> int:
        # Called with the lock held. A job running SHORT_JOB already closes the reserve:
        # nothing more is claimed to wait behind it.
        reserving = self.reserves and self._short_streak >= self.concurrency
        if reserving:
            oldest = time.monotonic() - SHORT_JOB
            reserving = not any(entry.begun and entry.started <= oldest for entry in self._running.values())
        return self.window if reserving else self.concurrency

    @property
    def idle(self) -> bool:
        """No job runs here."""
        with self._changed:
            return not self._running

    def running(self) -> list[Job]:
        with self._changed:
            return [entry.job for entry in self._running.values()]

    def submit(self, job: Job) -> None:
        """Run ``job``, claimed by this worker; only when ``free`` > 0."""
        try:
            timeout = resolve_task(job.task_path).timeout
        except Exception:
            timeout = None
        with self._changed:
            # Not _limit(): it shrinks when a job turns out long, after the caller saw room.
            if len(self._running) >= self.window:
                raise RuntimeError("The pool has no free slot.")
            self._running[str(job.pk)] = Running(job, time.monotonic(), timeout)
        self._start(job)

    def wait_idle(self, timeout: float | None) -> bool:
        """Wait until no job runs, at most ``timeout`` seconds; whether that happened."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._running, timeout)

    def enforce(self) -> None:
        """Pass on cancel requests, and stop jobs past their hard limits (called every few tenths of a second)."""
        with self._changed:
            entries = list(self._running.values())
        if not entries:
            return
        flagged = set(
            Job.objects.filter(pk__in=[e.job.pk for e in entries], cancel_requested_at__isnull=False).values_list(
                "pk", flat=True
            )
        )
        now = time.monotonic()
        grace = get_config()["HARD_STOP_GRACE"]
        for entry in entries:
            if entry.job.pk in flagged:
                if entry.cancel_seen is None:
                    entry.cancel_seen = now
                    self._request_cancel(entry.job)
                elif self.supports_hard_stop and now - entry.cancel_seen > grace:
                    self._stop(entry, "cancel")
            if self.supports_hard_stop and entry.timeout and now - entry.started > entry.timeout + grace:
                self._stop(entry, "timeout")
        if self.reserves:
            for job in self.revoke_waiting(RESERVE_WAIT):
                if hand_back(job):
                    logger.info("Job %s waited too long for a slot here; handed back as READY", job.pk)

    def revoke_waiting(self, older_than: float = 0.0) -> list[Job]:
        """Take back the reserved jobs that have not begun, once one was submitted ``older_than`` seconds ago or more.

        They wait in claim order, so those submitted after it go back with it: none runs here
        before one claimed ahead of it. The caller hands them back (``finish.hand_back()``):
        their attempts never start here.
        """
        now = time.monotonic()
        with self._changed:
            waiting = [key for key, entry in self._running.items() if not entry.begun and not entry.stopping]
            if not any(now - self._running[key].started >= older_than for key in waiting):
                waiting = []
            jobs = [self._running.pop(key).job for key in waiting]
            if jobs:
                self._short_streak = 0
                self._changed.notify_all()
        if jobs:
            self.on_slot_free()
        return jobs

    def _begin(self, job: Job) -> bool:
        """Called by the pool as ``job`` begins to run; False when it was revoked meanwhile."""
        with self._changed:
            entry = self._running.get(str(job.pk))
            if entry is None:
                return False
            entry.begun, entry.started = True, time.monotonic()
            return True

    def stop_now(self) -> list[Job]:
        """Stop what can be stopped at once (shutdown); returns the jobs still running, to hand back."""
        jobs = self.running()
        if self.supports_hard_stop:
            for job in jobs:
                entry = self._entry(job)
                if entry is not None:
                    self._stop(entry, "shutdown")
            self.wait_idle(5.0)
        return jobs

    def kill(self) -> None:
        """Immediate exit: kill what runs outside this process."""
        return None

    def close(self) -> None:
        """Release threads and processes once no job runs."""
        return None

    def current(self, job: Job) -> Job | None:
        """``job`` as its attempt last saw it, or None once another attempt owns it."""
        return job

    def _request_cancel(self, job: Job) -> None:
        context = running_context(job.pk)
        if context is not None:
            context.request_cancel()

    def _stop(self, entry: Running, reason: str) -> None:
        if entry.stopping:
            return
        entry.stopping = reason
        logger.warning("Stopping job %s (%s): it did not stop by itself", entry.job.pk, reason)
        self._hard_stop(entry.job)

    def _hard_stop(self, job: Job) -> None:
        raise NotImplementedError("This pool does not support hard stops")

    def _record_stop(self, entry: Running) -> None:
        job = self.current(entry.job)
        if job is None:
            return
        if entry.stopping == "timeout":
            error = JobTimedOut(f"Timed out after {entry.timeout:g} s.")
            fail(job, error_class=_path(error), message=str(error))
        elif entry.stopping == "cancel":
            finish(job, JobStatus.CANCELLED, error_class=_path(JobCancelled()), error_message="Cancelled on request.")

    def _finished(self, job: Job) -> None:
        with self._changed:
            entry = self._running.pop(str(job.pk), None)
            short = True
            if entry is not None and entry.begun:
                short = time.monotonic() - entry.started < SHORT_JOB
                self._short_streak = self._short_streak + 1 if short else 0
            if self._gathering and (not self._running or not short):
                self._emptied.set()
            self._changed.notify_all()
        self.on_slot_free()

    def _entry(self, job: Job) -> Running | None:
        with self._changed:
            return self._running.get(str(job.pk))


def _path(error: BaseException) -> str:
    kind = type(error)
    return f"{kind.__module__}.{kind.__qualname__}"
