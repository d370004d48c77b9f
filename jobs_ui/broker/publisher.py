"""The thread of a process that publishes its new jobs' messages, so ``launch()`` never waits for RabbitMQ.

It marks the rows whose messages the broker confirmed (``dispatched_at``); the sweep publishes those left unmarked.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass

from django.db import connections

from jobs_ui.broker import amqp
from jobs_ui.broker.messages import (
    QUEUE_ARGUMENTS,
    OutgoingMessage,
    broker_down,
    broker_failed,
    declared,
    queue_declared,
)
from jobs_ui.exceptions import BrokerError
from jobs_ui.jobs import marks

logger = logging.getLogger(__name__)

# The most messages sent before their confirms are read.
BATCH_LIMIT = 256
# Seconds the broker's confirms may wait to be read while no new message comes. Optimization:
# each message's turn reads the confirms that came meanwhile, so the thread wakes once per
# message, where a wake per confirm as well cost a busy web process a third of its launches;
# a confirm only leads to its row's mark, which waits MARK_DELAY anyway.
CONFIRM_READ_DELAY = 0.05
# Seconds a message may wait for its confirm before the sweep is left to publish it again.
CONFIRM_TIMEOUT = 10.0
# Longest wait at exit (or when settings change) for the messages still waiting.
FLUSH_TIMEOUT = 5.0
# An idle connection is looked at this often, so it answers the broker's heartbeats.
IDLE_CHECK = 10.0
# Seconds from a confirm to the mark of its row. Optimization: a confirm comes about
# when a worker claims the job, and a mark written then took the CPU and the database
# from that claim and the job's start; later, the marks of a burst go in one statement.
# The mark only spares the sweep a publish, and the sweep waits DISPATCH_GRACE first.
MARK_DELAY = 0.05

_publisher: Publisher | None = None
_lock = threading.Lock()


@dataclass(slots=True)
class _Sent:
    message: OutgoingMessage
    at: float
    resent: bool


# Optimization: a launch hands its message over and returns; this thread sends
# whatever messages are waiting, several before the first confirm, and marks the rows
# the broker has confirmed, MARK_DELAY later. The row is committed before its message
# is handed over, so a message lost on the way (broker down, process gone) only delays
# its job: the sweep publishes every READY job left unmarked. At exit, the messages
# waiting are sent and confirmed first (FLUSH_TIMEOUT).
class Publisher:
    """Sends the messages of ``submit()`` from a daemon thread, on a connection of its own."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._queue: queue.SimpleQueue[OutgoingMessage | None] = queue.SimpleQueue()
        self._unsettled = 0
        self._idle = threading.Condition()
        self._broker: amqp.ConfirmingPublisher | None = None
        self._sent: dict[str, _Sent] = {}
        # Messages no queue took, sent once more after declaring their queue again.
        self._again: list[OutgoingMessage] = []
        # Confirmed (job id, attempts) waiting for their mark, and since when.
        self._unmarked: list[tuple[object, int]] = []
        self._unmarked_since = 0.0
        self._thread = threading.Thread(target=self._serve, name="jobs_ui-publisher", daemon=True)
        self._thread.start()

    def submit(self, message: OutgoingMessage) -> None:
        with self._idle:
            self._unsettled += 1
        self._queue.put(message)

    def flush(self, timeout: float) -> bool:
        """Wait until every message submitted so far is confirmed or given up; whether that happened."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unsettled == 0, timeout)

    def _serve(self) -> None:
        try:
            while True:
                messages = self._take()
                if messages is None:
                    self._mark()
                    return
                again, self._again = self._again, []
                self._send(again, resent=True)
                self._send(messages)
                self._read_confirms()
                due = self._marks_due_in()
                if due is not None and due <= 0:
                    self._mark()
        finally:
            if self._broker is not None:
                self._broker.close()
            connections.close_all()

    def _take(self) -> list[OutgoingMessage] | None:
        # Waits for a message until marks are due or confirms are to be read.
        if self._again:
            messages = []
        else:
            due = self._marks_due_in()
            timeout = IDLE_CHECK if due is None else max(0.0, due)
            if self._sent:
                timeout = min(timeout, CONFIRM_READ_DELAY)
            try:
                first = self._queue.get(timeout=timeout)
            except queue.Empty:
                if due is None and not self._sent:
                    self._keep_alive()
                return []
            if first is None:
                return None
            messages = [first]
        while len(messages) < BATCH_LIMIT:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return None
            messages.append(item)
        return messages

    def _send(self, messages: list[OutgoingMessage], *, resent: bool = False) -> None:
        if not messages:
            return
        if broker_down():
            self._settled(len(messages))
            return
        handled = 0
        try:
            broker = self._connected()
            for message in messages:
                if message.key in self._sent:
                    # The same attempt handed over twice: one message is enough.
                    self._settled(1)
                else:
                    self._publish(broker, message, resent)
                handled += 1
        except BrokerError as e:
            broker_failed(e)
            # The messages from the one that failed on were not sent; those sent wait in _sent.
            self._settled(len(messages) - handled)
            self._drop_connection()

    def _publish(self, broker: amqp.ConfirmingPublisher, message: OutgoingMessage, resent: bool) -> None:
        if not queue_declared(message.queue):
            broker.declare_queue(message.queue, QUEUE_ARGUMENTS)
            declared(message.queue, True)
        broker.publish(message.key, message.queue, message.body, priority=message.priority)
        self._sent[message.key] = _Sent(message, time.monotonic(), resent)

    def _read_confirms(self) -> None:
        if not self._sent or self._broker is None:
            return
        try:
            confirmed, unroutable, nacked = self._broker.poll(0)
        except BrokerError as e:
            broker_failed(e)
            self._drop_connection()
            return
        done = [self._sent.pop(key).message for key in confirmed if key in self._sent]
        given_up = 0
        for key in unroutable:
            entry = self._sent.pop(key, None)
            if entry is None:
                continue
            # The queue was deleted since it was declared: declared and sent once more.
            declared(entry.message.queue, False)
            if entry.resent:
                given_up += 1
            else:
                self._again.append(entry.message)
        for key in nacked:
            if self._sent.pop(key, None) is not None:
                given_up += 1
        now = time.monotonic()
        late = [key for key, entry in self._sent.items() if now - entry.at > CONFIRM_TIMEOUT]
        for key in late:
            del self._sent[key]
        if given_up or late:
            logger.warning("RabbitMQ did not take %d job message(s); the sweep publishes them", given_up + len(late))
        if done and not self._unmarked:
            self._unmarked_since = time.monotonic()
        self._unmarked.extend((m.job_id, m.attempts) for m in done)
        self._settled(given_up + len(late))

    def _marks_due_in(self) -> float | None:
        """Seconds until the confirmed rows waiting are to be marked (0 or less: now); None when none waits."""
        return self._unmarked_since + MARK_DELAY - time.monotonic() if self._unmarked else None

    def _mark(self) -> None:
        """Mark the confirmed rows still READY as dispatched; their messages are settled then."""
        unmarked, self._unmarked = self._unmarked, []
        if not unmarked:
            return
        try:
            marks.mark_dispatched(unmarked)
        except Exception:
            # The sweep publishes them again; the claim drops the duplicates.
            logger.exception("Could not mark %d job(s) as dispatched", len(unmarked))
        self._settled(len(unmarked))

    def _connected(self) -> amqp.ConfirmingPublisher:
        broker = self._broker
        if broker is not None and broker.generation != amqp.current_generation():
            self._drop_connection()
            broker = None
        if broker is None:
            broker = amqp.ConfirmingPublisher()
            try:
                broker.open()
            except BrokerError:
                broker.close()
                raise
            self._broker = broker
        return broker

    def _drop_connection(self) -> None:
        if self._broker is not None:
            self._broker.close()
        self._broker = None
        # Their fate is unknown: the sweep publishes them again if they never arrived.
        self._settled(len(self._sent))
        self._sent.clear()

    def _keep_alive(self) -> None:
        if self._broker is None:
            return
        try:
            self._broker.poll(0)
        except BrokerError:
            self._drop_connection()

    def _settled(self, count: int) -> None:
        if not count:
            return
        with self._idle:
            self._unsettled -= count
            if self._unsettled <= 0:
                self._unsettled = 0
                self._idle.notify_all()

    def stop(self, timeout: float) -> None:
        self.flush(timeout)
        self._queue.put(None)
        self._thread.join(timeout)


def submit(message: OutgoingMessage) -> None:
    """Publish ``message`` from this process's publisher thread (started on first use)."""
    global _publisher
    publisher = _publisher
    if publisher is None or publisher.pid != os.getpid():
        with _lock:
            if _publisher is None or _publisher.pid != os.getpid():
                _publisher = Publisher()
            publisher = _publisher
    publisher.submit(message)


def flush(timeout: float = FLUSH_TIMEOUT) -> bool:
    """Wait until the messages submitted so far are confirmed (or given up to the sweep)."""
    publisher = _publisher
    if publisher is None or publisher.pid != os.getpid():
        return True
    return publisher.flush(timeout)


def reset() -> None:
    """Send what is waiting, then stop the thread (settings changed); the next submit starts another."""
    global _publisher
    with _lock:
        publisher, _publisher = _publisher, None
    if publisher is not None and publisher.pid == os.getpid():
        publisher.stop(FLUSH_TIMEOUT)


atexit.register(reset)
