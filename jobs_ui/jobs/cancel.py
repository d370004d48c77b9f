"""Cancel: READY jobs at once, RUNNING jobs by a flag the task sees."""

from __future__ import annotations

from typing import Any

from django.db.models.functions import Now

from jobs_ui.events import JobEvent, publish
from jobs_ui.exceptions import JobCancelled, JobNotCancellable
from jobs_ui.jobs.run import running_context
from jobs_ui.models import Job, JobStatus

_CANCELLED_CLASS = f"{JobCancelled.__module__}.{JobCancelled.__qualname__}"
_CANCELLED_BY = "Cancelled by "


def cancel(job: Job, by: Any = None) -> Job:
    """Cancel ``job`` and return it refreshed.

    A READY job becomes CANCELLED and never runs; a RUNNING job is flagged and
    stops at its next ``progress()``/``check_cancelled()``. A finished job
    raises ``JobNotCancellable``. Each step is one conditional UPDATE, so a
    job that finishes meanwhile keeps its own outcome.
    """
    who = getattr(by, "get_username", lambda: "")()
    message = f"{_CANCELLED_BY}{who}." if who else "Cancelled."
    if Job.objects.filter(pk=job.pk, status=JobStatus.READY).update(
        status=JobStatus.CANCELLED,
        cancel_requested_at=Now(),
        finished_at=Now(),
        error_class=_CANCELLED_CLASS,
        error_message=message,
    ):
        job.refresh_from_db()
        publish(JobEvent.for_job(job, "finished"))
        return job
    if Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, cancel_requested_at__isnull=True).update(
        cancel_requested_at=Now()
    ):
        job.refresh_from_db()
        _flag_local(job)
        publish(JobEvent.for_job(job, "cancel_requested"))
        return job
    job.refresh_from_db()
    if job.status == JobStatus.RUNNING:
        return job  # Already requested.
    raise JobNotCancellable(f"This job has already finished ({job.get_status_display().lower()}).")


def shown_error_message(job: Job, *, name_canceller: bool) -> str:
    """``job.error_message`` as a viewer may read it: who cancelled the job only if ``name_canceller``."""
    if not name_canceller and job.status == JobStatus.CANCELLED and job.error_message.startswith(_CANCELLED_BY):
        return "Cancelled."
    return job.error_message


def _flag_local(job: Job) -> None:
    context = running_context(job.pk)
    if context is not None:
        context.request_cancel()
