"""Nothing stays RUNNING forever: jobs of silent workers are retried or failed."""

from __future__ import annotations

import logging

from django.db import connections, router, transaction
from django.db.models.functions import Now

from jobs_ui.conf import get_config
from jobs_ui.db import statements
from jobs_ui.exceptions import WorkerLost
from jobs_ui.jobs.finish import fail, hand_back
from jobs_ui.models import Job, JobStatus, Worker, WorkerState, db_now_plus

logger = logging.getLogger(__name__)

_LOST_CLASS = f"{WorkerLost.__module__}.{WorkerLost.__qualname__}"


def recover_lost_jobs(timeout: float | None = None) -> int:
    """Mark silent workers LOST and recover their jobs; returns how many jobs were recovered.

    Judged by the database's clock, so clocks of worker machines do not matter.
    """
    if timeout is None:
        timeout = get_config()["HEARTBEAT_TIMEOUT"]
    cutoff = db_now_plus(-timeout)
    Worker.objects.filter(state__in=[WorkerState.ONLINE, WorkerState.STOPPING], heartbeat_at__lt=cutoff).update(
        state=WorkerState.LOST, stopped_at=Now()
    )
    recovered = 0
    for job in Job.objects.running().filter(heartbeat_at__lt=cutoff):
        if _recover(job):
            recovered += 1
    return recovered


def _recover(job: Job) -> bool:
    alias = router.db_for_write(Job)
    if not connections[alias].features.has_select_for_update_skip_locked:
        return _fail_lost(job)
    # A row another session keeps locked (a worker frozen inside a transaction) is
    # skipped until a later pass, not waited for: waiting would stop this worker's
    # heartbeat too, and then the jobs it runs would look lost. A frozen session takes
    # no new lock, so the row is still free a moment later, outside this transaction
    # (the READY job is dispatched only once its row is committed).
    with transaction.atomic(using=alias):
        candidate = Job.objects.attempt(job)
        if not list(candidate.select_for_update(skip_locked=True).values_list("pk", flat=True)):
            return False
    return _fail_lost(job)


def _fail_lost(job: Job) -> bool:
    if job.started_at is None:
        # Given to a worker by its launch (jobs_ui.db.assignment) and never picked up: the
        # job never began, so it goes back as READY without using up an attempt.
        logger.warning("Job %s was given to worker %s, which never picked it up; handed back", job.pk, job.worker_id)
        return hand_back(job)
    logger.warning("Job %s lost its worker %s", job.pk, job.worker_id)
    return fail(job, error_class=_LOST_CLASS, message="Worker lost: it stopped responding while running this job.")


def still_held(job: Job, worker_id: str) -> bool:
    """Renew the lease of this attempt of ``job`` if ``worker_id`` still holds it; whether it does."""
    held = Job.objects.attempt(job).filter(worker_id=worker_id)
    return bool(held.update(heartbeat_at=Now()))


def renew_leases(worker_id: str) -> int:
    """Extend the lease of every job ``worker_id`` runs, by the database's clock; how many.

    A row whose final write is being committed right now may be skipped, not waited for.
    """
    # On PostgreSQL it is one statement, a transaction of its own, so a worker frozen while
    # renewing holds no lock afterwards. Where the database has SKIP LOCKED, waiting for a
    # row whose final write is being committed could deadlock with a batch of final writes
    # that locked the same rows in another order (jobs_ui.worker.batching).
    alias = router.db_for_write(Job)
    if connections[alias].vendor == "postgresql":
        return statements.renew_leases(alias, worker_id)
    running = Job.objects.filter(worker_id=worker_id, status=JobStatus.RUNNING)
    if not connections[alias].features.has_select_for_update_skip_locked:
        return running.update(heartbeat_at=Now())
    with transaction.atomic(using=alias):
        unlocked = running.select_for_update(skip_locked=True).values("pk")
        return Job.objects.filter(pk__in=unlocked).update(heartbeat_at=Now())
