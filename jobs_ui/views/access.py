"""Which jobs a request may see or act on: others' private jobs are a 404."""

from __future__ import annotations

import uuid

from django.http import Http404, HttpRequest

from jobs_ui.models import Job


def get_visible_job(request: HttpRequest, job_id: uuid.UUID | str) -> Job:
    """The job if ``request.user`` owns it or it is public; 404 otherwise (never 403: ids are not disclosed)."""
    try:
        return Job.objects.for_user(request.user).get(pk=job_id)
    except (Job.DoesNotExist, ValueError) as e:
        raise Http404("No such job.") from e


def get_owned_job(request: HttpRequest, job_id: uuid.UUID | str) -> Job:
    """The job if ``request.user`` owns it; 404 otherwise, public or not."""
    try:
        return Job.objects.owned_by(request.user).get(pk=job_id)
    except (Job.DoesNotExist, ValueError) as e:
        raise Http404("No such job.") from e
