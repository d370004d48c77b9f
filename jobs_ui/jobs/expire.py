"""Jobs that must start in time (``JobTask.expires``): one not started by its ``expires_at`` ends CANCELLED, never run."""

from __future__ import annotations

from django.db.models.functions import Now
from django.utils import timezone

from jobs_ui.events import JobEvent, publish
from jobs_ui.exceptions import JobExpired
from jobs_ui.models import Job, JobStatus

EXPIRED_CLASS = f"{JobExpired.__module__}.{JobExpired.__qualname__}"
# READY jobs ended by one pass; the next pass ends the rest.
EXPIRE_BATCH = 500


def expired_message(job: Job) -> str:
    when = timezone.localtime(job.expires_at).strftime("%Y-%m-%d %H:%M:%S %Z") if job.expires_at else ""
    return f"Expired: it was not started by {when}."


def expired(job: Job) -> bool:
    """Whether ``job``, just claimed for its first attempt, was claimed after its ``expires_at`` (database clock)."""
    return (
        job.expires_at is not None
        and job.attempts == 1
        and job.last_attempted_at is not None
        and job.last_attempted_at > job.expires_at
    )


def expire_jobs() -> int:
    """End the READY jobs whose ``expires_at`` has passed, by the database's clock, as CANCELLED; how many.

    Each is one conditional UPDATE: a job claimed meanwhile is left to its worker, which ends it
    without running it (``expired()``).
    """
    due = Job.objects.ready().filter(expires_at__lt=Now())
    ended = 0
    for job in due.only("id", "expires_at")[:EXPIRE_BATCH]:
        if Job.objects.filter(pk=job.pk, status=JobStatus.READY, expires_at__lt=Now()).update(
            status=JobStatus.CANCELLED,
            finished_at=Now(),
            error_class=EXPIRED_CLASS,
            error_message=expired_message(job),
        ):
            job.refresh_from_db()
            publish(JobEvent.for_job(job, "finished"))
            ended += 1
    return ended
