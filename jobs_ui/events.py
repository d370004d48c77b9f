"""Job events: in-process subscribers always, a RabbitMQ topic exchange when configured."""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connections
from django.utils import timezone

from jobs_ui.broker import amqp
from jobs_ui.conf import get_config
from jobs_ui.db.sql import jobs_alias
from jobs_ui.worker import batching

if TYPE_CHECKING:
    from jobs_ui.models import Job

logger = logging.getLogger(__name__)

# Identifies this process, so a bridge from RabbitMQ can skip its own events.
ORIGIN = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"

Subscriber = Callable[["JobEvent"], None]
_subscribers: list[Subscriber] = []
_lock = threading.Lock()


@dataclass(frozen=True, slots=True, kw_only=True)
class JobEvent:
    """Something happened to a job: ``kind`` is progress, finished, cancel_requested or enqueued."""

    job_id: str
    kind: str
    status: str
    done: float = 0
    total: float | None = None
    message: str = ""
    at: str = field(default_factory=lambda: timezone.now().isoformat())
    origin: str = ORIGIN

    @classmethod
    def for_job(cls, job: Job, kind: str) -> JobEvent:
        return cls(
            job_id=str(job.pk),
            kind=kind,
            status=str(job.status),
            done=job.progress_done,
            total=job.progress_total,
            message=job.progress_message,
        )

    @property
    def routing_key(self) -> str:
        # job_id is str(job.pk), a UUID in canonical form: its hex is that without dashes.
        return f"job.{self.job_id.replace('-', '')}"

    def to_json(self) -> str:
        # Optimization: dataclasses.asdict() deep-copies field by field.
        return json.dumps({name: getattr(self, name) for name in _FIELDS})

    @classmethod
    def from_json(cls, text: str | bytes) -> JobEvent:
        data: dict[str, Any] = json.loads(text)
        return cls(**data)


_FIELDS = tuple(f.name for f in fields(JobEvent))


def subscribe(callback: Subscriber) -> Callable[[], None]:
    """Call ``callback`` for every event published in this process; returns the unsubscribe function."""
    with _lock:
        _subscribers.append(callback)

    def unsubscribe() -> None:
        with _lock:
            if callback in _subscribers:
                _subscribers.remove(callback)

    return unsubscribe


def deliver_locally(event: JobEvent) -> None:
    with _lock:
        subscribers = list(_subscribers)
    for callback in subscribers:
        try:
            callback(event)
        except Exception:
            logger.exception("Event subscriber %r failed", callback)


def publish(event: JobEvent) -> None:
    """Send ``event`` to this process's subscribers and, with ``AMQP_URL``, to the event exchange;
    without it, with ``WEBSOCKETS`` on PostgreSQL, a ``NOTIFY`` of the job's id.

    Never raises: a lost event only delays what a page shows, polling still works.
    """
    deliver_locally(event)
    config = get_config()
    if not config["AMQP_URL"]:
        if config["WEBSOCKETS"]:
            _notify(event)
        return
    sender = batching.sender()
    if sender is not None:
        sender.put(event)
        return
    try:
        send_batch([event])
    except Exception:
        logger.warning("Could not publish event for job %s", event.job_id, exc_info=True)


# What _notify() sends on PostgreSQL without a broker (jobs_ui.push.bridges listens to it).
EVENTS_CHANNEL = "jobs_ui_events"


def _notify(event: JobEvent) -> None:
    # Only the job's id: a note is a hint that anyone who can connect may send, and the
    # socket told of it reads the job's row again. Inside a transaction it leaves with the commit.
    connection = connections[jobs_alias()]
    if connection.vendor != "postgresql":
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [EVENTS_CHANNEL, event.job_id])
    except DatabaseError:
        logger.warning("Could not notify the change of job %s", event.job_id, exc_info=True)


def send_batch(events: list[JobEvent]) -> None:
    """Publish ``events`` to the RabbitMQ exchange together (``jobs_ui.worker.batching.EventSender``)."""
    amqp.publish_events([(event.routing_key, event.to_json().encode()) for event in events])
