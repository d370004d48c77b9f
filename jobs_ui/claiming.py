"""Atomic claims: a job runs once, however many threads and workers look for work."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db import connections, router, transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Now

from jobs_ui.models import Job, JobStatus


def claim(job_id: uuid.UUID | str, worker_id: str) -> Job | None:
    """Mark the READY job ``job_id`` RUNNING for ``worker_id``; None when someone else has it."""
    updated = (
        Job.objects.due()
        .filter(pk=job_id)
        .update(
            status=JobStatus.RUNNING,
            attempts=F("attempts") + 1,
            started_at=Coalesce("started_at", Now()),
            last_attempted_at=Now(),
            heartbeat_at=Now(),
            worker_id=worker_id,
        )
    )
    if not updated:
        return None
    job = Job.objects.get(pk=job_id)
    job.worker_ids = [*job.worker_ids, worker_id]
    Job.objects.filter(pk=job.pk, attempts=job.attempts).update(worker_ids=job.worker_ids)
    return job


def claim_next(
    *,
    executor: str,
    worker_id: str,
    queues: Iterable[str] = (),
    exclude_queues: Iterable[str] = (),
    exclude_tasks: Iterable[str] = (),
) -> Job | None:
    """Claim the due READY job that comes first (priority, then FIFO); None when there is none."""
    candidates = Job.objects.due().filter(executor=executor).in_claim_order()
    if queues:
        candidates = candidates.filter(queue_name__in=list(queues))
    if exclude_queues:
        candidates = candidates.exclude(queue_name__in=list(exclude_queues))
    if exclude_tasks:
        candidates = candidates.exclude(task_path__in=list(exclude_tasks))
    using = router.db_for_write(Job)
    if connections[using].features.has_select_for_update_skip_locked:
        with transaction.atomic(using=using):
            job_id = candidates.select_for_update(skip_locked=True).values_list("pk", flat=True).first()
            if job_id is None:
                return None
            return claim(job_id, worker_id)
    # Without SKIP LOCKED (SQLite), the conditional UPDATE in claim() decides;
    # a lost race moves on to the next candidate.
    for job_id in candidates.values_list("pk", flat=True)[:8]:
        job = claim(job_id, worker_id)
        if job is not None:
            return job
    return None
