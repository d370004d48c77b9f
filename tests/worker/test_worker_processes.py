"""``jobs_ui_worker --processes N``: N whole workers under one command, stopped and replaced together."""

from __future__ import annotations

import os
import signal

import pytest

import jobs_ui
from jobs_ui.models import Job, JobStatus, Worker, WorkerState
from tests import tasks
from tests.waiting import wait_for_status, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _online(n: int) -> list[Worker]:
    rows = list(Worker.objects.filter(state=WorkerState.ONLINE))
    return rows if len(rows) == n else []


def test_two_processes_run_each_job_once(worker_mode, start_worker, lines):
    jobs = jobs_ui.enqueue_many(tasks.append_line, [[lines.path, f"job {i}"] for i in range(300)])
    supervisor = start_worker("--processes", "2", "--until-done", "--concurrency", "2", "--label", "batch")
    assert supervisor.wait(90) == 0, supervisor.output()
    assert sorted(lines.read()) == sorted(f"job {i}" for i in range(300))
    assert Job.objects.filter(pk__in=[job.pk for job in jobs], status=JobStatus.SUCCESSFUL, attempts=1).count() == 300
    rows = Worker.objects.all()
    # Two workers, told apart by their labels, both stopped cleanly.
    assert [row.state for row in rows] == [WorkerState.STOPPED] * 2
    assert sorted(row.label for row in rows) == sorted(f"batch {row.pid}" for row in rows)
    assert sum(row.jobs_succeeded for row in rows) == 300


def test_sigterm_stops_every_process_gracefully(worker_mode, start_worker, lines, tmp_path):
    gate = str(tmp_path / "gate")
    supervisor = start_worker("--processes", "2")
    wait_until(lambda: _online(2), what="two worker processes")
    result = tasks.append_when_file_exists.enqueue(lines.path, "finished", gate)
    # RUNNING alone may be a job given to a worker that has not begun it yet.
    wait_until(lambda: lines.read(), what="the job to begin")
    supervisor.signal(signal.SIGTERM)
    wait_until(lambda: Worker.objects.filter(state=WorkerState.STOPPING).exists(), what="the busy worker to stop")
    open(gate, "w").close()
    assert supervisor.wait(30) == 0, supervisor.output()
    assert wait_for_status(result.id, JobStatus.SUCCESSFUL).attempts == 1
    assert lines.read()[-1] == "finished"
    assert set(Worker.objects.values_list("state", flat=True)) == {WorkerState.STOPPED}


def test_a_killed_process_is_replaced(start_worker, lines):
    supervisor = start_worker("--processes", "2")
    first, second = wait_until(lambda: _online(2), what="two worker processes")
    os.kill(first.pid, signal.SIGKILL)
    wait_until(lambda: Worker.objects.filter(state=WorkerState.ONLINE).exclude(pk=second.pk).exclude(pk=first.pk))
    result = tasks.append_line.enqueue(lines.path, "after")
    wait_for_status(result.id, JobStatus.SUCCESSFUL)
    supervisor.signal(signal.SIGTERM)
    assert supervisor.wait(30) == 0, supervisor.output()
    assert "replacing it" in supervisor.output()


def test_processes_stop_when_their_supervisor_is_killed(start_worker):
    supervisor = start_worker("--processes", "2")
    wait_until(lambda: _online(2), what="two worker processes")
    supervisor.process.kill()
    supervisor.process.wait()
    wait_until(lambda: Worker.objects.filter(state=WorkerState.STOPPED).count() == 2, what="both to stop")
