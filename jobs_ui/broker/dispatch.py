"""Worker jobs in RabbitMQ: one durable priority queue per ``queue_name``, a message per READY job.

A message is a wake-up for its queue; the ``Job`` row is the truth, and ``sweep()`` publishes what has no message.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connections, router, transaction
from django.db.models import BooleanField, ExpressionWrapper, Min, Q
from django.db.models.functions import Now
from django.utils import timezone

from jobs_ui.broker import amqp
from jobs_ui.conf import get_config
from jobs_ui.db import statements
from jobs_ui.db.write_turns import write_turn
from jobs_ui.exceptions import JobsUiException, MessageUnroutable
from jobs_ui.models import Job, JobStatus, db_now_plus

logger = logging.getLogger(__name__)

MESSAGE_VERSION = 1
# RabbitMQ keeps one internal queue per priority level; 10 levels is its advice.
PRIORITY_LEVELS = 10
QUEUE_ARGUMENTS: dict[str, Any] = {"x-max-priority": PRIORITY_LEVELS, "x-queue-type": "classic"}
# After a failed publish, launches skip the broker for this long instead of
# waiting on it again; the sweep publishes their jobs once it is back.
BACKOFF = 5.0
SWEEP_BATCH = 500

_declared: set[str] = set()
_down_until = 0.0


class InvalidJobMessage(JobsUiException, ValueError):
    """A job message that is not JSON, or not in the format of ``JobMessage``."""


# The Job row is the truth and a message only says "a READY job of this queue may be
# claimed" (a worker claims the one that comes first, jobs_ui.worker.message_claims): a
# message that reaches no queue is published again by sweep(), and a duplicate or stale
# one claims the next job or nothing, so a job is neither lost nor run twice.
# Job.dispatched_at is set once the broker has confirmed a message for the READY row.
@dataclass(frozen=True, slots=True)
class JobMessage:
    """The body of a job message: which job, which task, which READY attempt."""

    job_id: uuid.UUID
    task_path: str
    attempts: int

    @classmethod
    def for_job(cls, job: Job) -> JobMessage:
        return cls(job_id=job.pk, task_path=job.task_path, attempts=job.attempts)

    def encode(self) -> bytes:
        data = {"v": MESSAGE_VERSION, "job_id": str(self.job_id), "task": self.task_path, "attempts": self.attempts}
        return json.dumps(data).encode()

    @classmethod
    def decode(cls, body: bytes) -> JobMessage:
        """Parse ``body``; ``InvalidJobMessage`` says what is wrong with it."""
        try:
            data = json.loads(body.decode())
        except (UnicodeDecodeError, ValueError) as e:
            raise InvalidJobMessage(f"The message is not JSON: {e}") from e
        expected = {"v", "job_id", "task", "attempts"}
        if not isinstance(data, dict) or set(data) != expected:
            raise InvalidJobMessage(f"The message must be a JSON object with exactly the keys {sorted(expected)}.")
        if data["v"] != MESSAGE_VERSION:
            raise InvalidJobMessage(f"Unknown message version {data['v']!r}; this worker reads {MESSAGE_VERSION}.")
        try:
            job_id = uuid.UUID(str(data["job_id"]))
        except ValueError as e:
            raise InvalidJobMessage(f"job_id {data['job_id']!r} is not a UUID.") from e
        task, attempts = data["task"], data["attempts"]
        if not isinstance(task, str) or not task:
            raise InvalidJobMessage("task must be a non-empty string.")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
            raise InvalidJobMessage("attempts must be a whole number >= 0.")
        return cls(job_id=job_id, task_path=task, attempts=attempts)


def job_queue(queue_name: str) -> str:
    """The RabbitMQ queue of the jobs of ``queue_name``."""
    return amqp.name("jobs", queue_name)


def dead_letter_queue() -> str:
    """Where workers put messages they cannot read, with the reason in a header, for staff to inspect."""
    return amqp.name("dead-letters")


def dead_letter(body: bytes, queue: str, reason: str, worker: str) -> None:
    """Put a message a worker cannot use in the dead-letter queue: why, from which queue, by whom, when."""
    headers = {"x-jobs-ui-reason": reason, "x-jobs-ui-queue": queue, "x-jobs-ui-worker": worker}
    amqp.publish("", dead_letter_queue(), body, persistent=True, headers=headers, timestamp=int(time.time()))


def amqp_priority(priority: int) -> int:
    """Django's -100..100 mapped onto RabbitMQ's 0..9, keeping the order."""
    return (max(-100, min(100, priority)) + 100) * PRIORITY_LEVELS // 201


def declare_queues(queue_names: Iterable[str]) -> None:
    for queue in [*(job_queue(name) for name in queue_names), dead_letter_queue()]:
        arguments = QUEUE_ARGUMENTS if queue != dead_letter_queue() else {"x-queue-type": "classic"}
        amqp.declare_queue(queue, durable=True, arguments=arguments)
        _declared.add(queue)


def publish(job: Job) -> None:
    """Publish the message of the READY ``job`` (persistent, confirmed); ``BrokerError`` if not done."""
    message = OutgoingMessage.for_job(job)
    queue = message.queue
    for attempt in (1, 2):
        if queue not in _declared:
            declare_queues([job.queue_name])
        try:
            amqp.publish("", queue, message.body, persistent=True, mandatory=True, priority=message.priority)
            return
        except MessageUnroutable:
            # The queue was deleted since this process declared it.
            _declared.discard(queue)
            if attempt == 2:
                raise


def dispatch(jobs: Iterable[Job]) -> int:
    """Hand the due jobs among ``jobs`` to this process's publisher thread; returns how many. Never raises.

    The caller does not wait for RabbitMQ (``jobs_ui.broker.publisher``): a job's row is
    marked once the broker has confirmed its message. A job that is not due yet
    (``run_after``), or whose message the broker did not confirm, keeps
    ``dispatched_at`` empty and is published by the next ``sweep()``.
    """
    from jobs_ui.broker import publisher

    if broker_down():
        return 0
    now = timezone.now()
    due = [job for job in jobs if job.run_after is None or job.run_after <= now]
    for job in due:
        publisher.submit(OutgoingMessage.for_job(job))
    return len(due)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """The message of a READY attempt, on its way to the broker."""

    job_id: uuid.UUID
    attempts: int
    queue: str
    body: bytes
    priority: int

    @classmethod
    def for_job(cls, job: Job) -> OutgoingMessage:
        body = JobMessage.for_job(job).encode()
        return cls(job.pk, job.attempts, job_queue(job.queue_name), body, amqp_priority(job.priority))

    @property
    def key(self) -> str:
        """Names the attempt's message among those on their way."""
        return f"{self.job_id}:{self.attempts}"


def broker_down() -> bool:
    """Whether a publish failed moments ago (``BACKOFF``): until then, jobs wait for the sweep."""
    return time.monotonic() < _down_until


def broker_failed(error: Exception) -> None:
    global _down_until
    _down_until = time.monotonic() + BACKOFF
    logger.warning("Jobs wait for RabbitMQ (%s); they will be published once the broker is back", error)


def queue_declared(queue: str) -> bool:
    return queue in _declared


def declared(queue: str, known: bool) -> None:
    """Remember whether ``queue`` exists (``known``), so it is declared again before the next publish."""
    if known:
        _declared.add(queue)
    else:
        _declared.discard(queue)


def sweep() -> float | None:
    """Publish READY worker jobs that have no message; returns seconds until the next delayed job is due.

    Any worker may sweep: rows are locked (PostgreSQL) or the write lock is held
    (SQLite) while they are published, so two sweepers do not publish one job twice.
    Raises ``BrokerError`` when the broker is unreachable.
    """
    pending = _undispatched()
    if pending.exists():
        using = router.db_for_write(Job)
        skip_locked = connections[using].features.has_select_for_update_skip_locked
        with write_turn(using), transaction.atomic(using=using):
            rows = pending.select_for_update(skip_locked=True) if skip_locked else pending
            jobs = list(rows[:SWEEP_BATCH])
            for job in jobs:
                publish(job)
            mark_dispatched([(job.pk, job.attempts) for job in jobs])
        if jobs:
            logger.info("Published %d READY jobs that had no message in RabbitMQ", len(jobs))
    next_due = (
        Job.objects.ready()
        .filter(executor="worker", dispatched_at__isnull=True, run_after__gt=timezone.now())
        .aggregate(first=Min("run_after"))["first"]
    )
    return None if next_due is None else max(0.0, (next_due - timezone.now()).total_seconds())


def forget_message(job_id: uuid.UUID, attempts: int) -> None:
    """The message of this READY attempt was dropped (not due, excluded): let the sweep publish it again."""
    with write_turn(router.db_for_write(Job)):
        Job.objects.ready().filter(pk=job_id, attempts=attempts).update(dispatched_at=None)


def forget_messages(queue_name: str, task_paths: Iterable[str]) -> None:
    """Leave the due READY jobs of ``task_paths`` in ``queue_name`` to the sweep, which publishes them again.

    For a worker that does not run these tasks and took a message that claimed nothing:
    any message stands for any job of its queue, so it may have been theirs.
    """
    with write_turn(router.db_for_write(Job)):
        Job.objects.due().filter(
            executor="worker", queue_name=queue_name, task_path__in=list(task_paths), dispatched_at__isnull=False
        ).update(dispatched_at=None)


def message_problems(messages: Iterable[JobMessage], exclude_tasks: Iterable[str] = ()) -> dict[JobMessage, str]:
    """Of ``messages`` that did not claim the job they name, why, when that is a problem: no such job, another task.

    The message of a READY attempt not due yet (by the database's clock), or of a task in
    ``exclude_tasks`` (for another worker), is forgotten on the way: the sweep publishes
    that job again (once due).
    """
    messages, exclude_tasks = set(messages), set(exclude_tasks)
    due = ExpressionWrapper(Q(run_after__isnull=True) | Q(run_after__lte=Now()), output_field=BooleanField())
    rows = {
        row["pk"]: row
        for row in Job.objects.filter(pk__in={message.job_id for message in messages})
        .annotate(due=due)
        .values("pk", "task_path", "status", "attempts", "due")
    }
    problems = {}
    for message in messages:
        row = rows.get(message.job_id)
        if row is None:
            problems[message] = f"No job {message.job_id}."
        elif row["task_path"] != message.task_path:
            problems[message] = f"Job {message.job_id} runs {row['task_path']}, not {message.task_path}."
        elif (row["status"], row["attempts"]) == (JobStatus.READY, message.attempts) and (
            not row["due"] or message.task_path in exclude_tasks
        ):
            forget_message(message.job_id, message.attempts)
    return problems


def reset() -> None:
    """Forget which queues exist and any broker backoff (settings changed)."""
    global _down_until
    from jobs_ui.broker import publisher

    publisher.reset()
    _declared.clear()
    _down_until = 0.0


def _undispatched() -> Any:
    # A new job gets DISPATCH_GRACE for its own publish after commit; delayed
    # jobs and retries (run_after set) are published by the sweep as soon as due.
    grace = get_config()["DISPATCH_GRACE"]
    return (
        Job.objects.due()
        .filter(executor="worker", dispatched_at__isnull=True)
        .filter(Q(run_after__isnull=False) | Q(enqueued_at__lt=db_now_plus(-grace)))
        .in_claim_order()
    )


def mark_dispatched(attempts: list[tuple[Any, int]]) -> None:
    """Set ``dispatched_at`` of these ``(job id, attempts)`` while still READY in that attempt."""
    if not attempts:
        return
    using = router.db_for_write(Job)
    if connections[using].vendor != "postgresql":
        which = Q()
        for job_id, number in attempts:
            which |= Q(pk=job_id, attempts=number)
        with write_turn(using):
            Job.objects.ready().filter(which, dispatched_at__isnull=True).update(dispatched_at=Now())
        return
    # Optimization: the mark only spares the sweep a publish, so it is written without
    # waiting for the disk (a crash that loses it costs one duplicate message, which
    # the claim drops), and a row a worker is claiming right now is skipped, not
    # waited for. Either wait would delay the worker that received the message.
    statements.mark_dispatched(using, attempts)
