"""Workers that die, freeze, lose the broker or are told to stop: no job is lost or run twice."""

from __future__ import annotations

import os
import signal
import socket
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection

import jobs_ui
from jobs_ui.jobs.recover import recover_lost_jobs
from jobs_ui.models import Job, JobStatus, Worker, WorkerState
from jobs_ui.worker.loop import EXIT_INTERRUPTED
from tests import tasks
from tests.waiting import wait_for_status, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


# SIGSTOP may land while the frozen process writes: on SQLite it then keeps the only
# write lock, and no other worker can proceed.
needs_concurrent_writers = pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite has one writer")


def started(lines, count=1):
    return wait_until(lambda: len([x for x in lines.read() if x.startswith("start")]) >= count, what="the job to start")


@pytest.fixture
def short_lease(settings):
    """Leases that expire fast, for tests that wait for one."""
    settings.JOBS_UI = {**settings.JOBS_UI, "HEARTBEAT_INTERVAL": 0.25, "HEARTBEAT_TIMEOUT": 1.5}


@pytest.mark.parametrize("retries", [0, 1])
def test_job_of_a_killed_worker_is_recovered_within_the_heartbeat_timeout(
    worker_mode, short_lease, start_worker, lines, tmp_path, retries
):
    gate = tmp_path / "gate"
    task = tasks.append_when_file_exists_retried if retries else tasks.append_when_file_exists
    result = task.enqueue(lines.path, "done", str(gate))
    victim = start_worker("--max-jobs", "1")
    started(lines)
    victim.signal(signal.SIGKILL)
    victim.wait()
    gate.touch()
    start_worker("--max-jobs", "1")
    if retries:
        job = wait_for_status(result.id, JobStatus.SUCCESSFUL, timeout=20)
        assert job.attempts == 2
        assert len(job.worker_ids) == 2
        assert lines.read()[-1] == "done"
    else:
        # The wait's own limit is the only upper bound: it includes the new worker's start-up.
        job = wait_for_status(result.id, JobStatus.FAILED, timeout=20)
        assert job.error_class == "jobs_ui.exceptions.WorkerLost"
        assert job.error_message.startswith("Worker lost")
        assert "done" not in lines.read()
    victim_row = Worker.objects.get(pk=job.worker_ids[0])
    assert victim_row.state == WorkerState.LOST
    # Declared lost once it had been silent for the heartbeat timeout, not before (the database's clock).
    assert victim_row.stopped_at is not None
    timeout = timedelta(seconds=django_settings.JOBS_UI["HEARTBEAT_TIMEOUT"])
    assert victim_row.stopped_at - victim_row.heartbeat_at >= timeout


@needs_concurrent_writers
def test_frozen_worker_cannot_overwrite_the_attempt_that_replaced_it(worker_mode, short_lease, start_worker, lines):
    result = tasks.first_attempt_stalls.enqueue(lines.path, 1.0)
    frozen = start_worker("--max-jobs", "1")
    started(lines)
    frozen.signal(signal.SIGSTOP)
    rescuer = start_worker("--max-jobs", "1")
    job = wait_for_status(result.id, JobStatus.SUCCESSFUL, timeout=20)
    assert job.attempts == 2
    replacement = f"attempt 2 pid {job.worker_ids[1].split('-')[-2]}"
    assert job.result == replacement
    assert rescuer.wait() == 0
    # Thawed, the first attempt is stopped by its next progress(), which finds the job is
    # no longer its own; none of its writes lands.
    frozen.signal(signal.SIGCONT)
    assert frozen.wait() == 0
    assert f"start attempt 1 pid {frozen.pid}" in lines.read()
    assert f"end attempt 1 pid {frozen.pid}" not in lines.read()
    job = Job.objects.get(pk=result.id)
    assert job.status == JobStatus.SUCCESSFUL
    assert job.result == replacement
    assert job.progress_message == f"{replacement} started"
    assert job.attempts == 2
    assert Worker.objects.get(pk=job.worker_ids[1]).jobs_succeeded == 1
    assert Worker.objects.get(pk=job.worker_ids[0]).jobs_succeeded == 0


@needs_concurrent_writers
def test_frozen_worker_tells_its_task_it_lost_the_job(short_lease, start_worker, lines):
    result = tasks.first_attempt_stalls.enqueue(lines.path, 1.0, check=True)
    frozen = start_worker("--max-jobs", "1")
    started(lines)
    frozen.signal(signal.SIGSTOP)
    rescuer = start_worker("--max-jobs", "1")
    job = wait_for_status(result.id, JobStatus.SUCCESSFUL, timeout=20)
    assert rescuer.wait() == 0
    frozen.signal(signal.SIGCONT)
    assert frozen.wait() == 0
    # Awake, the first attempt learns at its next check that the job is no longer its own.
    mine = f"attempt 1 pid {frozen.pid}"
    lost = "This attempt lost the job: its lease expired and another attempt took over."
    assert [line for line in lines.read() if mine in line] == [f"start {mine}", f"stopped {mine}: {lost}"]
    assert Job.objects.get(pk=result.id).result == job.result == f"attempt 2 pid {job.worker_ids[1].split('-')[-2]}"


@needs_concurrent_writers
def test_a_job_in_a_child_process_keeps_its_lease_while_its_worker_is_frozen(short_lease, start_worker, lines):
    # The job runs for twice the lease without reporting progress, its worker frozen meanwhile.
    result = tasks.first_attempt_stalls.enqueue(lines.path, 2 * django_settings.JOBS_UI["HEARTBEAT_TIMEOUT"])
    frozen = start_worker("--pool", "process", "--concurrency", "1", "--max-jobs", "1")
    started(lines)
    frozen.signal(signal.SIGSTOP)
    rescuer = start_worker()
    job = wait_for_status(result.id, JobStatus.SUCCESSFUL, timeout=20)
    frozen.signal(signal.SIGCONT)
    assert frozen.wait() == 0
    rescuer.signal(signal.SIGTERM)
    assert rescuer.wait() == 0
    # The child's lease held: one attempt, not repeated by the rescuer's.
    assert job.attempts == 1
    assert [line.split(" pid")[0] for line in lines.read()] == ["start attempt 1", "end attempt 1"]


@pytest.mark.rabbitmq
def test_jobs_launched_while_rabbitmq_is_down_run_once_it_is_back(amqp_settings, start_worker, lines, alice):
    settings = amqp_settings
    from tests.jobs.test_create import request_for

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    reachable = settings.JOBS_UI["AMQP_URL"]
    settings.JOBS_UI = {**settings.JOBS_UI, "AMQP_URL": f"amqp://guest:guest@127.0.0.1:{closed_port}/%2F"}
    launched = [jobs_ui.launch(tasks.append_line, request_for(alice), lines.path, f"job {i}") for i in range(5)]
    launched += jobs_ui.enqueue_many(tasks.append_line, [[lines.path, f"job {i}"] for i in range(5, 20)])
    assert Job.objects.filter(status=JobStatus.READY, dispatched_at__isnull=True).count() == 20
    settings.JOBS_UI = {**settings.JOBS_UI, "AMQP_URL": reachable}
    assert start_worker("--until-done").wait() == 0
    assert sorted(lines.read()) == sorted(f"job {i}" for i in range(20))
    assert Job.objects.filter(status=JobStatus.SUCCESSFUL, attempts=1, dispatched_at__isnull=False).count() == 20


def test_sigterm_lets_the_running_job_finish(worker_mode, start_worker, lines, tmp_path):
    gate = tmp_path / "gate"
    running = tasks.append_when_file_exists.enqueue(lines.path, "finished", str(gate))
    waiting = tasks.append_line.enqueue(lines.path, "never taken")
    worker = start_worker("--concurrency", "1")
    started(lines)
    worker.signal(signal.SIGTERM)
    wait_until(lambda: Worker.objects.filter(state=WorkerState.STOPPING).exists(), what="the worker to stop")
    gate.touch()
    assert worker.wait() == 0
    assert Job.objects.get(pk=running.id).status == JobStatus.SUCCESSFUL
    assert Job.objects.get(pk=waiting.id).status == JobStatus.READY
    assert lines.read()[-1] == "finished"
    assert Worker.objects.get().state == WorkerState.STOPPED


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_sigterm_hands_back_a_job_that_outlasts_the_grace_period(
    worker_mode, settings, start_worker, lines, tmp_path, pool
):
    settings.JOBS_UI = {**settings.JOBS_UI, "SHUTDOWN_GRACE": 0.5}
    gate = tmp_path / "gate"
    result = tasks.append_when_file_exists.enqueue(lines.path, "finished", str(gate))
    worker = start_worker("--pool", pool, "--concurrency", "1")
    started(lines)
    worker.signal(signal.SIGTERM)
    assert worker.wait() == EXIT_INTERRUPTED
    job = Job.objects.get(pk=result.id)
    assert job.status == JobStatus.READY
    assert (job.attempts, job.max_attempts) == (1, 2)  # the interruption did not use up a retry
    gate.touch()
    assert start_worker("--until-done").wait() == 0
    job = Job.objects.get(pk=result.id)
    assert job.status == JobStatus.SUCCESSFUL
    assert job.result == 2
    assert lines.read()[-1] == "finished"
    assert len([line for line in lines.read() if line == "finished"]) == 1


def test_second_signal_stops_at_once(worker_mode, settings, start_worker, lines, tmp_path):
    # A grace longer than the wait below: only the second signal can end the worker in time.
    settings.JOBS_UI = {**settings.JOBS_UI, "SHUTDOWN_GRACE": 300.0}
    result = tasks.append_when_file_exists.enqueue(lines.path, "finished", str(tmp_path / "never"))
    worker = start_worker("--concurrency", "1")
    started(lines)
    worker.signal(signal.SIGINT)
    wait_until(lambda: Worker.objects.filter(state=WorkerState.STOPPING).exists(), what="the worker to stop")
    worker.signal(signal.SIGINT)
    assert worker.wait() == EXIT_INTERRUPTED
    # Not handed back as at the end of a grace: left RUNNING for recovery.
    assert Job.objects.get(pk=result.id).status == JobStatus.RUNNING
    # Recovered as for a killed worker, once the lease expires (here: at once).
    assert recover_lost_jobs(timeout=0) == 1
    assert Job.objects.get(pk=result.id).status == JobStatus.FAILED


def test_cancel_of_a_running_job_is_cooperative(worker_mode, start_worker, lines, tmp_path):
    result = tasks.append_when_file_exists.enqueue(lines.path, "finished", str(tmp_path / "never"))
    worker = start_worker("--max-jobs", "1")
    started(lines)
    jobs_ui.cancel(Job.objects.get(pk=result.id))
    job = wait_for_status(result.id, JobStatus.CANCELLED)
    assert job.error_class == "jobs_ui.exceptions.JobCancelled"
    assert worker.wait() == 0
    assert os.path.exists(lines.path)
    assert "finished" not in lines.read()


class TestExitCodes:
    """What the worker process exits with, for a process supervisor (README: Worker processes)."""

    def test_a_graceful_stop_with_every_job_finished_exits_0(self, start_worker, lines):
        result = tasks.append_line.enqueue(lines.path, "ran")
        worker = start_worker()
        wait_for_status(result.id, JobStatus.SUCCESSFUL)
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0

    def test_jobs_handed_back_at_the_end_of_the_grace_exit_75(self, settings, start_worker, lines, tmp_path):
        settings.JOBS_UI = {**settings.JOBS_UI, "SHUTDOWN_GRACE": 0.3}
        result = tasks.append_when_file_exists.enqueue(lines.path, "finished", str(tmp_path / "never"))
        worker = start_worker("--concurrency", "1")
        started(lines)
        worker.signal(signal.SIGTERM)
        assert worker.wait() == EXIT_INTERRUPTED == 75
        assert Job.objects.get(pk=result.id).status == JobStatus.READY

    def test_timeout_stops_an_idle_worker_with_0(self, start_worker):
        worker = start_worker("--timeout", "0.5")
        assert worker.wait(timeout=30) == 0
        assert Worker.objects.get().state == WorkerState.STOPPED

    def test_timeout_gives_running_jobs_the_grace_then_hands_them_back(self, settings, start_worker, lines, tmp_path):
        settings.JOBS_UI = {**settings.JOBS_UI, "SHUTDOWN_GRACE": 0.3}
        result = tasks.append_when_file_exists.enqueue(lines.path, "finished", str(tmp_path / "never"))
        worker = start_worker("--concurrency", "1", "--timeout", "1")
        started(lines)
        assert worker.wait(timeout=30) == EXIT_INTERRUPTED
        assert Job.objects.get(pk=result.id).status == JobStatus.READY

    def test_a_bad_timeout_is_refused(self, start_worker):
        assert start_worker("--timeout", "0").wait() != 0
