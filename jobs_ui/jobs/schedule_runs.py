"""Running schedules (``jobs_ui.jobs.schedules``): their rows, their occurrences, one job for each.

Workers call ``sync_schedules()`` when they start and ``run_due_schedules()`` every second.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from cronsim import CronSim
from django.db import IntegrityError, router, transaction
from django.db.models import Q
from django.utils import timezone

from jobs_ui.exceptions import UnknownTask
from jobs_ui.jobs.create import create_job
from jobs_ui.jobs.registry import resolve_task
from jobs_ui.jobs.schedules import MANUAL, ScheduleSpec, specs
from jobs_ui.models import Job, Schedule

if TYPE_CHECKING:
    from jobs_ui.backend import JobTask

logger = logging.getLogger(__name__)

# The most occurrences one pass enqueues for one schedule (catch_up="all" after a long gap).
CATCH_UP_MAX = 1000


def occurrences(spec: ScheduleSpec, after: datetime, until: datetime) -> list[datetime]:
    """The occurrences of ``spec`` after ``after`` up to ``until`` included, in UTC, in its time zone's wall clock.

    Across a daylight-saving change each wall-clock occurrence comes once: one in the hour that
    repeats runs in its first pass, one in the hour that is skipped runs when the clock jumps.
    """
    if spec.cron == MANUAL:
        return []
    found: list[datetime] = []
    for moment in CronSim(spec.cron, after.astimezone(spec.zone())):
        at = moment.astimezone(UTC)
        if at > until or len(found) >= CATCH_UP_MAX:
            break
        if at > after:
            found.append(at)
    return found


def next_occurrence(spec: ScheduleSpec, after: datetime) -> datetime | None:
    if spec.cron == MANUAL:
        return None
    return next(iter(CronSim(spec.cron, after.astimezone(spec.zone())))).astimezone(UTC)


def sync_schedules(now: datetime | None = None) -> dict[str, Schedule]:
    """Make the rows of the schedules the code and settings define: new ones, changed ones; gone ones are disabled."""
    now = now or timezone.now()
    rows = {}
    defined = specs()
    for name, spec in defined.items():
        row, created = Schedule.objects.get_or_create(
            name=name, defaults={**_fields(spec), "next_occurrence": next_occurrence(spec, now)}
        )
        if not created and any(getattr(row, key) != value for key, value in _fields(spec).items()):
            Schedule.objects.filter(pk=row.pk).update(**_fields(spec), next_occurrence=next_occurrence(spec, now))
            row.refresh_from_db()
        if created and spec.run_on_creation:
            run_now(row)
        rows[name] = row
    Schedule.objects.exclude(name__in=list(defined)).update(enabled=False)
    return rows


def _fields(spec: ScheduleSpec) -> dict[str, Any]:
    return {
        "task_path": spec.task,
        "cron": spec.cron,
        "timezone": spec.timezone,
        "args": spec.args,
        "kwargs": spec.kwargs,
        "queue_name": spec.queue_name,
        "priority": spec.priority,
        "catch_up": spec.catch_up,
        "datetime_kwarg": spec.datetime_kwarg,
        "enabled": True,
    }


def run_due_schedules(now: datetime | None = None) -> int:
    """Enqueue one job per due occurrence of each enabled schedule; how many jobs this call made.

    Any number of workers may call it at once: the unique constraint on (schedule, occurrence)
    keeps one job per occurrence, whoever inserts it first.
    """
    now = now or timezone.now()
    made = 0
    due = Schedule.objects.filter(enabled=True).filter(Q(next_occurrence__lte=now))
    for row in due:
        spec = row.spec()
        since = row.last_occurrence or (row.next_occurrence - timedelta(microseconds=1) if row.next_occurrence else now)
        moments = occurrences(spec, since, now)
        if spec.catch_up == "latest":
            moments = moments[-1:]
        for moment in moments:
            if _enqueue(row, moment) is not None:
                made += 1
        last = moments[-1] if moments else row.last_occurrence
        Schedule.objects.filter(pk=row.pk, next_occurrence=row.next_occurrence).update(
            last_occurrence=last, next_occurrence=next_occurrence(spec, now)
        )
    return made


def _enqueue(row: Schedule, occurrence: datetime | None) -> Job | None:
    """The job of ``row`` for ``occurrence`` (None: forced), or None when another worker made it first."""
    try:
        task = resolve_task(row.task_path)
    except UnknownTask:
        logger.warning("Schedule %s names no task (%s); skipped", row.name, row.task_path)
        return None
    overrides: dict[str, Any] = {}
    if row.queue_name:
        overrides["queue_name"] = row.queue_name
    if row.priority is not None:
        overrides["priority"] = row.priority
    if overrides:
        task = cast("JobTask", task.using(**overrides))
    kwargs = dict(row.kwargs)
    if row.datetime_kwarg:
        # As JSON: the occurrence in ISO 8601 (datetime.fromisoformat() reads it); None when forced.
        kwargs[row.datetime_kwarg] = occurrence.isoformat() if occurrence is not None else None
    if occurrence is None:
        return create_job(task, list(row.args), kwargs, schedule=row)
    try:
        with transaction.atomic(using=router.db_for_write(Job)):
            return create_job(task, list(row.args), kwargs, schedule=row, occurrence=occurrence)
    except IntegrityError:
        return None  # made by another worker: one job per occurrence


def run_now(row: Schedule) -> Job | None:
    """Force a run of ``row``'s task now (its ``datetime_kwarg`` is None); also for ``manual`` schedules."""
    job = _enqueue(row, None)
    Schedule.objects.filter(pk=row.pk).update(last_forced_at=timezone.now())
    return job
