"""Retry a failed or cancelled job as a new job, linked to the old one."""

from __future__ import annotations

from django.utils.translation import gettext as _

from jobs_ui.exceptions import JobActionRefused, UnknownTask
from jobs_ui.jobs.create import create_job
from jobs_ui.jobs.registry import resolve_task
from jobs_ui.models import Job, JobStatus

RETRYABLE = (JobStatus.FAILED, JobStatus.CANCELLED)


def retry(job: Job) -> Job:
    """A new READY job of ``job``'s task with its arguments, owner and visibility, whose ``retry_of`` is ``job``.

    ``JobActionRefused`` unless ``job`` failed or was cancelled and its task still exists; the
    owner's cap and a unique task's running twin refuse it as a launch would (``TooManyJobs``,
    or the unfinished twin is returned).
    """
    if job.status not in RETRYABLE:
        raise JobActionRefused(_("Only a failed or cancelled job can be retried."))
    try:
        task = resolve_task(job.task_path)
    except UnknownTask as e:
        raise JobActionRefused(_("Its task no longer exists.")) from e
    return create_job(task, list(job.args), dict(job.kwargs), owner=job.owner, public=job.public, retry_of=job)
