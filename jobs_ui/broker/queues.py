"""Queue depth for staff: READY jobs, the oldest one's age, RUNNING jobs, messages in RabbitMQ; dead letters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import Count, Min, Q
from django.utils import timezone

from jobs_ui.backend import known_queues
from jobs_ui.broker import amqp
from jobs_ui.broker.messages import dead_letter_queue, job_queue
from jobs_ui.conf import get_config
from jobs_ui.exceptions import BrokerError, NoBroker, QueueNotFound
from jobs_ui.models import Job, JobStatus


@dataclass(frozen=True, slots=True)
class QueueStats:
    name: str
    ready: int
    due: int
    oldest_ready_age: float | None
    """Seconds since the oldest READY job was enqueued."""
    running: int
    messages: int | None = None
    """Messages waiting in RabbitMQ; None without a broker (or when it cannot be asked)."""
    consumers: int | None = None


def queue_stats() -> list[QueueStats]:
    """One line per queue the backends know or a job uses; asks RabbitMQ too when configured."""
    rows: dict[str, dict[str, Any]] = {
        row["queue_name"]: dict(row)
        for row in Job.objects.filter(status__in=[JobStatus.READY, JobStatus.RUNNING])
        .values("queue_name")
        .annotate(
            ready=Count("pk", filter=Q(status=JobStatus.READY)),
            due=Count("pk", filter=Q(pk__in=Job.objects.due().values("pk"))),
            running=Count("pk", filter=Q(status=JobStatus.RUNNING)),
            oldest=Min("enqueued_at", filter=Q(status=JobStatus.READY)),
        )
    }
    now = timezone.now()
    names = sorted(set(rows) | (known_queues() or set()))
    stats = []
    for name in names:
        row: dict[str, Any] = rows.get(name, {})
        oldest = row.get("oldest")
        messages, consumers = broker_counts(name)
        stats.append(
            QueueStats(
                name=name,
                ready=row.get("ready", 0),
                due=row.get("due", 0),
                oldest_ready_age=(now - oldest).total_seconds() if oldest else None,
                running=row.get("running", 0),
                messages=messages,
                consumers=consumers,
            )
        )
    return stats


def dead_letters() -> int | None:
    """Messages in the dead-letter queue; None without a broker."""
    if not get_config()["AMQP_URL"]:
        return None
    try:
        return amqp.queue_info(dead_letter_queue())[0]
    except QueueNotFound:
        return 0
    except BrokerError:
        return None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message a worker could not use, as it waits in the dead-letter queue."""

    reason: str
    queue: str
    """The RabbitMQ queue the worker took it from."""
    worker: str
    """The label of the worker that put it aside."""
    at: datetime | None
    body: str
    """The message as text; bytes that are not UTF-8 are shown as ``\\xNN``."""


def browse_dead_letters(limit: int) -> tuple[list[DeadLetter], int]:
    """The oldest ``limit`` dead letters, left in their queue, and how many there are."""
    queue = _dead_letter_queue()
    try:
        messages, total = amqp.browse(queue, limit)
    except QueueNotFound:
        return [], 0
    return [_dead_letter(message) for message in messages], total


def purge_dead_letters() -> int:
    """Delete every dead letter; how many there were."""
    try:
        return amqp.purge_queue(_dead_letter_queue())
    except QueueNotFound:
        return 0


def _dead_letter_queue() -> str:
    if not get_config()["AMQP_URL"]:
        raise NoBroker("Dead letters are kept in RabbitMQ, and JOBS_UI['AMQP_URL'] is not set.")
    return dead_letter_queue()


def _dead_letter(message: amqp.Message) -> DeadLetter:
    headers = message.headers

    def header(key: str) -> str:
        value = headers.get(key, "")
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

    return DeadLetter(
        reason=header("x-jobs-ui-reason"),
        queue=header("x-jobs-ui-queue"),
        worker=header("x-jobs-ui-worker"),
        at=None if message.timestamp is None else datetime.fromtimestamp(message.timestamp, UTC),
        body=message.body.decode("utf-8", "backslashreplace"),
    )


def broker_counts(name: str) -> tuple[int | None, int | None]:
    """Messages and consumers of the queue ``name`` in RabbitMQ; None without a broker (or when it cannot be asked)."""
    if not get_config()["AMQP_URL"]:
        return None, None
    try:
        return amqp.queue_info(job_queue(name))
    except QueueNotFound:
        return 0, 0
    except BrokerError:
        return None, None
