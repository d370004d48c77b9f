"""Cron schedules of tasks: ``@schedule(cron=...)`` on a task, or ``JOBS_UI["SCHEDULES"]``.

    @schedule(cron="30 8 * * *")              # every day at 08:30, TIME_ZONE
    @task()
    def morning_report() -> None: ...

    JOBS_UI = {"SCHEDULES": {"nightly-prune": {"task": "app.tasks.prune", "cron": "0 3 * * *"}}}

Cron expressions have 5 fields, or 6 with seconds first, as cronsim reads them; ``"manual"``
runs only when forced. Workers run schedules (``jobs_ui.jobs.schedule_runs``): one job per
occurrence however many run, by a unique constraint on (schedule, occurrence).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cronsim import CronSim, CronSimError
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import autodiscover_modules

from jobs_ui.conf import get_config

MANUAL = "manual"
CATCH_UP = ("all", "latest")


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """One schedule as the code or the settings define it (``Schedule`` is its row)."""

    name: str
    task: str
    """Dotted path of the task."""
    cron: str
    timezone: str = ""
    """A zone name (``Europe/Lisbon``); empty: ``TIME_ZONE``."""
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue_name: str = ""
    """Empty: the task's queue."""
    priority: int | None = None
    """None: the task's priority."""
    catch_up: str = "latest"
    """After a time no worker ran schedules: ``"all"`` missed occurrences, or only the ``"latest"``."""
    run_on_creation: bool = False
    """Run once at once when the schedule is first seen, besides its occurrences."""
    datetime_kwarg: str = ""
    """The task's keyword argument that gets the occurrence's datetime (None when forced)."""

    def __post_init__(self) -> None:
        if self.cron != MANUAL:
            try:
                CronSim(self.cron, datetime.now(UTC))
            except CronSimError as e:
                raise ImproperlyConfigured(f"Schedule {self.name!r}: bad cron {self.cron!r}: {e}") from e
        if self.catch_up not in CATCH_UP:
            raise ImproperlyConfigured(f"Schedule {self.name!r}: catch_up must be 'all' or 'latest'.")
        self.zone()  # a zone that does not exist is refused now

    def zone(self) -> zoneinfo.ZoneInfo:
        name = self.timezone or settings.TIME_ZONE or "UTC"
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
            raise ImproperlyConfigured(f"Schedule {self.name!r}: unknown time zone {name!r}.") from e


_registered: dict[str, ScheduleSpec] = {}


def schedule(cron: str, *, name: str = "", **options: Any) -> Callable[[Any], Any]:
    """Schedule the task below (``@schedule(cron=...)`` above ``@task``); ``name`` defaults to the task's path."""

    def register(task: Any) -> Any:
        path = task.module_path
        spec = ScheduleSpec(name=name or path, task=path, cron=cron, **options)
        _registered[spec.name] = spec
        return task

    return register


def specs() -> dict[str, ScheduleSpec]:
    """Every schedule: those of ``tasks`` modules of installed apps (imported here), then the settings'."""
    autodiscover_modules("tasks")
    found = dict(_registered)
    for name, options in (get_config()["SCHEDULES"] or {}).items():
        options = dict(options)
        found[name] = ScheduleSpec(name=name, task=options.pop("task"), cron=options.pop("cron"), **options)
    return found
