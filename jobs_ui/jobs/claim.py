"""Atomic claims: a job runs once, however many threads and workers look for work."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from django.db import connections, router, transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Now

from jobs_ui.db import statements
from jobs_ui.db.sql import jobs_alias, returning_supported
from jobs_ui.models import Job, JobQuerySet, JobStatus


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
    alias = jobs_alias()
    if returning_supported(alias):
        claimed = statements.claim_wanted(alias, worker_id, [(uuid.UUID(str(job_id)), attempts, task_path)])
        return claimed[0] if claimed else None
    candidate = Job.objects.due().filter(pk=job_id)
    if attempts is not None:
        candidate = candidate.filter(attempts=attempts)
    if task_path is not None:
        candidate = candidate.filter(task_path=task_path)
    updated = candidate.update(
        status=JobStatus.RUNNING,
        attempts=F("attempts") + 1,
        started_at=Coalesce("started_at", Now()),
        last_attempted_at=Now(),
        heartbeat_at=Now(),
        worker_id=worker_id,
    )
    if not updated:
        return None
    job = Job.objects.get(pk=job_id)
    job.worker_ids = [*job.worker_ids, worker_id]
    Job.objects.filter(pk=job.pk, attempts=job.attempts).update(worker_ids=job.worker_ids)
    return job


def claim_wanted(worker_id: str, wanted: Sequence[statements.Wanted]) -> list[Job]:
    """Claim several ``(job id, attempts, task path)`` at once (one statement where the database allows)."""
    alias = jobs_alias()
    if returning_supported(alias):
        return statements.claim_wanted(alias, worker_id, wanted)
    claimed = (claim(job_id, worker_id, attempts=attempts, task_path=path) for job_id, attempts, path in wanted)
    return [job for job in claimed if job is not None]


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

    using = router.db_for_write(Job)
    if returning_supported(using):
        key = (executor, queues, exclude_queues, exclude_tasks)
        return statements.claim_first(using, worker_id, key, select, limit)
    candidates = select()
    if connections[using].features.has_select_for_update_skip_locked:
        with transaction.atomic(using=using):
            job_ids = list(candidates.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
            return [job for job_id in job_ids if (job := claim(job_id, worker_id)) is not None]
    # Without SKIP LOCKED, the conditional UPDATE in claim() decides; a lost race
    # moves on to the next candidate.
    claimed: list[Job] = []
    for job_id in candidates.values_list("pk", flat=True)[: limit + 8]:
        job = claim(job_id, worker_id)
        if job is not None:
            claimed.append(job)
            if len(claimed) == limit:
                break
    return claimed
