"""Hints from other processes that a watched job changed, for this process's sockets (``jobs_ui.push.hub``).

With ``AMQP_URL``: one thread consumes RabbitMQ's event exchange, on an exclusive auto-delete
queue bound only to the jobs watched here. On PostgreSQL without a broker: one thread
``LISTEN``\\s to ``jobs_ui.events.EVENTS_CHANNEL``, whose notes carry a job's id and nothing else. Either way a
hint only makes a socket read its job's row again; after a reconnection every socket does,
so nothing missed stays missed. Elsewhere (SQLite without a broker) thread jobs of this
process push through ``jobs_ui.events``, and other jobs are polled.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from typing import Any

from django.db import connections

from jobs_ui import events
from jobs_ui.broker import amqp
from jobs_ui.conf import get_config
from jobs_ui.db.sql import jobs_alias
from jobs_ui.push import hub

logger = logging.getLogger(__name__)

# Seconds between two looks at what to bind or whether to stop, while no event arrives.
TICK = 0.05
# Seconds before connecting again, doubled after each failure up to BACKOFF_MAX.
BACKOFF, BACKOFF_MAX = 0.5, 10.0

_bridge: Bridge | None = None
_lock = threading.Lock()


def start() -> Bridge | None:
    """This process's bridge, started on first use; None where hints come only from this process."""
    global _bridge
    with _lock:
        if _bridge is None:
            if get_config()["AMQP_URL"]:
                _bridge = AmqpBridge()
            elif connections[jobs_alias()].vendor == "postgresql":
                _bridge = PostgresBridge()
            else:
                return None
            _bridge.start()
        return _bridge


def stop() -> None:
    """Stop this process's bridge, if any (tests, and the end of the process)."""
    global _bridge
    with _lock:
        bridge, _bridge = _bridge, None
    if bridge is not None:
        bridge.stop()


class Bridge:
    """A thread that turns another process's hints into ``hub.changed()``, reconnecting with backoff."""

    name = "bridge"

    def __init__(self) -> None:
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"jobs_ui-push-{self.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        delay = BACKOFF
        try:
            while not self._stop.is_set():
                try:
                    self._run()
                    delay = BACKOFF
                except Exception:
                    logger.warning("Live push lost its %s; connecting again in %.1f s", self.name, delay, exc_info=True)
                finally:
                    self.connected.clear()
                self._stop.wait(delay)
                delay = min(BACKOFF_MAX, delay * 2)
        finally:
            connections.close_all()

    def _run(self) -> None:
        raise NotImplementedError

    def _connected(self) -> None:
        self.connected.set()
        # Whatever happened while this process was not listening: every socket reads its job again.
        hub.changed_all()


class AmqpBridge(Bridge):
    """Consumes the event exchange with a binding per watched job (``JobEvent.routing_key``)."""

    name = "RabbitMQ event consumer"

    def __init__(self) -> None:
        super().__init__()
        self._changes: queue.SimpleQueue[tuple[str, bool]] = queue.SimpleQueue()
        self._remove_listener = hub.on_watch(lambda job_id, on: self._changes.put((job_id, on)))

    def stop(self) -> None:
        self._remove_listener()
        super().stop()

    def _run(self) -> None:
        connection = amqp.connect()
        try:
            channel = connection.channel()
            amqp.declare_events_exchange(channel)
            queue_name = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
            while not self._changes.empty():  # bound below, from what is watched now
                self._changes.get_nowait()
            bound: set[str] = set()
            for job_id in hub.watched():
                self._bind(channel, queue_name, job_id, bound, True)
            channel.basic_consume(queue_name, self._on_message, auto_ack=True)
            self._connected()
            while not self._stop.is_set():
                connection.process_data_events(time_limit=TICK)
                while not self._changes.empty():
                    job_id, on = self._changes.get_nowait()
                    self._bind(channel, queue_name, job_id, bound, on)
        finally:
            amqp.close_connection(connection)

    def _bind(self, channel: Any, queue_name: str, job_id: str, bound: set[str], on: bool) -> None:
        key = "job.#" if job_id == hub.ALL else f"job.{job_id.replace('-', '')}"
        if on and job_id not in bound:
            channel.queue_bind(queue_name, amqp.name("events"), routing_key=key)
            bound.add(job_id)
            # An event sent before the binding was in place went nowhere: read the job again.
            hub.changed(job_id)
        elif not on and job_id in bound:
            channel.queue_unbind(queue_name, amqp.name("events"), routing_key=key)
            bound.discard(job_id)

    def _on_message(self, _channel: Any, method: Any, _properties: Any, body: bytes) -> None:
        try:
            event = events.JobEvent.from_json(body)
        except (TypeError, ValueError):
            logger.warning("An event that is not one, on %s; ignored", method.routing_key)
            return
        job_id = _canonical(event.job_id)
        if job_id and event.origin != events.ORIGIN:  # this process's own were delivered at once
            hub.changed(job_id)


class PostgresBridge(Bridge):
    """``LISTEN`` to ``jobs_ui.events.EVENTS_CHANNEL`` on a connection of its own."""

    name = "PostgreSQL listener"

    def _run(self) -> None:
        database = connections.create_connection(jobs_alias())
        try:
            database.ensure_connection()
            raw = database.connection
            raw.execute(f"LISTEN {events.EVENTS_CHANNEL}")
            self._connected()
            while not self._stop.is_set():
                for note in raw.notifies(timeout=TICK * 10, stop_after=1):
                    job_id = _canonical(note.payload)
                    if job_id:
                        hub.changed(job_id)
        finally:
            database.close()


def _canonical(job_id: str) -> str:
    # Anyone who can connect may send a note: only a job id in its one form reaches the hub.
    try:
        return str(uuid.UUID(job_id))
    except (TypeError, ValueError):
        return ""
