"""A worker whose loop fails hands its running jobs back and says it crashed (run in a thread, in-process)."""

from __future__ import annotations

import threading
import time

import pytest

from jobs_ui.jobs.claim import claim_due
from jobs_ui.models import Job, JobStatus, Worker, WorkerState
from jobs_ui.worker.loop import Worker as WorkerLoop
from jobs_ui.worker.options import WorkerOptions
from tests import tasks
from tests.waiting import wait_for_status, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_crashed_worker_hands_back_its_jobs(in_process, monkeypatch):
    result = tasks.wait_for_gate.enqueue("crash")

    def feed_then_fail(worker, until=None):
        for job in claim_due(executor="worker", worker_id=worker.id, limit=1):
            worker.submit(job)
        wait_until(lambda: Job.objects.filter(pk=result.id, extra__waiting=True).exists(), what="the job to run")
        raise RuntimeError("the feed broke")

    monkeypatch.setattr("jobs_ui.worker.loop.feed_from_database", feed_then_fail)
    worker = WorkerLoop(WorkerOptions(concurrency=1))
    codes = []
    thread = threading.Thread(target=lambda: codes.append(worker.run()))
    thread.start()
    thread.join(30)
    assert codes == [1]
    assert Worker.objects.get(pk=worker.id).state == WorkerState.CRASHED
    job = Job.objects.get(pk=result.id)
    assert (job.status, job.attempts, job.max_attempts) == (JobStatus.READY, 1, 2)
    # The interrupted attempt ends later; none of its writes lands.
    tasks.gate("crash").set()
    wait_until(lambda: not any(t.name.startswith("jobs_ui-job") and t.is_alive() for t in threading.enumerate()))
    assert Job.objects.get(pk=result.id).status == JobStatus.READY


def test_stop_from_another_thread_is_graceful(in_process):
    result = tasks.wait_for_gate.enqueue("stop")
    worker = WorkerLoop(WorkerOptions(concurrency=1))
    codes = []
    thread = threading.Thread(target=lambda: codes.append(worker.run()))
    thread.start()
    wait_until(lambda: Job.objects.filter(pk=result.id, status=JobStatus.RUNNING).exists(), what="the job to run")
    worker.stop()
    wait_until(lambda: Worker.objects.filter(pk=worker.id, state=WorkerState.STOPPING).exists(), what="stopping")
    tasks.gate("stop").set()
    thread.join(30)
    assert codes == [0]
    assert Job.objects.get(pk=result.id).status == JobStatus.SUCCESSFUL
    assert Worker.objects.get(pk=worker.id).jobs_succeeded == 1


def test_a_claim_taken_over_while_the_worker_stood_still_does_not_start(in_process):
    from datetime import timedelta

    from django.utils import timezone

    from jobs_ui.jobs.recover import recover_lost_jobs

    lost, kept = tasks.echo.enqueue("lost"), tasks.echo.enqueue("kept")
    worker = WorkerLoop(WorkerOptions(concurrency=2))
    claimed = {str(job.pk): job for job in claim_due(executor="worker", worker_id=worker.id, limit=2)}
    # Both claims are old by the time the worker gets to start them (it was frozen);
    # meanwhile, another worker's reaper found one of the leases expired.
    Job.objects.filter(pk=lost.id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert recover_lost_jobs() == 1
    long_ago = time.monotonic() - 3600
    assert not worker.submit(claimed[str(lost.id)], long_ago)
    assert worker.pool.idle
    assert worker.taken == 0
    row = Job.objects.get(pk=lost.id)
    assert (row.status, row.attempts) == (JobStatus.FAILED, 1)
    assert row.error_message.startswith("Worker lost")
    # The lease still held is renewed, and its job starts.
    before = Job.objects.get(pk=kept.id).heartbeat_at
    assert before is not None
    worker.pool.start()
    try:
        assert worker.submit(claimed[str(kept.id)], long_ago)
        renewed = Job.objects.get(pk=kept.id).heartbeat_at
        assert renewed is not None
        assert renewed > before
        job = wait_for_status(kept.id, JobStatus.SUCCESSFUL)
    finally:
        worker.pool.close()
    assert job.result == "kept"
