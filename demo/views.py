"""The demo's own pages: the home page of buttons, a form that launches with user input, a CSV download."""

from __future__ import annotations

import uuid

from django import forms
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

import jobs_ui
from demo import tasks
from jobs_ui.exceptions import ResultExpired, TooManyJobs
from jobs_ui.models import JobStatus
from jobs_ui.stores import get_result_store
from jobs_ui.views.access import get_visible_job
from jobs_ui.views.launch_endpoint import launch_error
from jobs_ui.views.types import HtmxHttpRequest


class CountForm(forms.Form):
    n = forms.IntegerField(label=gettext_lazy("Count to"), min_value=1, max_value=500, initial=20)


@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "demo/home.html", {"count_form": CountForm()})


@require_POST
def count_start(request: HtmxHttpRequest) -> HttpResponse:
    """A task that takes user input: the developer's own form, then ``jobs_ui.launch`` and ``panel_response``."""
    if not request.user.is_authenticated:
        return launch_error(request, _("Sign in to launch jobs."), status=403)
    form = CountForm(request.POST)
    if not form.is_valid():
        return launch_error(request, " ".join(str(error) for error in form.errors["n"]), status=400)
    try:
        job = jobs_ui.launch(tasks.count_to, request, form.cleaned_data["n"])
    except TooManyJobs as e:
        return launch_error(request, str(e), status=429)
    if not request.htmx:
        return redirect(job)
    response: HttpResponse = jobs_ui.panel_response(request, job)
    return response


@require_GET
def export_download(request: HtmxHttpRequest, job_id: uuid.UUID) -> HttpResponse:
    """The CSV an export job produced, as a file download."""
    job = get_visible_job(request, job_id)
    if job.task_path != tasks.export_customers.module_path or job.status != JobStatus.SUCCESSFUL:
        raise Http404("No CSV for this job.")
    try:
        result = get_result_store().load(job)
    except ResultExpired as e:
        raise Http404("The export has expired.") from e
    response = HttpResponse(result["csv"], content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{result["filename"]}"'
    return response
