"""Staff's way out for a job that waits too long: dispatch a READY job again, or run a delayed one now."""

from __future__ import annotations

from django.db.models.functions import Now
from django.utils.translation import gettext as _

from jobs_ui.conf import get_config
from jobs_ui.exceptions import JobActionRefused
from jobs_ui.executors import get_executor
from jobs_ui.jobs.finish import hand_back
from jobs_ui.models import Job, JobStatus


def requeue(job: Job) -> Job:
    """Hand ``job`` to its executor again and return it refreshed.

    A READY job is dispatched again (its message may be lost; a second message only wakes a
    worker, the claim of the row decides who runs it). A RUNNING job whose lease has not been
    renewed for ``HEARTBEAT_TIMEOUT`` (its worker is lost) goes back to READY at once, without
    using up an attempt, before any recovery pass. ``JobActionRefused`` otherwise: a RUNNING job
    whose worker still answers is never run twice.
    """
    if Job.objects.filter(pk=job.pk, status=JobStatus.READY).update(dispatched_at=None):
        job.refresh_from_db()
        get_executor(job.executor).dispatch(job)
        return job
    job.refresh_from_db()
    if job.status == JobStatus.RUNNING:
        if hand_back(job, silent_for=get_config()["HEARTBEAT_TIMEOUT"]):
            return job
        raise JobActionRefused(_("Its worker still answers: the job is running."))
    raise JobActionRefused(_("It has finished; retry it instead."))


def run_now(job: Job) -> Job:
    """Make a READY job that waits for its ``run_after`` due now, and dispatch it; ``JobActionRefused`` otherwise."""
    if Job.objects.filter(pk=job.pk, status=JobStatus.READY, run_after__gt=Now()).update(
        run_after=None, dispatched_at=None
    ):
        job.refresh_from_db()
        get_executor(job.executor).dispatch(job)
        return job
    job.refresh_from_db()
    if job.status == JobStatus.READY:
        raise JobActionRefused(_("It is not waiting for a later time."))
    raise JobActionRefused(_("It is not waiting to start."))
