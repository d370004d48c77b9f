"""A worker's jobs from the database: due READY rows claimed while its pool has room, woken by new jobs."""

from __future__ import annotations

import logging
import threading
import time

from django.db import DatabaseError

from jobs_ui.conf import get_config
from jobs_ui.db import wakeups
from jobs_ui.jobs.claim import claim_due
from jobs_ui.worker.feed import BROKER_POLL, DATABASE_BACKOFF, Fed, keep_offers

logger = logging.getLogger(__name__)


def feed_from_database(worker: Fed, until: float | None = None) -> bool:
    """Claim due READY rows while the pool has room; poll every ``WORKER_IDLE_POLL`` only while idle.

    On PostgreSQL and SQLite a job committed meanwhile ends the idle wait at once (``jobs_ui.db.wakeups``).
    Returns True once the worker takes no more jobs, False when ``until`` (a
    ``time.monotonic()`` value) has passed.
    """
    look = threading.Event()
    look.set()

    def notified() -> None:
        look.set()
        worker.wakeup.set()

    with wakeups.listening(worker.queues, notified, assigned=worker.assigned()) as listener:
        try:
            return _claim_from_database(worker, until, look, listener)
        finally:
            # While the listener still hears what was given to this worker meanwhile.
            if worker.offers is not None:
                worker.offers.busy()


def _claim_from_database(
    worker: Fed, until: float | None, look: threading.Event, listener: wakeups.ReadyListener | None
) -> bool:
    """The claim loop of ``feed_from_database()``; ``look`` is set while a claim may find something.

    A notification of a READY job sets it, and so does a claim that found as many jobs as
    it asked for.
    """
    # Optimization: once a claim found fewer, a freed slot alone does not claim again
    # until WORKER_IDLE_POLL has passed: every job that becomes READY sends a
    # notification, and the poll finds the rest (a retry once its delay has passed). A
    # claim after each job cost a query that found nothing, at the moment the job's
    # final write was sent.
    idle_poll = get_config()["WORKER_IDLE_POLL"]
    last_claim = 0.0
    while worker.taking():
        worker.wakeup.clear()
        found = False
        if look.is_set() or time.monotonic() - last_claim >= idle_poll:
            # Cleared first: a notification during the claim makes the next pass look again.
            look.clear()
            last_claim = time.monotonic()
            try:
                found, more = _claim_while_room(worker)
            except DatabaseError:
                logger.exception("Could not claim a job")
                look.set()
                worker.wakeup.wait(DATABASE_BACKOFF)
                continue
            if more:
                look.set()
        keep_offers(worker, listener, took=found, idle=not found and not look.is_set())
        if not found and worker.has_finished():
            return True
        if until is not None and time.monotonic() >= until:
            return False
        # Full: wait for a slot (no polling). Idle: poll again soon.
        worker.wakeup.wait(idle_poll if worker.capacity() > 0 else BROKER_POLL)
    return True


def _claim_while_room(worker: Fed) -> tuple[bool, bool]:
    """Claim and start jobs while the pool has room: ``(any claimed, more may be waiting)``.

    More may be waiting unless the last claim found fewer jobs than it asked for.
    """
    found = False
    while (capacity := worker.capacity()) > 0:
        jobs = claim_due(
            executor="worker",
            worker_id=worker.id,
            queues=worker.queues,
            exclude_tasks=worker.exclude_tasks,
            limit=capacity,
        )
        claimed_at = time.monotonic()
        for job in jobs:
            worker.submit(job, claimed_at)
        found = found or bool(jobs)
        if len(jobs) < capacity:
            return found, False
    return found, True
