"""PostgreSQL: a new worker job is given to an idle worker in its own INSERT (jobs_ui.assignment)."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from jobs_ui import assignment, statements, wakeups
from jobs_ui.models import Job, JobStatus, Worker, WorkerSlot, WorkerState
from jobs_ui.options import WorkerOptions
from jobs_ui.recovery import recover_lost_jobs
from jobs_ui.worker import Worker as WorkerLoop
from tests import tasks
from tests.waiting import wait_for_status, wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="Only PostgreSQL gives jobs to idle workers"),
]


@pytest.fixture
def worker_jobs(settings):
    settings.JOBS_UI = {**settings.JOBS_UI, "EXECUTOR": "worker"}


def offer(worker_id: str = "worker-a", queues: tuple[str, ...] = ("default",), count: int = 1, ttl: float = 60) -> None:
    assignment.offer(statements.using(), worker_id, queues, count, ttl)


def note_of(launch: Callable[[], object]) -> str:
    """The payload of the note that ``launch()`` sends on commit."""
    listener = connections.create_connection("default")
    try:
        listener.ensure_connection()
        raw = listener.connection
        raw.autocommit = True
        raw.execute(f"LISTEN {wakeups.CHANNEL}")
        launch()
        [note] = list(raw.notifies(timeout=5, stop_after=1))
        return str(note.payload)
    finally:
        listener.close()


class TestAssignedInsert:
    def test_a_new_job_takes_a_free_slot_and_is_that_workers(self, worker_jobs):
        offer(count=1)
        result = tasks.echo.enqueue("given")
        job = Job.objects.get(pk=result.id)
        assert (job.status, job.attempts, job.worker_id, job.worker_ids) == (
            JobStatus.RUNNING,
            1,
            "worker-a",
            ["worker-a"],
        )
        assert job.started_at is None  # the worker marks it when it has it
        assert job.heartbeat_at is not None
        assert not WorkerSlot.objects.exists()
        # The slot was taken: the next job waits as READY.
        second = Job.objects.get(pk=tasks.echo.enqueue("waits").id)
        assert (second.status, second.worker_id, second.attempts) == (JobStatus.READY, "", 0)

    def test_each_slot_is_given_once(self, worker_jobs):
        offer("worker-a", count=2)
        offer("worker-b", count=1)
        owners = [Job.objects.get(pk=tasks.echo.enqueue(i).id).worker_id for i in range(4)]
        assert sorted(owners) == ["", "worker-a", "worker-a", "worker-b"]

    def test_slots_of_other_queues_and_expired_slots_are_not_taken(self, worker_jobs):
        offer("worker-a", queues=("other",))
        WorkerSlot.objects.create(
            worker_id="worker-b", queue_name="default", expires_at=timezone.now() - timedelta(seconds=1)
        )
        job = Job.objects.get(pk=tasks.echo.enqueue("nobody").id)
        assert job.status == JobStatus.READY
        assert WorkerSlot.objects.count() == 2

    def test_a_delayed_job_waits_in_its_queue(self, worker_jobs):
        offer()
        job = Job.objects.get(pk=tasks.echo.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(1).id)
        assert job.status == JobStatus.READY
        assert WorkerSlot.objects.count() == 1

    def test_turned_off_no_slot_is_taken(self, worker_jobs, settings):
        settings.JOBS_UI = {**settings.JOBS_UI, "ASSIGN_IDLE_WORKERS": False}
        offer()
        assert Job.objects.get(pk=tasks.echo.enqueue(1).id).status == JobStatus.READY
        assert WorkerSlot.objects.count() == 1

    def test_a_thread_job_is_never_given_to_a_worker(self, settings):
        settings.JOBS_UI = {**settings.JOBS_UI, "THREAD_AUTOSTART": False}
        offer()
        job = Job.objects.get(pk=tasks.echo.enqueue(1).id)
        assert job.worker_id == ""
        assert WorkerSlot.objects.count() == 1

    def test_the_note_names_the_worker_and_carries_the_row(self, worker_jobs):
        offer()
        launched = []
        payload = note_of(lambda: launched.append(tasks.echo.enqueue({"nested": [1, "two"]})))
        queue_name, job_id, worker_id, row = payload.split(" ", 3)
        assert (queue_name, job_id, worker_id) == ("default", str(launched[0].id), "worker-a")
        from_note = assignment.job_from_note("default", row)
        stored = Job.objects.get(pk=launched[0].id)
        for field in Job._meta.concrete_fields:
            assert getattr(from_note, field.attname) == getattr(stored, field.attname), field.name

    def test_a_row_too_long_for_the_note_is_left_out(self, worker_jobs):
        offer()
        payload = note_of(lambda: tasks.echo.enqueue("x" * (assignment.NOTE_ROW_LIMIT + 1)))
        queue_name, job_id, worker_id = payload.split(" ")
        assert worker_id == "worker-a"

    def test_an_unreadable_note_row_is_an_error(self):
        with pytest.raises(ValueError, match="Expecting value"):
            assignment.job_from_note("default", "not json")
        with pytest.raises(ValueError, match="Not a job row"):
            assignment.job_from_note("default", json.dumps({"id": "1"}))


class TestRecovery:
    def test_a_job_its_worker_never_picked_up_goes_back_without_using_an_attempt(self, worker_jobs):
        offer("worker-gone")
        job_id = tasks.echo.enqueue("again").id
        assert recover_lost_jobs(timeout=0) == 1
        job = Job.objects.get(pk=job_id)
        assert (job.status, job.attempts, job.max_attempts, job.worker_id) == (JobStatus.READY, 1, 2, "")
        assert job.error_class == ""

    def test_a_job_its_worker_picked_up_is_lost_with_it(self, worker_jobs):
        offer("worker-gone")
        job_id = tasks.echo.enqueue("lost").id
        assignment.mark_started(statements.using(), "worker-gone", Job.objects.get(pk=job_id).pk)
        assert recover_lost_jobs(timeout=0) == 1
        job = Job.objects.get(pk=job_id)
        assert job.status == JobStatus.FAILED
        assert "Worker lost" in job.error_message


class TestWorkerLoop:
    def test_a_worker_without_a_free_slot_hands_the_job_back(self, worker_jobs, in_process):
        worker = WorkerLoop(WorkerOptions(concurrency=1))
        worker.stop()  # takes no more jobs: no free slot
        offer(worker.id)
        job_id = tasks.echo.enqueue("bounced").id
        assert worker.take_assigned(str(job_id)) is False
        job = Job.objects.get(pk=job_id)
        assert (job.status, job.attempts, job.max_attempts) == (JobStatus.READY, 1, 2)
        # A job is started or handed back once, however often it is named.
        assert worker.take_assigned(str(job_id)) is False
        assert worker.pick_up([job.pk]) == 0


def _worker_row():
    return Worker.objects.filter(state=WorkerState.ONLINE).first()


def _given_without_note(worker_id: str, value: str, age: float = 0) -> Job:
    """What an INSERT that took a slot of ``worker_id`` writes, given ``age`` seconds ago; no note is sent."""
    now = timezone.now()
    return Job.objects.create(
        task_path="tests.tasks.echo",
        executor="worker",
        args=[value],
        status=JobStatus.RUNNING,
        attempts=1,
        worker_id=worker_id,
        worker_ids=[worker_id],
        heartbeat_at=now,
        last_attempted_at=now - timedelta(seconds=age),
    )


def _offered(worker_id: str) -> int:
    # A slot is offered for each queue the worker serves.
    return WorkerSlot.objects.filter(worker_id=worker_id, queue_name="default").count()


def test_an_idle_worker_offers_its_slots_and_runs_the_jobs_given_to_it(start_worker, worker_mode):
    worker = start_worker("--concurrency", "2")
    row = wait_until(_worker_row, what="the worker to start")
    wait_until(lambda: _offered(row.id) == 2, what="two offered slots")
    for i in range(3):
        result = tasks.echo.enqueue(i)
        given = Job.objects.get(pk=result.id)
        assert given.worker_id == row.id  # given in its INSERT
        job = wait_for_status(result.id, JobStatus.SUCCESSFUL)
        assert (job.attempts, job.result, job.dispatched_at) == (1, i, None)
        # Marked started by the worker once the job began: a short job may finish first.
        marked = Job.objects.filter(pk=result.id, started_at__isnull=False)
        wait_until(marked.exists, what="the mark")
        # The freed slot is offered again.
        wait_until(lambda: _offered(row.id) == 2, what="the slot offered again")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert not WorkerSlot.objects.exists()


def test_a_worker_picks_up_a_job_whose_note_it_missed(start_worker):
    worker = start_worker("--concurrency", "1", "--heartbeat", "0.2")
    row = wait_until(_worker_row, what="the worker to start")
    wait_until(lambda: _offered(row.id), what="an offered slot")
    job = _given_without_note(row.id, "missed", age=5)
    done = wait_for_status(job.pk, JobStatus.SUCCESSFUL)
    assert (done.result, done.attempts) == ("missed", 1)
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0


def test_a_worker_offers_no_slot_it_does_not_have(start_worker):
    worker = start_worker("--concurrency", "1")
    row = wait_until(_worker_row, what="the worker to start")
    wait_until(lambda: _offered(row.id), what="an offered slot")
    first = tasks.wait_for_gate.enqueue("never")  # given to the worker, runs until it is stopped
    assert Job.objects.get(pk=first.id).worker_id == row.id
    wait_until(lambda: Job.objects.filter(pk=first.id, started_at__isnull=False).exists(), what="the job to start")
    # The slot it took for the other queue is withdrawn too.
    wait_until(lambda: not WorkerSlot.objects.filter(worker_id=row.id).exists(), what="no more offers")
    second = Job.objects.get(pk=tasks.echo.enqueue("queued").id)
    assert second.status == JobStatus.READY
    assert not _offered(row.id)
    worker.signal(signal.SIGTERM)
    worker.signal(signal.SIGTERM)
    worker.wait()


def test_a_stopping_worker_hands_back_what_was_given_to_it_and_never_reached_it(start_worker):
    # A heartbeat too rare to pick the job up first.
    worker = start_worker("--concurrency", "1", "--heartbeat", "30")
    row = wait_until(_worker_row, what="the worker to start")
    wait_until(lambda: _offered(row.id), what="an offered slot")
    job = _given_without_note(row.id, "later")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    job.refresh_from_db()
    assert (job.status, job.attempts, job.max_attempts, job.worker_id) == (JobStatus.READY, 1, 2, "")
    assert not WorkerSlot.objects.exists()
