"""Outcomes written in batches, events sent in batches, and leases renewed next to them."""

from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, connection, transaction

from jobs_ui import events
from jobs_ui.db import final_writes
from jobs_ui.db.sql import jobs_alias
from jobs_ui.events import JobEvent
from jobs_ui.jobs.finish import announce_outcomes, finish, write_outcomes
from jobs_ui.jobs.recover import renew_leases
from jobs_ui.models import Job, JobStatus, Worker
from jobs_ui.worker import batching
from tests.helpers import claimed
from tests.locking import row_locked_elsewhere
from tests.waiting import wait_for_status

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def started():
    """Start the writer and sender as a worker process does; stop them after the test."""
    woken = threading.Event()
    batching.start(write_outcomes, announce_outcomes, woken.set, backlog=0)
    yield woken
    batching.stop()


def test_finish_hands_the_write_to_the_writer_which_commits_it(started):
    jobs = claimed(3)
    seen: list[JobEvent] = []
    unsubscribe = events.subscribe(seen.append)
    try:
        for job in jobs:
            assert finish(job, JobStatus.SUCCESSFUL, result=job.pk.hex) is True
        batching.stop()  # writes what is waiting
    finally:
        unsubscribe()
    rows = {job.pk: job for job in Job.objects.all()}
    assert {row.status for row in rows.values()} == {JobStatus.SUCCESSFUL}
    assert all(row.result == pk.hex and row.finished_at is not None for pk, row in rows.items())
    assert sorted(e.job_id for e in seen if e.kind == "finished") == sorted(str(job.pk) for job in jobs)
    assert all(job.finished_at is not None for job in jobs)  # the instances got what was written


def test_an_attempt_that_lost_its_job_is_dropped_and_the_others_are_written(started):
    lost, kept = claimed(2)
    Job.objects.filter(pk=lost.pk).update(attempts=2)  # another attempt took over
    finish(lost, JobStatus.SUCCESSFUL)
    finish(kept, JobStatus.FAILED, error_message="no")
    batching.stop()
    assert Job.objects.get(pk=lost.pk).status == JobStatus.RUNNING
    assert Job.objects.values_list("status", "error_message").get(pk=kept.pk) == (JobStatus.FAILED, "no")


def test_the_writer_wakes_the_worker_once_a_backlog_is_written(started):
    (job,) = claimed(1)
    finish(job, JobStatus.SUCCESSFUL)
    assert started.wait(10)


def test_outside_a_worker_process_finish_writes_at_once():
    (job,) = claimed(1)
    assert batching.writer() is None
    assert finish(job, JobStatus.SUCCESSFUL) is True
    assert Job.objects.get(pk=job.pk).status == JobStatus.SUCCESSFUL
    job.attempts += 1
    assert finish(job, JobStatus.SUCCESSFUL) is False


def test_of_the_events_of_one_job_gathered_together_only_the_last_is_sent():
    def event(job_id: str, kind: str) -> JobEvent:
        return JobEvent(job_id=job_id, kind=kind, status="RUNNING")

    batch = [event("a", "started"), event("b", "started"), event("a", "progress"), event("c", "started")]
    batch.append(event("a", "finished"))
    assert [(e.job_id, e.kind) for e in batching.superseded_dropped(batch)] == [
        ("b", "started"),
        ("c", "started"),
        ("a", "finished"),
    ]


def test_renewing_leases_skips_a_row_being_written_instead_of_waiting():
    if not connection.features.has_select_for_update_skip_locked:
        pytest.skip("Only databases with row locks (SKIP LOCKED) can have a row locked by another writer")
    Worker.objects.create(id="w", host="h", pid=1)
    busy, free = claimed(2)
    Job.objects.update(heartbeat_at=None)
    with row_locked_elsewhere(busy.pk):
        assert renew_leases("w") == 1
    assert Job.objects.get(pk=free.pk).heartbeat_at is not None
    assert Job.objects.get(pk=busy.pk).heartbeat_at is None
    assert renew_leases("w") == 2


def test_a_database_error_in_a_batch_is_djangos_and_writes_nothing():
    jobs = claimed(2)
    bad = {"status": None}  # the column is NOT NULL
    good = {"status": JobStatus.SUCCESSFUL}
    with pytest.raises(DatabaseError), transaction.atomic():
        final_writes.finish_attempts(jobs_alias(), [(jobs[0], good), (jobs[1], bad)])
    assert set(Job.objects.values_list("status", flat=True)) == {JobStatus.RUNNING}


def test_the_writer_keeps_an_outcome_until_the_database_takes_it(started, caplog):
    if connection.vendor != "postgresql":
        pytest.skip("Needs another session's connection to be cut, which SQLite does not have")
    first, second = claimed(2)
    finish(first, JobStatus.SUCCESSFUL)
    wait_for_status(first.pk, JobStatus.SUCCESSFUL)  # the writer's connection is open now
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finish(second, JobStatus.SUCCESSFUL)
    wait_for_status(second.pk, JobStatus.SUCCESSFUL)
    assert "Could not write 1 job outcome(s); trying again" in caplog.text
