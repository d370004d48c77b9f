"""JSON endpoints for clients without HTMX (oddjob's poll loop works against job_result)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from jobs_ui.exceptions import ResultExpired, ResultStoreError
from jobs_ui.jobs.cancel import shown_error_message
from jobs_ui.models import Job, JobStatus
from jobs_ui.stores import get_result_store
from jobs_ui.views.access import get_visible_job
from jobs_ui.views.standing import Standing, standing
from jobs_ui.views.standing import payload as standing_payload
from jobs_ui.views.viewer import Viewer
from jobs_ui.views.watching import watched_job

ALLOWED_METHODS = ("GET", "HEAD")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def job_payload(
    job: Job, *, staff: bool = False, name_canceller: bool = False, where: Standing | None = None
) -> dict[str, Any]:
    """A job as the JSON endpoints show it; with ``where``, where it stands while unfinished."""
    payload: dict[str, Any] = {
        "id": str(job.pk),
        "task": job.task_path,
        "status": job.status,
        "cancel_requested": job.cancel_requested_at is not None,
        "progress": {
            "done": job.progress_done,
            "total": job.progress_total,
            "percent": job.percent,
            "message": job.progress_message,
        },
        "extra": job.extra,
        "attempts": job.attempts,
        "enqueued_at": _iso(job.enqueued_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
    }
    if where is not None and not job.is_finished:
        payload["standing"] = standing_payload(job, where)
    if job.error_class:
        message = shown_error_message(job, name_canceller=name_canceller)
        payload["error"] = {"class": job.error_class, "message": message}
        if staff:
            payload["error"]["traceback"] = job.error_traceback
    return payload


def _names_canceller(request: HttpRequest, job: Job) -> bool:
    return bool(request.user.is_staff) or Viewer.from_request(request).owns(job)


def _error_response(message: str, *, status: int) -> JsonResponse:
    return JsonResponse({"error": {"message": message}}, status=status)


def _json_errors(view: Callable[[HttpRequest, uuid.UUID], JsonResponse]) -> Callable[[HttpRequest, str], JsonResponse]:
    # A client of these endpoints reads JSON, so a wrong method or a missing job
    # answers JSON too, not the site's HTML error pages.
    @functools.wraps(view)
    def wrapper(request: HttpRequest, job_id: str) -> JsonResponse:
        if request.method not in ALLOWED_METHODS:
            message = _("Method %s is not allowed here; use GET.") % request.method
            response = _error_response(message, status=405)
            response["Allow"] = ", ".join(ALLOWED_METHODS)
            return response
        try:
            parsed = uuid.UUID(job_id)
        except ValueError:
            return _error_response(_("No such job."), status=404)
        try:
            return view(request, parsed)
        except Http404:
            return _error_response(_("No such job."), status=404)

    return wrapper


@never_cache
@_json_errors
def job_status(request: HttpRequest, job_id: uuid.UUID) -> JsonResponse:
    # What a panel shows of a waiting or running job is what the payload shows (the traceback,
    # for staff only, is read when asked for).
    viewer, job = watched_job(request, job_id)
    payload = job_payload(
        job, staff=viewer.is_staff, name_canceller=viewer.is_staff or viewer.owns(job), where=standing(job, reads=1)
    )
    return JsonResponse(payload)


@never_cache
@_json_errors
def job_result(request: HttpRequest, job_id: uuid.UUID) -> JsonResponse:
    """202 while unfinished, 200 with the value, 409 when failed or cancelled, 410 once expired,
    503 while the result store cannot read it."""
    job = get_visible_job(request, job_id)
    if not job.is_finished:
        return JsonResponse(job_payload(job), status=202)
    if job.status != JobStatus.SUCCESSFUL:
        payload = job_payload(job, staff=request.user.is_staff, name_canceller=_names_canceller(request, job))
        return JsonResponse(payload, status=409)
    try:
        value = get_result_store().load(job)
    except ResultExpired as e:
        return JsonResponse({"id": str(job.pk), "status": job.status, "error": {"message": str(e)}}, status=410)
    except ResultStoreError as e:
        # What went wrong names hosts and ports: staff only.
        error = {"message": _("The result cannot be read right now; try again shortly.")}
        if request.user.is_staff:
            error["detail"] = str(e)
        response = JsonResponse({"id": str(job.pk), "status": job.status, "error": error}, status=503)
        response["Retry-After"] = "5"
        return response
    return JsonResponse(value, safe=False)
