"""Background threads of a worker process that write final outcomes and send events in batches.

Only worker processes start them (``start()``); elsewhere writes and events stay synchronous.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connections, transaction

from jobs_ui.broker import amqp
from jobs_ui.db.sql import jobs_alias
from jobs_ui.db.write_turns import write_turn

if TYPE_CHECKING:
    from jobs_ui.events import JobEvent
    from jobs_ui.models import Job

logger = logging.getLogger(__name__)

# The most items taken in one batch.
BATCH_LIMIT = 256
# Seconds the event sender gathers events before sending; of the events of one job
# within it, only the last is sent (a short job sends only "finished").
EVENT_WINDOW = 0.02
# Seconds between two attempts to write a batch the database refused.
WRITE_RETRY = 1.0


@dataclass(slots=True)
class Outcome:
    job: Job
    values: dict[str, Any]


# Optimization: a job thread that has run its task hands the final write to the
# OutcomeWriter and takes the next job at once; the writer commits whatever outcomes
# are waiting in one transaction (each UPDATE still fenced by the attempt number), then
# publishes their "finished" events. An outcome is in memory only until its batch is
# committed: if the process dies then, the job is recovered like any job of a lost worker.
class OutcomeWriter:
    """Writes the final outcomes of attempts, batched, from one thread."""

    def __init__(
        self,
        write: Callable[[str, list[Outcome]], list[Any]],
        announce: Callable[[list[Outcome], list[Any]], None],
        on_written: Callable[[], None],
        backlog: int = 0,
    ) -> None:
        self._write = write
        self._announce = announce
        self._on_written = on_written
        self._backlog = backlog
        self._queue: queue.SimpleQueue[Outcome | None] = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="jobs_ui-outcomes", daemon=True)

    @property
    def excess(self) -> int:
        """Outcomes waiting to be committed beyond ``backlog``: as many new jobs should wait."""
        with self._lock:
            return max(self._pending - self._backlog, 0)

    def start(self) -> None:
        self._thread.start()

    def put(self, job: Job, values: dict[str, Any]) -> None:
        with self._lock:
            self._pending += 1
        self._queue.put(Outcome(job, values))

    def close(self) -> None:
        """Write what is waiting (one more try if the database refuses), then stop the thread."""
        self._closing.set()
        self._queue.put(None)
        self._thread.join()

    def _serve(self) -> None:
        alias = jobs_alias()
        try:
            while (batch := _take(self._queue)) is not None:
                outcomes, closing = batch
                self._write_all(alias, outcomes)
                if closing:
                    return
        finally:
            connections.close_all()

    def _write_all(self, alias: str, outcomes: list[Outcome]) -> None:
        while True:
            try:
                with write_turn(alias), transaction.atomic(using=alias):
                    written = self._write(alias, outcomes)
            except DatabaseError:
                # The outcomes stay in memory until the database takes them; meanwhile
                # the heartbeat keeps their jobs' leases alive.
                logger.exception("Could not write %d job outcome(s); trying again", len(outcomes))
                connections[alias].close()
                if self._closing.wait(WRITE_RETRY):
                    return
                continue
            break
        with self._lock:
            was_holding_back = self._pending > self._backlog
            self._pending -= len(outcomes)
        try:
            self._announce(outcomes, written)
        except Exception:
            logger.exception("Could not announce %d job outcome(s)", len(outcomes))
        if was_holding_back:
            self._on_written()


# Only the events bound for RabbitMQ go through the EventSender, several frames per
# system call; events within a process are always delivered one by one.
class EventSender:
    """Sends events to the RabbitMQ exchange from one thread, several per write."""

    def __init__(self, send: Callable[[list[JobEvent]], None]) -> None:
        self._send = send
        self._queue: queue.SimpleQueue[JobEvent | None] = queue.SimpleQueue()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="jobs_ui-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, event: JobEvent) -> None:
        self._queue.put(event)

    def close(self) -> None:
        """Send what is waiting, then stop the thread."""
        self._closing.set()
        self._queue.put(None)
        self._thread.join()

    def _serve(self) -> None:
        try:
            while (batch := _take(self._queue, EVENT_WINDOW, self._closing)) is not None:
                events, closing = batch
                if events:
                    try:
                        self._send(superseded_dropped(events))
                    except Exception:
                        # Never fatal: a lost event only delays what a page shows.
                        logger.warning("Could not send %d event(s)", len(events), exc_info=True)
                if closing:
                    return
        finally:
            amqp.close()


def superseded_dropped(events: list[JobEvent]) -> list[JobEvent]:
    """The last event of each job in ``events``: it carries the job's latest status and progress."""
    last = {event.job_id: index for index, event in enumerate(events)}
    return [event for index, event in enumerate(events) if last[event.job_id] == index]


def _take[T](
    source: queue.SimpleQueue[T | None], window: float = 0.0, closing: threading.Event | None = None
) -> tuple[list[T], bool] | None:
    """Wait for an item, then take what else arrives within ``window`` seconds: ``(items, closing)``.

    None once closed and empty. The window ends early when ``closing`` is set.
    """
    first = source.get()
    if first is None:
        return None
    if window and closing is not None:
        # Optimization: the window passes without waking for each item; a thread
        # woken per event cost a switch of the GIL per event.
        closing.wait(window)
    items = [first]
    while len(items) < BATCH_LIMIT:
        try:
            item = source.get_nowait()
        except queue.Empty:
            break
        if item is None:
            return items, True
        items.append(item)
    return items, False


_writer: OutcomeWriter | None = None
_sender: EventSender | None = None


def writer() -> OutcomeWriter | None:
    """The running outcome writer, if this process started one."""
    return _writer


def sender() -> EventSender | None:
    return _sender


def start(
    write: Callable[[str, list[Outcome]], list[Any]],
    announce: Callable[[list[Outcome], list[Any]], None],
    on_written: Callable[[], None],
    *,
    backlog: int,
    send: Callable[[list[JobEvent]], None] | None = None,
) -> None:
    """Start the writer (and, given ``send``, the event sender) for this process.

    ``write`` writes a batch of outcomes in the caller's transaction, ``announce`` tells of
    them once committed. More than ``backlog`` outcomes waiting hold back new jobs
    (``OutcomeWriter.excess``); ``on_written`` is called once a batch written ends that.
    """
    global _writer, _sender
    if send is not None:
        _sender = EventSender(send)
        _sender.start()
    _writer = OutcomeWriter(write, announce, on_written, backlog)
    _writer.start()


def stop() -> None:
    """Write and send everything still waiting, then stop both threads."""
    global _writer, _sender
    current_writer, _writer = _writer, None
    if current_writer is not None:
        current_writer.close()
    current_sender, _sender = _sender, None
    if current_sender is not None:
        current_sender.close()
