"""The last hour's finished jobs, for staff: how many a minute (succeeded and failed), and per task
how many, how often they failed, and how long they waited and ran."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count
from django.db.models.functions import TruncMinute
from django.utils import timezone

from jobs_ui.models import FINISHED, Job, JobStatus

WINDOW = timedelta(hours=1)
# The most finished jobs whose times are read for the per-task figures (the newest first).
TIMED_ROWS = 20_000


@dataclass(frozen=True, slots=True)
class Minute:
    start: datetime
    succeeded: int
    failed: int


@dataclass(frozen=True, slots=True)
class TaskFigures:
    task_path: str
    finished: int
    failed: int
    wait_p50: float | None
    """Seconds from launch to start (the last attempt's start), median."""
    wait_p95: float | None
    run_p50: float | None
    """Seconds from start to finish, median."""
    run_p95: float | None

    @property
    def failure_rate(self) -> float:
        return self.failed / self.finished if self.finished else 0.0


@dataclass(frozen=True, slots=True)
class Throughput:
    minutes: list[Minute]
    """The last 60 minutes, oldest first, the current one last."""
    tasks: list[TaskFigures]
    """Busiest first."""
    timed_rows: int
    """How many jobs the per-task times were read from (at most ``TIMED_ROWS``)."""

    @property
    def succeeded(self) -> int:
        return sum(minute.succeeded for minute in self.minutes)

    @property
    def failed(self) -> int:
        return sum(minute.failed for minute in self.minutes)


def read_throughput(now: datetime | None = None) -> Throughput:
    """What finished in the hour up to ``now``: two queries, by the ``finished_at`` index."""
    now = now or timezone.now()
    current = now.replace(second=0, microsecond=0)
    first = current - timedelta(minutes=59)
    finished = Job.objects.filter(finished_at__gte=first, finished_at__lte=now, status__in=FINISHED)
    counts: dict[tuple[datetime, str], int] = {}
    for row in finished.annotate(minute=TruncMinute("finished_at")).values("minute", "status").annotate(n=Count("pk")):
        counts[(row["minute"], row["status"])] = row["n"]
    minutes = [
        Minute(
            start,
            counts.get((start, JobStatus.SUCCESSFUL), 0),
            counts.get((start, JobStatus.FAILED), 0),
        )
        for start in (first + timedelta(minutes=i) for i in range(60))
    ]
    rows = list(
        finished.order_by("-finished_at").values_list(
            "task_path", "status", "enqueued_at", "started_at", "finished_at"
        )[:TIMED_ROWS]
    )
    return Throughput(minutes, _per_task(rows), len(rows))


def _per_task(rows: list[tuple[str, str, datetime, datetime | None, datetime | None]]) -> list[TaskFigures]:
    # finished_at is set on every row read (finished in the window).
    by_task: dict[str, list[tuple[str, datetime, datetime | None, datetime | None]]] = {}
    for task_path, status, enqueued_at, started_at, finished_at in rows:
        by_task.setdefault(task_path, []).append((status, enqueued_at, started_at, finished_at))
    figures = []
    for task_path, jobs in by_task.items():
        # Never below 0: the launch and the start are stamped by different clocks (the database's, a worker's).
        waits = [
            max(0.0, (started - enqueued).total_seconds()) for _s, enqueued, started, _f in jobs if started is not None
        ]
        runs = [
            (finished - started).total_seconds()
            for _s, _e, started, finished in jobs
            if started is not None and finished is not None
        ]
        figures.append(
            TaskFigures(
                task_path,
                len(jobs),
                sum(1 for status, *_ in jobs if status == JobStatus.FAILED),
                *_cuts(waits),
                *_cuts(runs),
            )
        )
    return sorted(figures, key=lambda f: (-f.finished, f.task_path))


def _cuts(values: list[float]) -> tuple[float | None, float | None]:
    """Median and 95th percentile; None when there is nothing to measure."""
    if not values:
        return None, None
    if len(values) == 1:
        return values[0], values[0]
    cuts = statistics.quantiles(values, n=20, method="inclusive")
    return statistics.median(values), cuts[18]
