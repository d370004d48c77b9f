from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.db.models.functions import Now

from jobs_ui.executors import thread_executor
from jobs_ui.jobs.finish import finish
from jobs_ui.jobs.recover import recover_lost_jobs
from jobs_ui.models import Job, JobStatus, Worker, WorkerState
from tests import tasks
from tests.helpers import claimed
from tests.locking import row_locked_elsewhere
from tests.waiting import wait_for_status

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def crashed_web_process():
    """Start a web process with a running thread job, kill -9 it; yield the job id."""
    children = []

    def start(task_name: str, arg: str) -> str:
        env = {**os.environ, "JOBS_UI_TEST_DB_NAME": str(connection.settings_dict["NAME"])}
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.crash_child", task_name, arg],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        children.append(child)
        assert child.stdout is not None
        job_id = child.stdout.readline().strip()
        assert job_id, "the child process did not start its job"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        return job_id

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def test_job_of_a_killed_web_process_fails_as_worker_lost(crashed_web_process):
    job_id = crashed_web_process("wait_for_gate", "never-opened")
    job = Job.objects.get(pk=job_id)
    assert job.status == JobStatus.RUNNING
    child_worker = job.worker_id
    # A web process starting up recovers what the dead one left behind.
    thread_executor().start()
    job = wait_for_status(job_id, JobStatus.FAILED)
    assert job.error_class == "jobs_ui.exceptions.WorkerLost"
    assert job.error_message.startswith("Worker lost")
    assert job.finished_at is not None
    assert Worker.objects.get(pk=child_worker).state == WorkerState.LOST


def test_job_with_retries_left_runs_again_elsewhere(crashed_web_process):
    job_id = crashed_web_process("wait_with_retry", "opened-here")
    tasks.gate("opened-here").set()
    thread_executor().start()
    job = wait_for_status(job_id, JobStatus.SUCCESSFUL)
    assert job.attempts == 2
    assert len(job.worker_ids) == 2
    assert job.result == 2


def test_live_jobs_are_not_recovered():
    result = tasks.wait_for_gate.enqueue("g")
    wait_for_status(result.id, JobStatus.RUNNING)
    assert recover_lost_jobs() == 0
    assert Job.objects.get(pk=result.id).status == JobStatus.RUNNING
    tasks.gate("g").set()
    wait_for_status(result.id, JobStatus.SUCCESSFUL)


def test_stale_attempt_cannot_overwrite_its_replacement():
    result = tasks.wait_for_gate.enqueue("g")
    stale = wait_for_status(result.id, JobStatus.RUNNING)
    # Another attempt took over (as after a recovery and a new claim).
    Job.objects.filter(pk=stale.pk).update(attempts=stale.attempts + 1)
    assert not finish(stale, JobStatus.SUCCESSFUL)
    assert Job.objects.get(pk=stale.pk).status == JobStatus.RUNNING
    tasks.gate("g").set()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="Row locks held by another session: PostgreSQL")
def test_a_lost_job_whose_row_another_session_keeps_locked_is_skipped_not_waited_for():
    [lost] = claimed(1, "frozen")
    Job.objects.filter(pk=lost.pk).update(heartbeat_at=Now() - timedelta(hours=1))
    with row_locked_elsewhere(lost.pk):
        assert recover_lost_jobs() == 0  # returns at once instead of waiting for the lock
        assert Job.objects.get(pk=lost.pk).status == JobStatus.RUNNING
    assert recover_lost_jobs() == 1
    assert Job.objects.get(pk=lost.pk).status == JobStatus.FAILED
