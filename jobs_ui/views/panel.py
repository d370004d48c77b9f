"""The progress panel: one partial for the job page, launch answers, polling (and later the websocket)."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.template.defaultfilters import floatformat
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import parse_etags, urlencode
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling, trigger_client_event

from jobs_ui.backend import JobTask
from jobs_ui.conf import get_config
from jobs_ui.exceptions import JobsUiException, ResultExpired, UnknownTask
from jobs_ui.jobs.cancel import shown_error_message
from jobs_ui.jobs.registry import resolve_task
from jobs_ui.models import Job, JobStatus
from jobs_ui.stores import get_result_store
from jobs_ui.views.links import job_url
from jobs_ui.views.standing import Standing, note, standing
from jobs_ui.views.types import HtmxHttpRequest
from jobs_ui.views.viewer import Viewer
from jobs_ui.views.watching import watched_job

PANEL_TEMPLATE = "jobs_ui/job_detail.html#job-progress"
# The panel inside the element that joins its websocket (JOBS_UI["WEBSOCKETS"]): what a page or a
# launch answer brings first; polls and pushes then replace the panel inside it.
WATCH_TEMPLATE = "jobs_ui/job_detail.html#job-watch"
DEFAULT_RESULT_TEMPLATE = "jobs_ui/includes/result.html"
# Longer pretty-printed results are cut in the panel; result.json has them whole.
RESULT_DISPLAY_CHARS = 20_000
# A result the store cannot read now is asked for again, each time twice as late, up to this.
RESULT_RETRY_MAX_MS = 30_000
RESULT_RETRIES_COUNTED = 20


def task_or_none(job: Job) -> JobTask | None:
    try:
        return resolve_task(job.task_path)
    except UnknownTask:
        return None


def task_label(job: Job, task: JobTask | None = None) -> str:
    task = task or task_or_none(job)
    if task is not None:
        return task.display_name
    return job.task_name.replace("_", " ").capitalize()


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def _seconds(start: datetime | None, end: datetime) -> float | None:
    return None if start is None else max(0.0, (end - start).total_seconds())


def bar_value(job: Job) -> float | None:
    """What the ``<progress>`` shows: None (indeterminate) only while running without a total."""
    percent = job.percent
    if percent is not None:
        return percent
    if job.status == JobStatus.RUNNING:
        return None
    return 100.0 if job.is_finished else 0.0


def _eta(job: Job) -> tuple[float, datetime] | None:
    # From the average rate so far: (time from start to the last progress
    # write) / done, times what is left, counted from that last write.
    if job.status != JobStatus.RUNNING or not job.progress_total or job.progress_done <= 0:
        return None
    if job.started_at is None or job.progress_at is None:
        return None
    spent = (job.progress_at - job.started_at).total_seconds()
    left = max(0.0, job.progress_total - job.progress_done)
    if spent <= 0:
        return None
    eta_at = job.progress_at + timedelta(seconds=spent / job.progress_done * left)
    return max(0.0, (eta_at - timezone.now()).total_seconds()), eta_at


def _result_context(job: Job, task: JobTask | None, viewer: Viewer) -> dict[str, Any]:
    if job.status != JobStatus.SUCCESSFUL:
        return {}
    context: dict[str, Any] = {"result_template": (task and task.result_template) or DEFAULT_RESULT_TEMPLATE}
    try:
        value = get_result_store().load(job)
    except ResultExpired:
        return {**context, "result_expired": True}
    except JobsUiException as e:
        # What went wrong names hosts and ports: staff only.
        return {**context, "result_unavailable": True, "result_error": str(e) if viewer.is_staff else ""}
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return {
        **context,
        "result": value,
        "result_json": text[:RESULT_DISPLAY_CHARS],
        "result_truncated": len(text) > RESULT_DISPLAY_CHARS,
    }


def panel_etag(job: Job, viewer: Viewer, where: Standing) -> str:
    """Changes whenever the panel would render differently for ``viewer``."""
    parts = [
        where,
        job.status,
        job.attempts,
        job.progress_at,
        job.cancel_requested_at,
        job.finished_at,
        viewer.user_id,
        viewer.is_staff,
        get_language(),
    ]
    return '"' + hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest() + '"'


def _done_of_total(job: Job) -> str:
    if not job.progress_total:
        return ""
    done, total = floatformat(job.progress_done, "-2"), floatformat(job.progress_total, "-2")
    return _("%(done)s of %(total)s") % {"done": done, "total": total}


def _extra_items(extra: Any) -> list[tuple[str, str]]:
    if not isinstance(extra, dict):
        return []
    return [
        (str(key), value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        for key, value in extra.items()
    ]


def panel_context(
    request: HttpRequest,
    job: Job,
    viewer: Viewer,
    *,
    notice: str = "",
    result_retries: int = 0,
    etag: str = "",
    where: Standing | None = None,
) -> dict[str, Any]:
    """What the panel partial renders; ``where`` the job stands, if the caller has read it already."""
    task = task_or_none(job)
    if where is None:
        where = standing(job)
    now = timezone.now()
    owner = viewer.owns(job)
    end = job.finished_at or now
    eta = _eta(job)
    poll_interval = float(get_config()["POLL_INTERVAL"])
    can_cancel = owner and not job.is_finished
    can_rerun = owner and job.is_finished and task is not None
    page_url = job_url("job_detail", job.pk)
    context: dict[str, Any] = {
        "job": job,
        "job_id": str(job.pk),
        "task_label": task_label(job, task),
        "status_label": JobStatus(job.status).label,
        "is_owner": owner,
        "can_cancel": can_cancel,
        "can_rerun": can_rerun,
        "show_traceback": viewer.is_staff and job.status == JobStatus.FAILED and bool(job.error_traceback),
        "error_message": shown_error_message(job, name_canceller=owner or viewer.is_staff),
        "extra_items": _extra_items(job.extra),
        "bar_value": bar_value(job),
        "percent": job.percent,
        "done_of_total": _done_of_total(job),
        "server_ms": _ms(now),
        "queued_seconds": _seconds(job.enqueued_at, now) if job.status == JobStatus.READY else None,
        "enqueued_ms": _ms(job.enqueued_at),
        "elapsed_seconds": _seconds(job.started_at, end),
        "elapsed_label": _("Took") if job.is_finished else _("Elapsed"),
        "started_ms": _ms(job.started_at),
        "eta_seconds": eta[0] if eta else None,
        "eta_ms": _ms(eta[1]) if eta else None,
        "standing": where,
        "standing_note": note(job, where),
        "notice": notice,
        "job_url": page_url,
        "cancel_url": job_url("job_cancel", job.pk) if can_cancel else "",
        "rerun_url": job_url("job_rerun", job.pk) if can_rerun else "",
        "share_url": request.build_absolute_uri(page_url) if job.public and owner else "",
        "poll_ms": max(100, round(poll_interval * 1000)),
        "form_csrf": not getattr(request, "htmx", False) or not _script_reads_csrf_cookie(),
        **_result_context(job, task, viewer),
    }
    if not job.is_finished:
        context["poll_url"] = _poll_url(job, viewer)
        context["etag"] = etag or panel_etag(job, viewer, where)
        if get_config()["WEBSOCKETS"]:
            context["push_url"] = f"{get_config()['WEBSOCKET_URL']}{job.pk}/"
    if job.is_finished and context.get("result_unavailable"):
        context["poll_url"] = _poll_url(job, viewer, r=str(result_retries + 1))
        context["poll_ms"] = min(RESULT_RETRY_MAX_MS, context["poll_ms"] * 2 ** (result_retries + 1))
    return context


def _script_reads_csrf_cookie() -> bool:
    # A panel that htmx brings (a poll, a launch, a cancel) is on a page with htmx, whose
    # requests carry the CSRF token: hx-headers on <body> (README), else jobs_ui.js sends
    # the CSRF cookie's. So its forms go without a token of their own, which spares masking
    # one and setting the cookie again on every answer; unless the script cannot read the cookie.
    return not settings.CSRF_USE_SESSIONS and not settings.CSRF_COOKIE_HTTPONLY


def _poll_url(job: Job, viewer: Viewer, **params: str) -> str:
    # The owner is recognised from the session alone (watching.watched_job()); a token
    # spares another signed-in watcher's poll the read of their own user row.
    if viewer.user_id is not None and not viewer.owns(job):
        params = {"v": viewer.token(), **params}
    url = job_url("job_progress", job.pk)
    return f"{url}?{urlencode(params)}" if params else url


def render_panel(
    request: HttpRequest,
    job: Job,
    viewer: Viewer | None = None,
    *,
    notice: str = "",
    status: int = 200,
    etag: str = "",
    where: Standing | None = None,
    watch: bool = False,
) -> HttpResponse:
    """The panel partial for ``job`` as an HTTP response; ``etag`` and ``where`` it stands if the caller has them.

    With ``watch``, inside the element that joins the job's websocket (the first panel a page gets).
    """
    viewer = viewer or Viewer.from_request(request)
    context = panel_context(request, job, viewer, notice=notice, etag=etag, where=where)
    template = WATCH_TEMPLATE if watch else PANEL_TEMPLATE
    return HttpResponse(render_to_string(template, context, request=request), status=status)


def panel_response(request: HttpRequest, job: Job) -> HttpResponse:
    """Answer a launch made by your own view: the panel for HTMX requests, JSON with the poll URL otherwise.

    ``job = jobs_ui.launch(task, request, ...)`` then ``return jobs_ui.panel_response(request, job)``.
    """
    if getattr(request, "htmx", False):
        return render_panel(request, job, watch=True)
    poll_url = request.build_absolute_uri(reverse("jobs_ui:job_result", args=[job.pk]))
    response = JsonResponse(
        {
            "id": str(job.pk),
            "status": job.status,
            "url": request.build_absolute_uri(job.get_absolute_url()),
            "poll_url": poll_url,
            "status_url": request.build_absolute_uri(reverse("jobs_ui:job_status", args=[job.pk])),
        },
        status=202,
    )
    response["Location"] = poll_url
    return response


@never_cache
@require_GET
def job_progress(request: HtmxHttpRequest, job_id: uuid.UUID) -> HttpResponse:
    """What the panel polls: 304 while nothing changed, 286 with the final fragment once finished."""
    viewer, job = watched_job(request, job_id, request.GET.get("v"))
    if job.is_finished:
        context = panel_context(request, job, viewer, result_retries=_result_retries(request))
        html = render_to_string(PANEL_TEMPLATE, context, request=request)
        if "poll_url" in context:
            return HttpResponse(html)  # The result could not be read: the panel asks again later.
        final = HttpResponseStopPolling(html)
        return trigger_client_event(final, "jobs-ui:job-finished", {"id": str(job.pk), "status": job.status})
    # At most one query more than the job's own read (jobs_ui.views.standing).
    where = standing(job, reads=1)
    etag = panel_etag(job, viewer, where)
    if etag in parse_etags(request.headers.get("If-None-Match", "")):
        not_modified = HttpResponseNotModified()
        not_modified["ETag"] = etag
        return not_modified
    response = render_panel(request, job, viewer, etag=etag, where=where)
    response["ETag"] = etag
    return response


def _result_retries(request: HttpRequest) -> int:
    try:
        retries = int(request.GET.get("r", "0"))
    except ValueError:
        return 0
    return min(max(0, retries), RESULT_RETRIES_COUNTED)
