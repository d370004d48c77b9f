"""Which jobs a request may see or act on (others' private jobs are a 404), and what staff may do."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404, HttpRequest

from jobs_ui.models import Job

# Staff read the dashboard and the health endpoints with the first; they act with the second.
READ_PERMISSION = "jobs_ui.view_job"
ACT_PERMISSION = "jobs_ui.change_job"
# And run a schedule's task now.
RUN_SCHEDULE_PERMISSION = "jobs_ui.run_schedule"


def staff_may(user: Any, permission: str) -> bool:
    """Whether ``user`` is staff with ``permission`` (a superuser has every one)."""
    return bool(user.is_authenticated and user.is_staff and user.has_perm(permission))


def get_visible_job(request: HttpRequest, job_id: uuid.UUID | str) -> Job:
    """The job if ``request.user`` owns it or it is public, or any job for staff with ``READ_PERMISSION``;
    404 otherwise (never 403: ids are not disclosed)."""
    jobs = Job.objects.all() if staff_may(request.user, READ_PERMISSION) else Job.objects.for_user(request.user)
    try:
        return jobs.get(pk=job_id)
    except (Job.DoesNotExist, ValueError) as e:
        raise Http404("No such job.") from e


def get_owned_job(request: HttpRequest, job_id: uuid.UUID | str) -> Job:
    """The job if ``request.user`` owns it; 404 otherwise, public or not."""
    try:
        return Job.objects.owned_by(request.user).get(pk=job_id)
    except (Job.DoesNotExist, ValueError) as e:
        raise Http404("No such job.") from e
