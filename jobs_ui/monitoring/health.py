"""Health for operators: workers by state, each queue's waiting jobs and the workers serving it, and what is wrong.

What ``manage.py jobs_ui_health``, ``/jobs/health.json`` and ``/jobs/metrics`` report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Min, Q
from django.db.models.functions import Now
from django.utils import timezone

from jobs_ui.backend import known_queues
from jobs_ui.models import Job, JobStatus, Worker, WorkerKind, WorkerState, silent_before

DUE = Q(run_after__isnull=True) | Q(run_after__lte=Now())


@dataclass(slots=True)
class QueueHealth:
    name: str
    ready: int = 0
    """READY jobs, delayed ones included."""
    due: int = 0
    """READY jobs whose time has come."""
    oldest_due_age: float | None = None
    """Seconds the oldest due READY job has waited since it was launched."""
    running: int = 0
    workers: int = 0
    """Online worker processes that take jobs of this queue."""
    waiting_worker_jobs: int = 0
    """Due READY jobs for worker processes."""
    waiting_thread_jobs: int = 0
    """Due READY thread jobs (run by web processes, not by worker processes)."""


@dataclass(slots=True)
class Health:
    workers: dict[str, int]
    """Worker rows by state; an online or stopping worker that stopped heartbeating counts as lost."""
    thread_pools: int
    """Web processes' thread pools online."""
    queues: list[QueueHealth] = field(default_factory=list)
    finished: list[tuple[str, str, int]] = field(default_factory=list)
    """``(task path, status, jobs)`` of the finished jobs the table still holds."""


def read_health(queue_names: list[str] | None = None, *, finished: bool = False) -> Health:
    """Workers, and the queues ``queue_names`` (else every queue the backends know or a job uses)."""
    silent = silent_before()
    workers = {state.value: 0 for state in WorkerState}
    thread_pools = 0
    serving: dict[str, int] = {}
    for kind, state, queues, heartbeat_at in Worker.objects.values_list("kind", "state", "queues", "heartbeat_at"):
        live = state in (WorkerState.ONLINE, WorkerState.STOPPING) and heartbeat_at >= silent
        shown = state if live or state not in (WorkerState.ONLINE, WorkerState.STOPPING) else WorkerState.LOST
        workers[shown] += 1
        if not live or state != WorkerState.ONLINE:
            continue
        if kind == WorkerKind.THREAD:
            thread_pools += 1
        else:
            for name in queues or ():
                serving[name] = serving.get(name, 0) + 1
    rows = (
        # Optimization: two arms, so PostgreSQL reads the READY and the RUNNING partial indexes
        # (a BitmapOr); "status IN (...)" matches neither and read the whole table.
        Job.objects.filter(Q(status=JobStatus.READY) | Q(status=JobStatus.RUNNING))
        .values("queue_name", "executor")
        .annotate(
            ready=Count("pk", filter=Q(status=JobStatus.READY)),
            due=Count("pk", filter=Q(status=JobStatus.READY) & DUE),
            oldest=Min("enqueued_at", filter=Q(status=JobStatus.READY) & DUE),
            running=Count("pk", filter=Q(status=JobStatus.RUNNING)),
        )
    )
    names = queue_names or sorted({row["queue_name"] for row in rows} | (known_queues() or set()))
    queues = {name: QueueHealth(name, workers=serving.get(name, 0)) for name in names}
    now = timezone.now()
    for row in rows:
        queue = queues.get(row["queue_name"])
        if queue is None:
            continue
        queue.ready += row["ready"]
        queue.due += row["due"]
        queue.running += row["running"]
        if row["executor"] == WorkerKind.THREAD:
            queue.waiting_thread_jobs += row["due"]
        else:
            queue.waiting_worker_jobs += row["due"]
        oldest: datetime | None = row["oldest"]
        if oldest is not None:
            age = max(0.0, (now - oldest).total_seconds())
            queue.oldest_due_age = age if queue.oldest_due_age is None else max(queue.oldest_due_age, age)
    health = Health(workers=workers, thread_pools=thread_pools, queues=list(queues.values()))
    if finished:
        health.finished = [
            (row["task_path"], row["status"], row["jobs"])
            for row in Job.objects.finished()
            .values("task_path", "status")
            .annotate(jobs=Count("pk"))
            .order_by("task_path", "status")
        ]
    return health


def problems(health: Health, *, max_age: float | None = None, need_workers: bool = False) -> list[str]:
    """What is wrong, a line each: a queue whose worker jobs wait with no worker serving it (any
    queue without a worker, with ``need_workers``), thread jobs no web process runs, a due job
    older than ``max_age`` seconds."""
    found = []
    for queue in health.queues:
        if queue.workers == 0 and (need_workers or queue.waiting_worker_jobs):
            found.append(f"queue {queue.name}: no worker serves it")
        if queue.waiting_thread_jobs and health.thread_pools == 0:
            found.append(
                f"queue {queue.name}: {queue.waiting_thread_jobs} thread job(s) wait and no web process runs them"
            )
        if max_age is not None and queue.oldest_due_age is not None and queue.oldest_due_age > max_age:
            found.append(
                f"queue {queue.name}: its oldest job has waited {queue.oldest_due_age:.0f} s (more than {max_age:g} s)"
            )
    return found
