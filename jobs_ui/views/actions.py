"""What an owner can do from the panel: cancel, run again."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.tasks.exceptions import InvalidTask
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from jobs_ui.exceptions import InvalidJobArguments, JobAlreadyRunning, JobNotCancellable, TooManyJobs
from jobs_ui.jobs.cancel import cancel
from jobs_ui.jobs.create import launch_with
from jobs_ui.views.access import get_owned_job
from jobs_ui.views.panel import render_panel, task_or_none
from jobs_ui.views.types import HtmxHttpRequest


def _answer(request: HtmxHttpRequest, job_url: str, panel: HttpResponse, notice: str) -> HttpResponse:
    if request.htmx:
        return panel
    if notice:
        messages.warning(request, notice, fail_silently=True)
    return redirect(job_url)


@require_POST
def job_cancel(request: HtmxHttpRequest, job_id: uuid.UUID) -> HttpResponse:
    """Cancel an own job and answer the updated panel; a finished job says so and stays as it is."""
    job = get_owned_job(request, job_id)
    notice = ""
    try:
        job = cancel(job, by=request.user)
    except JobNotCancellable as e:
        notice = str(e)
    return _answer(request, job.get_absolute_url(), render_panel(request, job, notice=notice), notice)


@require_POST
def job_rerun(request: HtmxHttpRequest, job_id: uuid.UUID) -> HttpResponse:
    """Launch the task of an own finished job again, with the same arguments; answer the new panel."""
    job = get_owned_job(request, job_id)
    task = task_or_none(job)
    status = 200
    if not job.is_finished:
        notice, status = _("This job is still running."), 409
    elif task is None:
        notice, status = _("This task no longer exists, so it cannot run again."), 400
    else:
        try:
            new_job = launch_with(task, request, job.args, job.kwargs, public=job.public)
        except TooManyJobs as e:
            notice, status = str(e), 429
        except JobAlreadyRunning as e:
            notice, status = str(e), 409
        except (InvalidJobArguments, InvalidTask) as e:
            notice, status = str(e), 400
        else:
            return _answer(request, new_job.get_absolute_url(), render_panel(request, new_job, watch=True), "")
    return _answer(request, job.get_absolute_url(), render_panel(request, job, notice=notice, status=status), notice)
