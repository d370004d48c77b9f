"""JSON endpoints for clients without HTMX (oddjob's poll loop works against job_result)."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from jobs_ui.exceptions import ResultExpired, ResultStoreError
from jobs_ui.models import Job, JobStatus
from jobs_ui.stores import get_result_store
from jobs_ui.views.access import get_visible_job


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def job_payload(job: Job, *, staff: bool = False) -> dict[str, Any]:
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
    if job.error_class:
        payload["error"] = {"class": job.error_class, "message": job.error_message}
        if staff:
            payload["error"]["traceback"] = job.error_traceback
    return payload


@never_cache
@require_GET
def job_status(request: HttpRequest, job_id: uuid.UUID) -> JsonResponse:
    job = get_visible_job(request, job_id)
    return JsonResponse(job_payload(job, staff=request.user.is_staff))


@never_cache
@require_GET
def job_result(request: HttpRequest, job_id: uuid.UUID) -> JsonResponse:
    """202 while unfinished, 200 with the value, 409 when failed or cancelled, 410 once expired."""
    job = get_visible_job(request, job_id)
    if not job.is_finished:
        return JsonResponse(job_payload(job), status=202)
    if job.status != JobStatus.SUCCESSFUL:
        return JsonResponse(job_payload(job, staff=request.user.is_staff), status=409)
    try:
        value = get_result_store().load(job)
    except ResultExpired as e:
        return JsonResponse({"id": str(job.pk), "status": job.status, "error": {"message": str(e)}}, status=410)
    except ResultStoreError:
        message = "The result store is unavailable; try again shortly."
        response = JsonResponse({"id": str(job.pk), "status": job.status, "error": {"message": message}}, status=503)
        response["Retry-After"] = "5"
        return response
    return JsonResponse(value, safe=False)
