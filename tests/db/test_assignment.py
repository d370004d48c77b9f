"""PostgreSQL: a new worker job is given to an idle worker in its own INSERT (jobs_ui.db.assignment)."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.db import connection, connections, transaction
from django.test import RequestFactory
from django.utils import timezone

from jobs_ui import launch
from jobs_ui.db import assignment, wakeups
from jobs_ui.db.sql import jobs_alias
from jobs_ui.jobs.recover import recover_lost_jobs
from jobs_ui.models import Job, JobStatus, Worker, WorkerSlot, WorkerState
from jobs_ui.worker.loop import Worker as WorkerLoop
from jobs_ui.worker.options import WorkerOptions
from tests import tasks
from tests.waiting import wait_for_status, wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="Only PostgreSQL gives jobs to idle workers"),
]


def offer(worker_id: str = "worker-a", queues: tuple[str, ...] = ("default",), count: int = 1, ttl: float = 60) -> None:
    assignment.offer(jobs_alias(), worker_id, queues, count, ttl)


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
    def test_a_new_job_takes_a_free_slot_and_is_that_workers(self, on_workers):
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

    def test_each_slot_is_given_once(self, on_workers):
        offer("worker-a", count=2)
        offer("worker-b", count=1)
        owners = [Job.objects.get(pk=tasks.echo.enqueue(i).id).worker_id for i in range(4)]
        assert sorted(owners) == ["", "worker-a", "worker-a", "worker-b"]

    def test_slots_of_other_queues_and_expired_slots_are_not_taken(self, on_workers):
        offer("worker-a", queues=("other",))
        WorkerSlot.objects.create(
            worker_id="worker-b", queue_name="default", expires_at=timezone.now() - timedelta(seconds=1)
        )
        job = Job.objects.get(pk=tasks.echo.enqueue("nobody").id)
        assert job.status == JobStatus.READY
        assert WorkerSlot.objects.count() == 2

    def test_a_delayed_job_waits_in_its_queue(self, on_workers):
        offer()
        job = Job.objects.get(pk=tasks.echo.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(1).id)
        assert job.status == JobStatus.READY
        assert WorkerSlot.objects.count() == 1

    def test_a_thread_job_is_never_given_to_a_worker(self, settings):
        settings.JOBS_UI = {**settings.JOBS_UI, "THREAD_AUTOSTART": False}
        offer()
        job = Job.objects.get(pk=tasks.echo.enqueue(1).id)
        # Not the offering worker's (this process's thread pool may have claimed it already).
        assert job.worker_id != "worker-a"
        assert WorkerSlot.objects.count() == 1

    def test_the_note_names_the_job_and_the_worker_only(self, on_workers):
        offer()
        launched = []
        payload = note_of(lambda: launched.append(tasks.echo.enqueue({"nested": [1, "two"]})))
        assert payload == f"default {launched[0].id} worker-a"

    def test_the_pick_up_reads_and_marks_only_a_job_given_to_that_worker(self, on_workers):
        offer("worker-a")
        given = Job.objects.get(pk=tasks.echo.enqueue("given").id)
        ready = Job.objects.get(pk=tasks.echo.enqueue("ready").id)
        alias = jobs_alias()
        assert assignment.pick_up(alias, "worker-b", [given.pk]) == []
        assert assignment.pick_up(alias, "worker-a", [ready.pk, uuid.uuid4()]) == []
        [picked] = assignment.pick_up(alias, "worker-a", [given.pk])
        assert (picked.pk, picked.args, picked.status, picked.worker_id) == (
            given.pk,
            ["given"],
            JobStatus.RUNNING,
            "worker-a",
        )
        assert picked.started_at is not None
        assert Job.objects.get(pk=given.pk).started_at == picked.started_at
        # Once.
        assert assignment.pick_up(alias, "worker-a", [given.pk]) == []
        assert Job.objects.filter(pk=ready.pk, status=JobStatus.READY, started_at=None).exists()


class TestRecovery:
    def test_a_job_its_worker_never_picked_up_goes_back_without_using_an_attempt(self, on_workers):
        offer("worker-gone")
        job_id = tasks.echo.enqueue("again").id
        assert recover_lost_jobs(timeout=0) == 1
        job = Job.objects.get(pk=job_id)
        assert (job.status, job.attempts, job.max_attempts, job.worker_id) == (JobStatus.READY, 1, 2, "")
        assert job.error_class == ""

    def test_a_job_its_worker_picked_up_is_lost_with_it(self, on_workers):
        offer("worker-gone")
        job_id = tasks.echo.enqueue("lost").id
        assert assignment.pick_up(jobs_alias(), "worker-gone", [Job.objects.get(pk=job_id).pk])
        assert recover_lost_jobs(timeout=0) == 1
        job = Job.objects.get(pk=job_id)
        assert job.status == JobStatus.FAILED
        assert "Worker lost" in job.error_message


class TestWorkerLoop:
    def test_a_worker_without_a_free_slot_hands_the_job_back(self, on_workers, in_process):
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


@pytest.fixture
def outsider():
    """A connection of a role that may only connect to the test database (as any other role of the cluster may)."""
    database = connection.settings_dict
    role = f"jobs_ui_outsider_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" LOGIN')
        cursor.execute(f'GRANT CONNECT ON DATABASE "{database["NAME"]}" TO "{role}"')
    outside = psycopg.connect(
        host=database["HOST"], port=database["PORT"], dbname=database["NAME"], user=role, autocommit=True
    )
    try:
        yield outside
    finally:
        outside.close()
        with connection.cursor() as cursor:
            cursor.execute(f'REVOKE CONNECT ON DATABASE "{database["NAME"]}" FROM "{role}"')
            cursor.execute(f'DROP ROLE "{role}"')


def _forged_row(**fields: Any) -> dict[str, Any]:
    """A job row as JSON, in the shape an assigned job's note once carried; never committed."""
    with transaction.atomic():
        job = Job.objects.create(**fields)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT to_jsonb(j)::text FROM {Job._meta.db_table} AS j WHERE id = %s", [job.pk])
            [(text,)] = cursor.fetchall()
        transaction.set_rollback(True)
    row: dict[str, Any] = json.loads(text)
    return row


def test_a_role_that_only_connects_reads_no_job_data_and_its_forged_notes_run_nothing(
    start_worker, lines, outsider, alice
):
    # No heartbeat meanwhile: its renewal of the offers could make the launch below miss them.
    worker = start_worker("--concurrency", "2", "--heartbeat", "30")
    row = wait_until(_worker_row, what="the worker to start")
    wait_until(lambda: _offered(row.id) == 2, what="two offered slots")
    waiting = tasks.append_line.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(lines.path, "waiting")
    outsider.execute(f"LISTEN {wakeups.CHANNEL}")
    before = Job.objects.filter(pk=waiting.id).values().get()
    made_up = uuid.uuid4()
    running_here = {"executor": "worker", "status": JobStatus.RUNNING, "attempts": 1, "worker_id": row.id}
    old_format = _forged_row(
        id=made_up, task_path="tests.tasks.append_line", args=[lines.path, "forged"], **running_here
    )
    taken_over = _forged_row(
        id=uuid.uuid4(), task_path="tests.tasks.append_line", args=[lines.path, "taken over"], **running_here
    )
    taken_over["id"] = waiting.id
    notes = [
        f"default {made_up} {row.id} {json.dumps(old_format)}",
        f"default {made_up} {row.id}",
        f"default {waiting.id} {row.id} {json.dumps(taken_over)}",
        f"default {waiting.id} {row.id}",
    ]
    for note in notes:
        outsider.execute("SELECT pg_notify(%s, %s)", [wakeups.CHANNEL, note])
    # Notes arrive in the order they were committed: the real job comes after the forged ones.
    request = RequestFactory().get("/")
    request.user = alice
    launched = launch(tasks.append_line, request, lines.path, "secret argument")
    launched.refresh_from_db()
    assert launched.worker_id == row.id
    done = wait_for_status(launched.pk, JobStatus.SUCCESSFUL)
    assert done.attempts == 1
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert lines.read() == ["secret argument"]
    assert not Job.objects.filter(pk=made_up).exists()
    assert Job.objects.filter(pk=waiting.id).values().get() == before
    assert Job.objects.count() == 2
    # What the outsider heard: its own notes, then the real job's ids and queue, no arguments and no owner.
    heard = [note.payload for note in outsider.notifies(timeout=1, stop_after=len(notes) + 1)]
    assert heard == [*notes, f"default {launched.pk} {row.id}"]
