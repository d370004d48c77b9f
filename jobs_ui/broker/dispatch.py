"""Dispatch worker jobs to RabbitMQ: hand each to the publisher thread, and sweep up READY jobs with no message.

A message is a wake-up for its queue; the ``Job`` row is the truth, and ``sweep()`` publishes what has no message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import connections, router, transaction
from django.db.models import BooleanField, ExpressionWrapper, Min, Q
from django.db.models.functions import Now
from django.utils import timezone

from jobs_ui.broker import amqp, publisher
from jobs_ui.broker.messages import (
    JobMessage,
    OutgoingMessage,
    broker_down,
    declare_queues,
    declared,
    forget_state,
    queue_declared,
)
from jobs_ui.conf import get_config
from jobs_ui.db.write_turns import write_turn
from jobs_ui.exceptions import MessageUnroutable
from jobs_ui.jobs.marks import forget_message, mark_dispatched
from jobs_ui.models import Job, JobStatus, db_now_plus

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500


def publish(job: Job) -> None:
    """Publish the message of the READY ``job`` (persistent, confirmed); ``BrokerError`` if not done."""
    message = OutgoingMessage.for_job(job)
    queue = message.queue
    for attempt in (1, 2):
        if not queue_declared(queue):
            declare_queues([job.queue_name])
        try:
            amqp.publish("", queue, message.body, persistent=True, mandatory=True, priority=message.priority)
            return
        except MessageUnroutable:
            # The queue was deleted since this process declared it.
            declared(queue, False)
            if attempt == 2:
                raise


def dispatch(jobs: Iterable[Job]) -> int:
    """Hand the due jobs among ``jobs`` to this process's publisher thread; returns how many. Never raises.

    The caller does not wait for RabbitMQ (``jobs_ui.broker.publisher``): a job's row is
    marked once the broker has confirmed its message. A job that is not due yet
    (``run_after``), or whose message the broker did not confirm, keeps
    ``dispatched_at`` empty and is published by the next ``sweep()``.
    """
    if broker_down():
        return 0
    now = timezone.now()
    due = [job for job in jobs if job.run_after is None or job.run_after <= now]
    for job in due:
        publisher.submit(OutgoingMessage.for_job(job))
    return len(due)


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


def reset() -> None:
    """Forget which queues exist, any broker backoff and this process's publisher (settings changed)."""
    publisher.reset()
    forget_state()
