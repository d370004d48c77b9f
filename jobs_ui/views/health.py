"""Monitoring endpoints: ``health.json`` (503 when something is wrong) and ``metrics`` (Prometheus' text format).

Staff with ``jobs_ui.view_job`` may read them, and so may a client sending
``Authorization: Bearer <JOBS_UI["HEALTH_TOKEN"]>``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from jobs_ui.conf import get_config
from jobs_ui.monitoring.health import Health, problems, read_health
from jobs_ui.views.access import READ_PERMISSION, staff_may

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _refused(request: HttpRequest) -> HttpResponse | None:
    """None when ``request`` may read the health; else the answer: 401 without credentials, 403 without the right."""
    token = get_config()["HEALTH_TOKEN"]
    scheme, _space, credentials = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and constant_time_compare(credentials.strip(), token):
        return None
    user: Any = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        if staff_may(user, READ_PERMISSION):
            return None
        return JsonResponse({"error": {"message": _("Staff only.")}}, status=403)
    response = JsonResponse({"error": {"message": _("Sign in as staff, or send the health token.")}}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="jobs_ui"'
    return response


def _guarded(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    def guarded(request: HttpRequest) -> HttpResponse:
        return _refused(request) or view(request)

    guarded.__name__ = guarded.__qualname__ = view.__name__
    guarded.__doc__ = view.__doc__
    return never_cache(require_safe(guarded))


@_guarded
def health_json(request: HttpRequest) -> HttpResponse:
    """Workers by state and each queue; 503 with ``problems`` when a queue's jobs wait for no one
    (or, with ``?max_age=S``, longer than S seconds). ``?queue=Q`` (repeatable) checks those queues only."""
    max_age = None
    if "max_age" in request.GET:
        try:
            max_age = float(request.GET["max_age"])
        except ValueError:
            max_age = math.nan
        if not max_age > 0 or math.isinf(max_age):
            message = _("max_age must be a number of seconds > 0, not %(value)r.") % {"value": request.GET["max_age"]}
            return JsonResponse({"error": {"message": message}}, status=400)
    queues = request.GET.getlist("queue") or None
    health = read_health(queues)
    need_workers = bool(queues) or get_config()["EXECUTOR"] == "worker"
    found = problems(health, max_age=max_age, need_workers=need_workers)
    payload = {
        "ok": not found,
        "problems": found,
        "workers": health.workers,
        "thread_pools": health.thread_pools,
        "queues": [asdict(queue) for queue in health.queues],
    }
    return JsonResponse(payload, status=503 if found else 200)


@_guarded
def metrics(request: HttpRequest) -> HttpResponse:
    """The same figures, and the finished jobs the table holds by task and status, for Prometheus."""
    return HttpResponse(metrics_text(read_health(finished=True)), content_type=METRICS_CONTENT_TYPE)


def metrics_text(health: Health) -> str:
    """Prometheus' text exposition format (0.0.4) of ``health``."""
    lines: list[str] = []

    def family(name: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        for labels, value in samples:
            shown = ",".join(f'{key}="{_escape(label)}"' for key, label in labels.items())
            lines.append(f"{name}{{{shown}}} {_number(value)}" if shown else f"{name} {_number(value)}")

    family(
        "jobs_ui_workers",
        "Worker processes and thread pools by state.",
        [({"state": state}, count) for state, count in health.workers.items()],
    )
    family("jobs_ui_thread_pools", "Web processes' thread pools online.", [({}, health.thread_pools)])
    for attribute, name, help_text in (
        ("ready", "jobs_ui_queue_ready_jobs", "READY jobs, delayed ones included."),
        ("due", "jobs_ui_queue_due_jobs", "READY jobs whose time has come."),
        ("running", "jobs_ui_queue_running_jobs", "RUNNING jobs."),
        ("workers", "jobs_ui_queue_workers", "Online worker processes taking jobs of the queue."),
    ):
        family(name, help_text, [({"queue": q.name}, getattr(q, attribute)) for q in health.queues])
    family(
        "jobs_ui_queue_oldest_due_age_seconds",
        "Seconds the oldest due READY job has waited; 0 when none waits.",
        [({"queue": q.name}, q.oldest_due_age or 0.0) for q in health.queues],
    )
    family(
        "jobs_ui_finished_jobs",
        "Finished jobs the jobs table holds (until pruned), by task and status.",
        [({"task": task, "status": status}, count) for task, status, count in health.finished],
    )
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value)) if math.isfinite(value) else "NaN"
