"""Atomic claims: a job runs once, however many threads and workers look for work."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from jobs_ui.db import statements
from jobs_ui.db.sql import jobs_alias
from jobs_ui.models import Job, JobQuerySet


def claim(
    job_id: uuid.UUID | str,
    worker_id: str,
    *,
    attempts: int | None = None,
    task_path: str | None = None,
) -> Job | None:
    """Mark the READY job ``job_id`` RUNNING for ``worker_id``; None when someone else has it.

    ``attempts`` and ``task_path``, when given, must match the row too (the READY
    attempt a message was published for).
    """
    claimed = statements.claim_wanted(jobs_alias(), worker_id, [(uuid.UUID(str(job_id)), attempts, task_path)])
    return claimed[0] if claimed else None


def claim_wanted(worker_id: str, wanted: Sequence[statements.Wanted]) -> list[Job]:
    """Claim several ``(job id, attempts, task path)`` at once (one statement where the database allows)."""
    return statements.claim_wanted(jobs_alias(), worker_id, wanted)


def claim_next(
    *,
    executor: str,
    worker_id: str,
    queues: Iterable[str] = (),
    exclude_queues: Iterable[str] = (),
    exclude_tasks: Iterable[str] = (),
) -> Job | None:
    """Claim the due READY job that comes first (priority, then FIFO); None when there is none."""
    claimed = claim_due(
        executor=executor,
        worker_id=worker_id,
        queues=queues,
        exclude_queues=exclude_queues,
        exclude_tasks=exclude_tasks,
        limit=1,
    )
    return claimed[0] if claimed else None


def claim_due(
    *,
    executor: str,
    worker_id: str,
    queues: Iterable[str] = (),
    exclude_queues: Iterable[str] = (),
    exclude_tasks: Iterable[str] = (),
    limit: int = 1,
) -> list[Job]:
    """Claim up to ``limit`` due READY jobs, those that come first (priority, then FIFO)."""
    queues, exclude_queues, exclude_tasks = tuple(queues), tuple(exclude_queues), tuple(exclude_tasks)

    def select() -> JobQuerySet:
        candidates = Job.objects.due().filter(executor=executor).in_claim_order()
        if queues:
            candidates = candidates.filter(queue_name__in=queues)
        if exclude_queues:
            candidates = candidates.exclude(queue_name__in=exclude_queues)
        if exclude_tasks:
            candidates = candidates.exclude(task_path__in=exclude_tasks)
        return candidates

    key = (executor, queues, exclude_queues, exclude_tasks)
    return statements.claim_first(jobs_alias(), worker_id, key, select, limit)
