"""Final writes of an attempt, each fenced by the attempt number."""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any

from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from jobs_ui.events import JobEvent, publish
from jobs_ui.models import Job, JobStatus, Worker

logger = logging.getLogger(__name__)


def _attempt(job: Job) -> Any:
    return Job.objects.filter(pk=job.pk, attempts=job.attempts, status=JobStatus.RUNNING)


def finish(job: Job, status: JobStatus, **fields: Any) -> bool:
    """Write the final ``status`` of this attempt; False when the attempt no longer owns the job."""
    # The last progress may not be written yet (throttling): the final write has it.
    fields.setdefault("workspace", job.workspace)
    fields.setdefault("extra", job.extra)
    fields.setdefault("progress_total", job.progress_total)
    fields.setdefault("progress_message", job.progress_message)
    done = job.progress_total if status == JobStatus.SUCCESSFUL and job.progress_total else job.progress_done
    fields.setdefault("progress_done", done)
    if not _attempt(job).update(status=status, finished_at=Now(), **fields):
        logger.warning("Job %s attempt %s lost ownership; its outcome is dropped", job.pk, job.attempts)
        return False
    job.refresh_from_db()
    counter = "jobs_succeeded" if status == JobStatus.SUCCESSFUL else "jobs_failed"
    if job.worker_id:
        Worker.objects.filter(pk=job.worker_id).update(**{counter: F(counter) + 1})
    publish(JobEvent.for_job(job, "finished"))
    return True


def fail(job: Job, *, error_class: str, message: str, traceback: str = "") -> bool:
    """Retry the job if attempts remain, else mark it FAILED."""
    if job.attempts < job.max_attempts:
        return retry(job, error_class=error_class, message=message, traceback=traceback)
    return finish(
        job,
        JobStatus.FAILED,
        error_class=error_class,
        error_message=message,
        error_traceback=traceback,
    )


def retry(job: Job, *, error_class: str, message: str, traceback: str = "", delay: float | None = None) -> bool:
    """Hand the job back as READY after a doubling delay (with jitter)."""
    if delay is None:
        from jobs_ui.registry import resolve_task

        try:
            base = resolve_task(job.task_path).retry_delay
        except Exception:
            base = 1.0
        delay = base * 2 ** max(job.attempts - 1, 0)
        delay += random.uniform(0, delay * 0.1)
    updated = _attempt(job).update(
        status=JobStatus.READY,
        run_after=timezone.now() + timedelta(seconds=delay),
        worker_id="",
        heartbeat_at=None,
        error_class=error_class,
        error_message=message,
        error_traceback=traceback,
        workspace=job.workspace,
    )
    if updated:
        job.refresh_from_db()
        publish(JobEvent.for_job(job, "retry"))
        from jobs_ui.launching import dispatch

        dispatch(job)
    return bool(updated)
