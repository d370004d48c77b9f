"""Running a job in the calling thread, to its end, retries included: the ``immediate`` executor and ``jobs_ui.testing``."""

from __future__ import annotations

import os
import threading

from jobs_ui.context import writes_in_callers_transaction
from jobs_ui.jobs.claim import claim_wanted
from jobs_ui.jobs.run import run_claimed
from jobs_ui.models import Job, JobStatus


def inline_worker_id() -> str:
    """What an inline run writes as the job's worker (there is no ``Worker`` row: this is no worker)."""
    return f"inline-{os.getpid()}"


_running = threading.local()


def running_inline(job: Job) -> bool:
    """Whether this thread is running ``job`` inline now (a retry of it is run by the same loop)."""
    return job.pk in getattr(_running, "jobs", set())


def run_inline(job: Job) -> Job:
    """Run ``job`` here until it is finished, each retry at once (its delay skipped); returns it refreshed.

    Inside the caller's transaction, if any: the job's row and its writes commit or roll back with it.
    """
    while True:
        Job.objects.filter(pk=job.pk, status=JobStatus.READY).update(run_after=None)
        claimed = claim_wanted(inline_worker_id(), [(job.pk, None, None)])
        if not claimed:
            break
        running = _running.__dict__.setdefault("jobs", set())
        running.add(job.pk)
        try:
            with writes_in_callers_transaction():
                run_claimed(claimed[0])
        finally:
            running.discard(job.pk)
    job.refresh_from_db()
    return job
