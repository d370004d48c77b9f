"""Where a waiting or running job stands: its place in its queue, and whether a worker is there to run it.

What a panel and ``status.json`` tell the person waiting. It is read at most every
``STANDING_TTL`` seconds in each process (the workers' rows) and for each job (its place);
a poll asks for one read at most, so it costs at most one query more than its own.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from jobs_ui.conf import get_config
from jobs_ui.models import Job, JobStatus, Worker, WorkerKind, WorkerState

# Seconds a read of the workers' rows, or of a job's place, is used before it is read again.
STANDING_TTL = 3.0
# Heartbeats a worker may miss before the job it runs says the worker stopped answering
# (recovery waits for HEARTBEAT_TIMEOUT, usually longer).
LATE_BEATS = 3
# The most places kept; past it, the oldest are read again.
PLACES_KEPT = 10_000


@dataclass(frozen=True, slots=True)
class Standing:
    """What the person waiting for a job is told besides its progress."""

    ahead: int | None = None
    """READY and due: how many jobs come before it in its queue; None when not known (yet)."""

    unserved: bool = False
    """READY: no worker takes jobs of its queue right now."""

    worker: str = ""
    """RUNNING: the label of the worker running it."""

    silent: bool = False
    """RUNNING: that worker stopped answering (its heartbeat is late, or it is gone)."""

    retried: bool = False
    """RUNNING on a silent worker: the job will be tried again (it has attempts left, or never began)."""


NOTHING = Standing()


@dataclass(frozen=True, slots=True)
class _Seen:
    label: str
    kind: str
    queues: frozenset[str]
    state: str
    heartbeat_at: datetime


@dataclass(frozen=True, slots=True)
class _Workers:
    taken: float
    """``time.monotonic()`` when read."""
    read_at: datetime
    """This clock when read: a heartbeat is judged late against it, not against now."""
    rows: dict[str, _Seen]


_lock = threading.Lock()
_workers: _Workers | None = None
_places: dict[Any, tuple[float, int]] = {}


def standing(job: Job, *, place: bool = True, reads: int = 2) -> Standing:
    """Where ``job`` stands (nothing once it has finished), in at most ``reads`` queries;
    with ``place``, its place in its queue too (left unknown when the reads are spent)."""
    if job.status not in (JobStatus.READY, JobStatus.RUNNING):
        return NOTHING
    now = time.monotonic()
    refreshed, workers = _current_workers(now)
    if job.status == JobStatus.RUNNING:
        if not job.worker_id:
            return NOTHING  # run by no known worker: nothing to say of it
        began = job.started_at or job.enqueued_at
        if job.worker_id not in workers.rows and workers.read_at < began:
            # Its worker may have come up after the workers were read: read them again, if a read is left.
            if refreshed or reads < 1:
                return NOTHING
            refreshed, workers = _current_workers(now, force=True)
        return _running(job, workers.rows.get(job.worker_id), _late_before(workers.read_at))
    late = _late_before(workers.read_at)
    unserved = not any(_takes(seen, job, late) for seen in workers.rows.values())
    ahead = None
    if place and not _deferred(job):
        ahead = _place(job, now, read=reads > (1 if refreshed else 0))
    return Standing(ahead=ahead, unserved=unserved)


def note(job: Job, where: Standing) -> str:
    """What the panel says of where ``job`` stands; empty when there is nothing to say."""
    if where.silent:
        if where.retried:
            return _("The worker running this job stopped answering; it will be retried.")
        return _("The worker running this job stopped answering; the job will be marked failed.")
    parts = []
    if where.ahead == 0:
        if not where.unserved:
            parts.append(_("Yours is next in line."))
    elif where.ahead is not None:
        parts.append(
            ngettext(
                "%(count)s job is ahead of yours in the queue “%(queue)s”.",
                "%(count)s jobs are ahead of yours in the queue “%(queue)s”.",
                where.ahead,
            )
            % {"count": where.ahead, "queue": job.queue_name}
        )
    if where.unserved:
        parts.append(_("No worker is running jobs of this kind right now; yours will start when one is back."))
    return " ".join(parts)


def payload(job: Job, where: Standing) -> dict[str, Any]:
    """What ``status.json`` says of where ``job`` stands, by its status; empty once it has finished."""
    if job.status == JobStatus.READY:
        return {"ahead": where.ahead, "worker_available": not where.unserved, "note": note(job, where)}
    if job.status == JobStatus.RUNNING:
        return {
            "worker": where.worker,
            "worker_silent": where.silent,
            "will_retry": where.retried if where.silent else None,
            "note": note(job, where),
        }
    return {}


def reset() -> None:
    """Forget what was read (tests, or the settings changed)."""
    global _workers
    with _lock:
        _workers = None
        _places.clear()


def _current_workers(now: float, *, force: bool = False) -> tuple[bool, _Workers]:
    # The workers that may take or run jobs: online, or stopping while they finish theirs.
    global _workers
    kept = _workers
    if kept is not None and not force and now - kept.taken < STANDING_TTL:
        return False, kept
    read_at = timezone.now()
    rows = Worker.objects.filter(state__in=[WorkerState.ONLINE, WorkerState.STOPPING]).values_list(
        "id", "label", "kind", "queues", "state", "heartbeat_at"
    )
    workers = _Workers(
        now,
        read_at,
        {
            worker_id: _Seen(label or worker_id, kind, frozenset(queues or ()), state, heartbeat_at)
            for worker_id, label, kind, queues, state, heartbeat_at in rows
        },
    )
    with _lock:
        _workers = workers
    return True, workers


def _late_before(read_at: datetime) -> datetime:
    config = get_config()
    late = min(config["HEARTBEAT_TIMEOUT"], LATE_BEATS * config["HEARTBEAT_INTERVAL"])
    return read_at - timedelta(seconds=late)


def _takes(seen: _Seen, job: Job, late: datetime) -> bool:
    """Whether this worker takes new jobs like ``job`` now."""
    if seen.state != WorkerState.ONLINE or seen.heartbeat_at < late:
        return False
    if job.executor == WorkerKind.THREAD:
        # A web process's pool takes thread jobs of every queue.
        return seen.kind == WorkerKind.THREAD
    return seen.kind == WorkerKind.PROCESS and job.queue_name in seen.queues


def _running(job: Job, seen: _Seen | None, late: datetime) -> Standing:
    if seen is not None and seen.heartbeat_at >= late:
        return Standing(worker=seen.label)
    retried = job.started_at is None or job.attempts < job.max_attempts
    return Standing(worker=seen.label if seen is not None else "", silent=True, retried=retried)


def _deferred(job: Job) -> bool:
    return job.run_after is not None and job.run_after > timezone.now()


def _place(job: Job, now: float, *, read: bool) -> int | None:
    kept = _places.get(job.pk)
    if kept is not None and now - kept[0] < STANDING_TTL:
        return kept[1]
    if not read:
        # The reads are spent: the place waits for the next request.
        return kept[1] if kept is not None else None
    # The job's enqueued_at as the database keeps it: SQLite compares the text it wrote
    # (its clock's milliseconds), which a value from Python (microseconds) would not match.
    enqueued_at = Subquery(Job.objects.filter(pk=job.pk).values("enqueued_at")[:1])
    ahead = (
        Job.objects.due()
        .filter(queue_name=job.queue_name, executor=job.executor)
        .filter(
            Q(priority__gt=job.priority)
            | Q(priority=job.priority, enqueued_at__lt=enqueued_at)
            | Q(priority=job.priority, enqueued_at=enqueued_at, pk__lt=job.pk)
        )
        .count()
    )
    with _lock:
        if len(_places) >= PLACES_KEPT:
            _places.clear()
        _places[job.pk] = (now, ahead)
    return ahead
