"""The staff dashboard at ``staff/``: workers, queues, throughput and recent failures, each section a partial
that refreshes itself.

Staff with ``jobs_ui.view_job`` read it; ``jobs_ui.change_job`` acts (purging stopped workers);
superusers do everything; other users get 403, anonymous visitors the login page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from jobs_ui.broker.queues import broker_counts
from jobs_ui.conf import get_config
from jobs_ui.jobs.schedule_runs import run_now
from jobs_ui.jobs.staff_actions import PURGE_WORKERS, RUN_SCHEDULE, record_action
from jobs_ui.models import Job, JobStatus, Schedule, Worker, WorkerState
from jobs_ui.monitoring.health import QueueHealth, read_health
from jobs_ui.monitoring.throughput import read_throughput
from jobs_ui.templatetags.jobs_ui import jobs_ui_duration
from jobs_ui.views.access import ACT_PERMISSION, READ_PERMISSION, RUN_SCHEDULE_PERMISSION, staff_may
from jobs_ui.views.pages import attempt_errors
from jobs_ui.views.types import HtmxHttpRequest

STAFF_TEMPLATE = "jobs_ui/staff.html"
# Milliseconds between two refreshes of a section (none while the tab is hidden).
REFRESH_MS = 5000
# Stopped, crashed and lost workers shown below the live ones (the newest); the rest are counted.
ENDED_SHOWN = 20
ENDED = (WorkerState.STOPPED, WorkerState.CRASHED, WorkerState.LOST)


def staff_only(permission: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Anonymous: the login page (403 for htmx); signed in without staff status and ``permission``: 403."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user: Any = request.user
            if not user.is_authenticated:
                if request.htmx:
                    return HttpResponse(status=403)
                return redirect_to_login(request.get_full_path())
            if not staff_may(user, permission):
                raise PermissionDenied(_("Staff only."))
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


@dataclass(slots=True)
class WorkerRow:
    worker: Worker
    state: WorkerState
    silent_seconds: float
    busy: list[tuple[str, str]] = field(default_factory=list)
    """``(job id, task name)`` of the jobs it runs."""


@dataclass(slots=True)
class QueueRow:
    health: QueueHealth
    deferred: int
    messages: int | None
    consumers: int | None


def workers_context() -> dict[str, Any]:
    now = timezone.now()
    live = list(Worker.objects.filter(state__in=[WorkerState.ONLINE, WorkerState.STOPPING]).order_by("-started_at"))
    ended = list(Worker.objects.filter(state__in=ENDED).order_by("-started_at")[: ENDED_SHOWN + 1])
    rows = {
        worker.id: WorkerRow(worker, worker.health, max(0.0, (now - worker.heartbeat_at).total_seconds()))
        for worker in [*live, *ended[:ENDED_SHOWN]]
    }
    for worker_id, job_id, task_path in (
        Job.objects.running().filter(worker_id__in=list(rows)).values_list("worker_id", "pk", "task_path")
    ):
        rows[worker_id].busy.append((str(job_id), task_path.rpartition(".")[2]))
    purgeable = Worker.objects.filter(state__in=ENDED).count()
    return {
        "worker_rows": list(rows.values()),
        "more_ended": len(ended) > ENDED_SHOWN,
        "purgeable": purgeable,
        "workers_url": reverse("jobs_ui:staff_workers"),
        "purge_url": reverse("jobs_ui:staff_purge_workers"),
    }


def queues_context() -> dict[str, Any]:
    rows = []
    for queue in read_health().queues:
        messages_count, consumers = broker_counts(queue.name)
        rows.append(QueueRow(queue, queue.ready - queue.due, messages_count, consumers))
    return {
        "queue_rows": rows,
        "queues_url": reverse("jobs_ui:staff_queues"),
        "broker": any(row.messages is not None for row in rows),
    }


# The throughput chart's drawing area, in SVG units: a bar per minute.
CHART_WIDTH, CHART_HEIGHT, BAR_STEP = 600, 120, 10


@dataclass(frozen=True, slots=True)
class Bar:
    x: int
    succeeded_y: float
    succeeded_height: float
    failed_y: float
    failed_height: float
    title: str


@dataclass(frozen=True, slots=True)
class TaskRow:
    name: str
    task_path: str
    finished: int
    failed_percent: str
    wait: str
    run: str


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 10:
        return f"{value:.2f} s"
    if value < 600:
        return f"{value:.0f} s"
    return jobs_ui_duration(value)


def throughput_context() -> dict[str, Any]:
    throughput = read_throughput()
    tallest = max((minute.succeeded + minute.failed for minute in throughput.minutes), default=0) or 1
    scale = CHART_HEIGHT / tallest
    bars = []
    for index, minute in enumerate(throughput.minutes):
        succeeded, failed = minute.succeeded * scale, minute.failed * scale
        title = _("%(time)s: %(succeeded)d succeeded, %(failed)d failed") % {
            "time": timezone.localtime(minute.start).strftime("%H:%M"),
            "succeeded": minute.succeeded,
            "failed": minute.failed,
        }
        bottom = CHART_HEIGHT - succeeded
        bars.append(Bar(index * BAR_STEP, bottom, succeeded, bottom - failed, failed, title))
    tasks = [
        TaskRow(
            figures.task_path.rpartition(".")[2],
            figures.task_path,
            figures.finished,
            f"{figures.failure_rate * 100:.0f} %",
            f"{_seconds(figures.wait_p50)} / {_seconds(figures.wait_p95)}",
            f"{_seconds(figures.run_p50)} / {_seconds(figures.run_p95)}",
        )
        for figures in throughput.tasks
    ]
    return {
        "throughput": throughput,
        "bars": bars,
        "tallest": tallest,
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
        "bar_width": BAR_STEP - 2,
        "task_rows": tasks,
        "throughput_url": reverse("jobs_ui:staff_throughput"),
    }


def schedules_context() -> dict[str, Any]:
    return {
        "schedules": list(Schedule.objects.order_by("-enabled", "name")),
        "schedules_url": reverse("jobs_ui:staff_schedules"),
    }


# The newest failures shown on the dashboard; the list of jobs has the rest.
FAILURES_SHOWN = 10


def failures_context() -> dict[str, Any]:
    failed = (
        Job.objects.filter(status=JobStatus.FAILED)
        .order_by("-finished_at")
        .select_related("owner")
        .only(*FAILURE_FIELDS, "owner__username")[:FAILURES_SHOWN]
    )
    return {
        "failures": [(job, attempt_errors(job)) for job in failed],
        "failures_url": reverse("jobs_ui:staff_failures"),
        "failed_jobs_url": reverse("jobs_ui:staff_jobs") + "?status=FAILED",
    }


FAILURE_FIELDS = (
    "id",
    "task_path",
    "status",
    "queue_name",
    "owner",
    "finished_at",
    "enqueued_at",
    "attempts",
    "error_class",
    "error_message",
    "errors",
)


def _context(request: HttpRequest) -> dict[str, Any]:
    user: Any = request.user
    config = get_config()
    return {
        "push_url": f"{config['WEBSOCKET_URL']}staff/" if config["WEBSOCKETS"] else "",
        "refresh_ms": REFRESH_MS,
        "can_act": user.has_perm(ACT_PERMISSION),
        "can_run_schedules": user.has_perm(RUN_SCHEDULE_PERMISSION),
        "act_url": reverse("jobs_ui:staff_act"),
        "jobs_url": reverse("jobs_ui:staff_jobs"),
        "dashboard_url": reverse("jobs_ui:staff"),
    }


@never_cache
@require_GET
@staff_only(READ_PERMISSION)
def staff_dashboard(request: HtmxHttpRequest) -> HttpResponse:
    """The dashboard: workers, queues, the last hour's throughput, then the newest failures."""
    context = _context(request)
    for section_context in SECTIONS.values():
        context.update(section_context())
    return render(request, STAFF_TEMPLATE, context)


# What each section of the dashboard shows, by the name of its partial.
SECTIONS: dict[str, Callable[[], dict[str, Any]]] = {
    "workers": workers_context,
    "queues": queues_context,
    "throughput": throughput_context,
    "failures": failures_context,
    "schedules": schedules_context,
}


@never_cache
@require_GET
@staff_only(READ_PERMISSION)
def staff_section(request: HtmxHttpRequest, section: str) -> HttpResponse:
    """One section of the dashboard (a key of ``SECTIONS``), as its refresh fetches it."""
    return _render_section(request, section)


def render_sections(request: HttpRequest, sections: Iterable[str]) -> str:
    """The partials of ``sections`` one after the other, as the dashboard's websocket pushes them (each by its id)."""
    context = _context(request)
    return "".join(
        render_to_string(f"{STAFF_TEMPLATE}#{section}", {**context, **SECTIONS[section]()}, request=request)
        for section in sections
    )


def _render_section(request: HtmxHttpRequest, section: str, **extra: Any) -> HttpResponse:
    context = {**_context(request), **SECTIONS[section](), **extra}
    return HttpResponse(render_to_string(f"{STAFF_TEMPLATE}#{section}", context, request=request))


@require_POST
@staff_only(ACT_PERMISSION)
def staff_purge_workers(request: HtmxHttpRequest) -> HttpResponse:
    """Delete the rows of stopped, crashed and lost workers; a silent worker still marked online keeps its row
    (it may only be frozen) until a worker's recovery marks it lost."""
    ids = list(Worker.objects.filter(state__in=ENDED).values_list("pk", flat=True))
    purged, _by_model = Worker.objects.filter(pk__in=ids, state__in=ENDED).delete()
    record_action(PURGE_WORKERS, request.user, "stopped workers", ids[:purged])
    notice = ngettext("Purged %(count)d stopped worker.", "Purged %(count)d stopped workers.", purged) % {
        "count": purged
    }
    if request.htmx:
        return _render_section(request, "workers", notice=notice)
    messages.success(request, notice)
    return redirect("jobs_ui:staff")


@require_POST
@staff_only(RUN_SCHEDULE_PERMISSION)
def staff_run_schedule(request: HtmxHttpRequest, schedule_id: int) -> HttpResponse:
    """Run a schedule's task now (``jobs_ui.run_schedule``); its ``datetime_kwarg`` gets None. Opens the new job."""
    schedule = get_object_or_404(Schedule, pk=schedule_id)
    job = run_now(schedule)
    record_action(RUN_SCHEDULE, request.user, f"schedule={schedule.name}", [str(job.pk)] if job else [])
    if job is None:
        messages.warning(request, _("Its task no longer exists; nothing was run."))
        return redirect("jobs_ui:staff")
    messages.success(request, _("%(name)s runs now.") % {"name": schedule.name})
    return redirect(job.get_absolute_url())
