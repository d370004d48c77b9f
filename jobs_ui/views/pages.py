"""Full pages: one job, and the signed-in user's own jobs."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling

from jobs_ui.conf import get_config
from jobs_ui.jobs.staff_actions import ACTIONS, Action
from jobs_ui.models import Job, JobStatus
from jobs_ui.views.access import ACT_PERMISSION, get_visible_job, staff_may
from jobs_ui.views.keyset import decode_cursor, encode_cursor, older_than
from jobs_ui.views.panel import bar_value, panel_context, render_panel, task_label
from jobs_ui.views.types import HtmxHttpRequest
from jobs_ui.views.viewer import Viewer

DETAIL_TEMPLATE = "jobs_ui/job_detail.html"
LIST_TEMPLATE = "jobs_ui/job_list.html"
PAGE_SIZE = 20
# Retries of one job linked from its page, oldest first.
RETRIES_SHOWN = 20


@never_cache
@require_GET
def job_detail(request: HtmxHttpRequest, job_id: uuid.UUID) -> HttpResponse:
    """The job's page around its panel; HTMX requests get the panel alone."""
    job = get_visible_job(request, job_id)
    if request.htmx:
        return render_panel(request, job)
    viewer = Viewer.from_request(request)
    context = panel_context(request, job, viewer)
    # Without JavaScript the page reloads itself until the job is finished.
    context["refresh_seconds"] = max(2, math.ceil(get_config()["POLL_INTERVAL"] * 2))
    context["attempt_errors"] = attempt_errors(job)
    context["show_attempt_tracebacks"] = viewer.is_staff
    context["retries"] = list(job.retries.only("id", "status", "enqueued_at").order_by("enqueued_at")[:RETRIES_SHOWN])
    if viewer.support and not job.public and not viewer.owns(job):
        context["support_view"] = True
        context["staff_jobs_url"] = reverse("jobs_ui:staff_jobs")
    if staff_may(request.user, ACT_PERMISSION):
        context["staff_actions"] = staff_actions_for(job)
        context["staff_act_url"] = reverse("jobs_ui:staff_act")
    return render(request, DETAIL_TEMPLATE, context)


def staff_actions_for(job: Job) -> list[Action]:
    """The staff actions that may apply to ``job`` as it is now (each checks again when it runs)."""
    names = {
        JobStatus.READY: ["cancel", "requeue", "run_now"] if job.run_after else ["cancel", "requeue"],
        JobStatus.RUNNING: ["cancel", "requeue"],
        JobStatus.FAILED: ["retry"],
        JobStatus.CANCELLED: ["retry"],
    }.get(JobStatus(job.status), [])
    return [ACTIONS[name] for name in names]


def attempt_errors(job: Job) -> list[dict[str, Any]]:
    """``job.errors`` for the page, oldest first, each with its time as a datetime."""
    entries = []
    for entry in job.errors:
        try:
            at: datetime | None = datetime.fromisoformat(entry.get("at", ""))
        except (TypeError, ValueError):
            at = None
        entries.append({**entry, "at": at})
    return entries


@dataclass(frozen=True, slots=True)
class JobRow:
    job: Job
    label: str
    bar_value: float | None
    seconds: float | None
    just_now: bool


def _row(job: Job, now: datetime) -> JobRow:
    start = job.started_at
    seconds = None if start is None else max(0.0, ((job.finished_at or now) - start).total_seconds())
    just_now = (now - job.enqueued_at).total_seconds() < 60
    return JobRow(job, task_label(job), bar_value(job), seconds, just_now)


@never_cache
@require_GET
def job_list(request: HtmxHttpRequest) -> HttpResponse:
    """The user's own jobs, newest first, by status; keyset pages on (enqueued_at, id)."""
    if not request.user.is_authenticated:
        if request.htmx:
            return HttpResponse(status=403)
        return redirect_to_login(request.get_full_path())
    jobs = Job.objects.owned_by(request.user).order_by("-enqueued_at", "-id")
    status = request.GET.get("status", "")
    if status:
        if status not in JobStatus.values:
            return HttpResponseBadRequest(_("Unknown status: choose one of %s.") % ", ".join(JobStatus.values))
        jobs = jobs.filter(status=status)
    cursor = request.GET.get("cursor", "")
    if cursor:
        try:
            when, last_id = decode_cursor(cursor)
        except ValueError:
            return HttpResponseBadRequest(_("This page link is not valid; start again from the newest jobs."))
        jobs = older_than(jobs, when, last_id)
    page = list(jobs[: PAGE_SIZE + 1])
    has_more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    now = timezone.now()
    polling = any(not job.is_finished for job in page)
    context: dict[str, Any] = {
        "rows": [_row(job, now) for job in page],
        "status": status,
        "statuses": JobStatus.choices,
        "cursor": cursor,
        "next_cursor": encode_cursor(page[-1]) if has_more else "",
        "polling": polling,
        "poll_url": request.get_full_path(),
        "poll_ms": max(100, round(float(get_config()["POLL_INTERVAL"]) * 1000)),
        "list_url": reverse("jobs_ui:job_list"),
    }
    if request.htmx:
        html = render_to_string(LIST_TEMPLATE + "#job-rows", context, request=request)
        return HttpResponse(html) if polling else HttpResponseStopPolling(html)
    return render(request, LIST_TEMPLATE, context)
