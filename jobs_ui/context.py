"""What a running task sees: progress, cancel, workspace."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connections, router
from django.tasks import TaskContext

from jobs_ui.conf import get_config
from jobs_ui.db.write_turns import write_turn
from jobs_ui.events import JobEvent, publish
from jobs_ui.exceptions import InvalidProgress, JobCancelled, JobTimedOut
from jobs_ui.jobs.jsonutil import encode_limited
from jobs_ui.jobs.progress import cancel_state, record_progress
from jobs_ui.models import Job

logger = logging.getLogger(__name__)

# The longest progress message kept, in characters: a longer one is cut to this, ending with "…".
# Every poll of a running job carries it.
MESSAGE_LIMIT = 1000
# The most bytes ``extra`` may take as JSON when it is written.
EXTRA_LIMIT = 64 * 1024


@dataclass(slots=True)
class ContextState:
    cancel_requested: bool = False
    lost: bool = False
    """This attempt no longer owns the job: another attempt took it over (see ``cancel_requested``)."""
    last_write: float = 0.0
    last_cancel_check: float = 0.0
    dirty: bool = False
    extra: str = ""
    """``extra`` as last written (JSON), put back when the task makes it too large."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobContext(TaskContext):  # type: ignore[type-arg,misc]
    """The ``context`` a ``@task(takes_context=True)`` function receives."""

    job: Job
    deadline: float | None = None
    _state: ContextState = field(default_factory=ContextState)

    @property
    def extra(self) -> dict[str, Any]:
        """Free-form JSON data shown with the progress; saved with the next ``progress()``."""
        extra: dict[str, Any] = self.job.extra
        return extra

    @property
    def workspace(self) -> dict[str, Any]:
        """JSON data kept across attempts (and, later, across steps); saved with progress and at the end."""
        workspace: dict[str, Any] = self.job.workspace
        return workspace

    def progress(self, done: float, total: float | None = None, message: str = "") -> None:
        """Record progress; written at most every ``PROGRESS_INTERVAL`` seconds (always when done == total).

        Raises like ``check_cancelled()`` once a cancel is known (a write learns of it) or
        the timeout has passed; it makes no query of its own for that. In an async task,
        use ``await context.aprogress(...)``.
        """
        if _in_event_loop():
            raise RuntimeError("context.progress() would block the event loop; use await context.aprogress(...).")
        if self._record(done, total, message):
            self.flush()
        self._raise_if_stopped()

    async def aprogress(self, done: float, total: float | None = None, message: str = "") -> None:
        """``progress()`` for async tasks: the write runs in a thread, so the event loop never waits on it."""
        if self._record(done, total, message):
            await sync_to_async(self.flush, thread_sensitive=False)()
        self._raise_if_stopped()

    def _record(self, done: float, total: float | None, message: str) -> bool:
        """Keep the new progress on the job; whether it is time to write it."""
        job = self.job
        job.progress_done = done
        job.progress_total = total
        message = str(message)
        if len(message) > MESSAGE_LIMIT:
            message = message[: MESSAGE_LIMIT - 1] + "…"
        job.progress_message = message
        self._state.dirty = True
        finished = total is not None and done >= total
        return finished or time.monotonic() - self._state.last_write >= get_config()["PROGRESS_INTERVAL"]

    def flush(self) -> None:
        """Write progress, ``extra`` and ``workspace`` now (outside any transaction the task has open).

        ``InvalidProgress`` when ``extra`` is not JSON or over ``EXTRA_LIMIT`` bytes as JSON:
        nothing is written, and ``extra`` is put back as it was last written.
        """
        self._check_extra()
        self._state.last_write = time.monotonic()
        if _outside_transaction(self._write_progress):
            self._state.dirty = False
        publish(JobEvent.for_job(self.job, "progress"))

    @property
    def cancel_requested(self) -> bool:
        """Whether someone asked to cancel this job (read from the database at most every ``PROGRESS_INTERVAL``).

        Also True once this attempt has lost the job: its worker stood still (frozen, cut off)
        past its lease, and the job was retried or failed meanwhile. Nothing it writes lands
        any more, so the task should stop as it would for a cancel.
        """
        state = self._state
        if not state.cancel_requested:
            now = time.monotonic()
            if now - state.last_cancel_check >= get_config()["PROGRESS_INTERVAL"]:
                state.last_cancel_check = now
                _outside_transaction(self._read_cancel)
        return state.cancel_requested

    @property
    def timed_out(self) -> bool:
        """Whether the task's ``timeout`` has passed."""
        return self.deadline is not None and time.monotonic() > self.deadline

    def check_cancelled(self) -> None:
        """Raise ``JobCancelled`` once a cancel is requested (``JobTimedOut`` past the timeout)."""
        if self.cancel_requested or self.timed_out:
            self._raise_if_stopped()

    def _raise_if_stopped(self) -> None:
        if self._state.cancel_requested:
            if self._state.lost:
                raise JobCancelled("This attempt lost the job: its lease expired and another attempt took over.")
            raise JobCancelled("Cancelled on request.")
        if self.timed_out:
            raise JobTimedOut("Timed out.")

    def settle_extra(self) -> None:
        """Before the final write: an ``extra`` over the limit is put back as last written, with a warning."""
        try:
            self._check_extra()
        except InvalidProgress as e:
            logger.warning("Job %s: %s It is not kept.", self.job.pk, e)

    def _check_extra(self) -> None:
        job = self.job
        try:
            self._state.extra = encode_limited(
                job.extra, limit=EXTRA_LIMIT, what="context.extra", error=InvalidProgress
            )
        except InvalidProgress:
            job.extra = json.loads(self._state.extra) if self._state.extra else {}
            raise

    def request_cancel(self) -> None:
        """Set the flag from this process (``jobs_ui.cancel`` calls it for jobs running here)."""
        self._state.cancel_requested = True

    def _write_progress(self) -> None:
        running, cancel_requested = record_progress(self.job)
        if not running:
            self._state.lost = True
        if cancel_requested:
            self._state.cancel_requested = True

    def _read_cancel(self) -> None:
        running, cancel_requested = cancel_state(self.job)
        if not running:
            self._state.lost = True
        if cancel_requested:
            self._state.cancel_requested = True


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


_in_caller = threading.local()


@contextmanager
def writes_in_callers_transaction() -> Iterator[None]:
    """A job run in the caller's thread and transaction (``jobs_ui.jobs.inline``): its progress is
    written with its end, in that transaction, where a connection of another thread could not see the row."""
    _in_caller.depth = getattr(_in_caller, "depth", 0) + 1
    try:
        yield
    finally:
        _in_caller.depth -= 1


def _outside_transaction(write: Callable[[], None]) -> bool:
    """Run ``write`` outside the task's transaction; False when that cannot be done now."""
    # Progress must be visible while the task runs, and must not vanish if the
    # task's own transaction rolls back: inside an atomic block, write from a
    # short-lived thread, which has its own connection.
    alias = router.db_for_write(Job)
    connection = connections[alias]
    if not connection.in_atomic_block:
        with write_turn(alias):
            write()
        return True
    if getattr(_in_caller, "depth", 0):
        return False
    if connection.vendor == "sqlite":
        # One writer at a time: the task's transaction holds the lock, so a
        # second connection would wait for it. The write stays pending until
        # the next progress() outside the transaction or the job's end.
        return False

    def target() -> None:
        try:
            write()
        finally:
            close_old_connections()
            connections.close_all()

    thread = threading.Thread(target=target, name="jobs_ui-progress", daemon=True)
    thread.start()
    thread.join()
    return True
