"""The database feed (no broker): a worker claims when a job is notified or its poll is due, not after every job."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from jobs_ui.jobs.claim import claim_due as real_claim_due
from jobs_ui.models import JobStatus
from jobs_ui.worker import database_feed
from jobs_ui.worker.loop import Worker as WorkerLoop
from jobs_ui.worker.options import WorkerOptions
from tests import tasks
from tests.waiting import wait_for_status, wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="Only PostgreSQL notifies workers of new jobs"),
]


@pytest.fixture
def claims(in_process, monkeypatch, settings):
    """Runs a worker in a thread of this process; yields it and how many jobs each of its claims found."""
    settings.JOBS_UI = {**settings.JOBS_UI, "AMQP_URL": None, "WORKER_IDLE_POLL": 600.0}
    found: list[int] = []

    def counted(**kwargs):
        jobs = real_claim_due(**kwargs)
        found.append(len(jobs))
        return jobs

    monkeypatch.setattr(database_feed, "claim_due", counted)
    # A worker that excludes a task offers no free slots to new jobs (the INSERT that takes
    # one does not look at the task; jobs_ui.db.assignment): every job reaches it by a claim.
    worker = WorkerLoop(WorkerOptions(concurrency=2, exclude_tasks=("tests.tasks.add",)))
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_until(lambda: found, what="the worker's first claim")
        yield worker, found
    finally:
        worker.stop()
        thread.join(30)
    assert not thread.is_alive()


def test_each_notified_job_costs_one_claim_and_a_finished_job_none(claims):
    worker, found = claims
    before = len(found)
    for i in range(5):
        result = tasks.echo.enqueue(f"job {i}")
        wait_for_status(result.id, JobStatus.SUCCESSFUL)
        wait_until(lambda: worker.pool.idle, what="the slot to free")
    after = found[before:]
    assert sorted(after, reverse=True)[:5] == [1] * 5
    # A slot freed after a claim that came back short claims nothing (the poll is 10
    # minutes away here); it used to claim once more after every job, finding nothing.
    # At most one empty claim: the listener's first wake-up may come after `before`.
    assert after.count(0) <= 1


def test_a_full_claim_claims_again_as_slots_free(claims):
    worker, found = claims
    # One transaction: PostgreSQL delivers its notifications as one, so a single claim
    # takes a full window and the freed slots must take the rest, with no poll due.
    with transaction.atomic():
        ids = [tasks.echo.enqueue(f"batch {i}").id for i in range(3 * worker.pool.window)]
    for job_id in ids:
        wait_for_status(job_id, JobStatus.SUCCESSFUL)
    assert sum(found) == len(ids)
