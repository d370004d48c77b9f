"""Dispatch marks: ``Job.dispatched_at`` says a READY attempt has a message in RabbitMQ, so the sweep skips it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db import router

from jobs_ui.db import statements
from jobs_ui.db.write_turns import write_turn
from jobs_ui.models import Job


def mark_dispatched(attempts: list[tuple[Any, int]]) -> None:
    """Set ``dispatched_at`` of these ``(job id, attempts)`` while still READY in that attempt."""
    if not attempts:
        return
    # Optimization: one statement written once, where the ORM built an OR of the pairs for
    # each batch, which cost the publisher more than its messages. On PostgreSQL, the mark
    # only spares the sweep a publish, so it is written without waiting for the disk (a
    # crash that loses it costs one duplicate message, which the claim drops), and a row a
    # worker is claiming right now is skipped, not waited for. Either wait would delay the
    # worker that received the message.
    statements.mark_dispatched(router.db_for_write(Job), attempts)


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
