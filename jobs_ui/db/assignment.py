"""Idle workers are given new jobs in the jobs' own INSERT (PostgreSQL): slot offers, the parts of the INSERT
that take a slot, and the pick-up."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Sequence
from functools import cache

from django.db import DatabaseError, connections

from jobs_ui.db import wakeups
from jobs_ui.db.sql import bound_cursor, columns, fetch_jobs, quote, table
from jobs_ui.models import Job, JobStatus, WorkerSlot, db_now_plus

# A worker that listens for notes (``jobs_ui.db.wakeups``) and found nothing to do offers
# its free slots: a ``WorkerSlot`` row per slot and queue, which expires unless its
# heartbeat renews it. The INSERT of a new worker job takes one (``FOR UPDATE SKIP
# LOCKED``) and writes the job RUNNING for that worker, attempt 1, in the same
# statement; its ``NOTIFY`` names the job and the worker (``"queue id worker"``), and that
# worker picks the job up: one ``UPDATE ... RETURNING`` reads the row it was given and
# marks it started. A job is given to one worker: the slot row is deleted by the INSERT
# that takes it, and the job's row says whose it is.
#
# Any role that can connect may listen to notes and send its own, so a note carries no
# job data, and the worker runs only what its pick-up read from the jobs table: a job
# given to it and not picked up yet.
#
# Optimization: a job claimed after its launch waits for two durable commits in a row,
# its INSERT and then the claim; an assigned job waits for
# its INSERT, then its pick-up, which does not wait for the disk: the mark
# (``started_at``) only tells the reaper (``jobs_ui.jobs.recover``) whether the worker ever
# had the job. An assigned job that no worker picked up (its
# worker was killed before, or missed the note) is handed back as READY without using
# up an attempt once its lease expires; a worker also picks up, at each heartbeat, what
# was given to it and never reached it.
#
# A worker that takes jobs from RabbitMQ messages or claims withdraws its offers: the
# queue is not empty, and a new job should wait its turn there.

logger = logging.getLogger(__name__)

# Seconds an assigned job may wait unpicked before the heartbeat picks it up (a missed note).
UNPICKED_AFTER = 1.0


def enabled(alias: str) -> bool:
    """Whether new worker jobs on ``alias`` may be given to idle workers (workers listen for notes there)."""
    return connections[alias].vendor == "postgresql" and wakeups.supported()


def taken_slot(alias: str) -> str:
    """The ``WITH`` clause of an assigning INSERT: one free slot of the job's queue (parameter), taken."""
    slots = quote(alias, WorkerSlot._meta.db_table)
    return (
        f"WITH slot AS (DELETE FROM {slots} WHERE id = (SELECT id FROM {slots} WHERE queue_name = %s "
        "AND expires_at > now() ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING worker_id), "
        "assigned AS (SELECT (SELECT worker_id FROM slot) AS w) "
    )


def assigned_values(columns: Sequence[str]) -> list[str]:
    """The INSERT's placeholders: those of an assigned attempt's columns keep the new row's value without a slot."""
    running = JobStatus.RUNNING.value
    when = {
        "status": f"(SELECT CASE WHEN w IS NULL THEN %s ELSE '{running}' END FROM assigned)",
        "attempts": "(SELECT CASE WHEN w IS NULL THEN %s::integer ELSE 1 END FROM assigned)",
        "worker_id": "COALESCE((SELECT w FROM assigned), %s)",
        "worker_ids": "(SELECT CASE WHEN w IS NULL THEN %s::jsonb ELSE jsonb_build_array(w) END FROM assigned)",
        "last_attempted_at": "(SELECT CASE WHEN w IS NULL THEN %s::timestamptz ELSE statement_timestamp() END FROM assigned)",
        "heartbeat_at": "(SELECT CASE WHEN w IS NULL THEN %s::timestamptz ELSE statement_timestamp() END FROM assigned)",
    }
    return [when.get(column, "%s") for column in columns]


def assigned_note(alias: str) -> str:
    """SQL that ends the note of a new job given to a worker: that worker's id (no job data: anyone may listen)."""
    worker = quote(alias, "worker_id")
    return f" || CASE WHEN {worker} = '' THEN '' ELSE ' ' || {worker} END"


def assigned_to(job: Job, worker_id: str) -> None:
    """Set on the new ``job`` what its INSERT wrote when it was given to ``worker_id``."""
    job.status = JobStatus.RUNNING
    job.attempts = 1
    job.worker_id = worker_id
    job.worker_ids = [worker_id]
    job.last_attempted_at = job.heartbeat_at = job.enqueued_at


# Writes of offers and marks need not wait for the disk: a crash of PostgreSQL that loses
# them loses offers (none taken), or the mark of a job that then looks unpicked.
_UNFLUSHED = "(SELECT set_config('synchronous_commit', 'off', true)) AS unflushed"


def offer(alias: str, worker_id: str, queues: Iterable[str], count: int, ttl: float) -> None:
    """Replace the offers of ``worker_id`` by ``count`` free slots for each of ``queues``, for ``ttl`` seconds."""
    slots = quote(alias, WorkerSlot._meta.db_table)
    with bound_cursor(alias) as cursor:
        cursor.execute(
            f"WITH gone AS (DELETE FROM {slots} WHERE worker_id = %s) "
            f"INSERT INTO {slots} (worker_id, queue_name, expires_at) "
            "SELECT %s, queue, now() + %s * interval '1 second' "
            f"FROM unnest(%s::text[]) AS queue, generate_series(1, %s::integer), {_UNFLUSHED}",
            [worker_id, worker_id, ttl, list(queues), count],
        )


def renew(alias: str, worker_id: str, ttl: float) -> None:
    """Extend the offers of ``worker_id``; drop every expired offer."""
    slots = quote(alias, WorkerSlot._meta.db_table)
    with bound_cursor(alias) as cursor:
        cursor.execute(
            f"WITH expired AS (DELETE FROM {slots} WHERE expires_at <= now()) "
            f"UPDATE {slots} SET expires_at = now() + %s * interval '1 second' FROM {_UNFLUSHED} "
            "WHERE worker_id = %s",
            [ttl, worker_id],
        )


def pick_up(alias: str, worker_id: str, job_ids: Sequence[uuid.UUID]) -> list[Job]:
    """The jobs of ``job_ids`` given to ``worker_id`` and not picked up yet, read and marked started in one statement.

    An id that names no such job (a note anyone could have sent) returns nothing.
    """
    connection = connections[alias]
    ids = [Job._meta.pk.get_db_prep_value(job_id, connection) for job_id in job_ids]
    return fetch_jobs(alias, _pick_up_sql(alias), [ids, worker_id, JobStatus.RUNNING.value])


@cache
def _pick_up_sql(alias: str) -> str:
    q = quote
    jobs, started, status = table(alias), q(alias, "started_at"), q(alias, "status")
    return (
        f"UPDATE {jobs} SET {started} = statement_timestamp(), {q(alias, 'heartbeat_at')} = statement_timestamp() "
        f"FROM {_UNFLUSHED} "
        f"WHERE {q(alias, 'id')} = ANY(%s) AND {q(alias, 'worker_id')} = %s AND ({status} = %s) IS TRUE "
        f"AND {started} IS NULL RETURNING {columns(alias)}"
    )


def unpicked(alias: str, worker_id: str, older_than: float = 0.0) -> list[uuid.UUID]:
    """Jobs given to ``worker_id`` at least ``older_than`` seconds ago that it never picked up."""
    jobs = Job.objects.using(alias).filter(worker_id=worker_id, status=JobStatus.RUNNING, started_at__isnull=True)
    if older_than:
        jobs = jobs.filter(last_attempted_at__lte=db_now_plus(-older_than))
    return list(jobs.values_list("pk", flat=True))


class SlotOffers:
    """The free slots one worker offers (``offer()``), as its feed last wrote them.

    The feed calls ``sync(free)`` when it found nothing to do, and ``busy()`` when it took
    jobs from messages or claims; only a change is written.
    """

    def __init__(self, alias: str, worker_id: str, queues: Iterable[str], ttl: float) -> None:
        self.alias = alias
        self.worker_id = worker_id
        self.queues = list(queues)
        self.ttl = ttl
        self.offered = 0
        self.idle = False
        """Whether the feed found nothing to do when it last looked: a freed slot is offered at once."""
        self._lock = threading.Lock()

    def sync(self, free: int) -> None:
        self.idle = True
        self._write(free)

    def busy(self) -> None:
        self.idle = False
        self._write(0)

    def taken(self, count: int, free: int) -> None:
        """``count`` offers were taken by new jobs, which left ``free`` slots without a job.

        With several queues, a taken slot is still offered for the others: the offers are
        written again at once, from the thread that took the jobs, while the feed is idle.
        """
        with self._lock:
            if len(self.queues) == 1:
                self.offered = max(self.offered - count, 0)
                return
            self.offered = -1
            idle = self.idle
        if idle:
            self._write(free)

    def renew(self) -> None:
        with self._lock:
            if self.offered:
                renew(self.alias, self.worker_id, self.ttl)

    def _write(self, count: int) -> None:
        with self._lock:
            if count == self.offered:
                return
            try:
                offer(self.alias, self.worker_id, self.queues, count, self.ttl)
            except DatabaseError:
                logger.warning("Could not offer %d free slot(s) to new jobs", count, exc_info=True)
                return
            self.offered = count


def note_job_ids(job_id: str) -> list[uuid.UUID]:
    """The job id of a note, as a list of none (not a UUID) or one."""
    try:
        return [uuid.UUID(job_id)]
    except ValueError:
        return []
