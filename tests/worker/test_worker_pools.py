"""The process pool stops jobs that ignore their timeout or a cancel; the async pool runs many at once."""

from __future__ import annotations

import pytest

import jobs_ui
from jobs_ui.models import Job, JobStatus, Worker
from tests import tasks
from tests.waiting import wait_for_status, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_process_pool_stops_a_job_past_its_timeout(worker_mode, start_worker, lines):
    result = tasks.ignores_timeout.enqueue(lines.path)
    worker = start_worker("--pool", "process", "--concurrency", "1", "--max-jobs", "2")
    job = wait_for_status(result.id, JobStatus.FAILED)
    assert job.error_class == "jobs_ui.exceptions.JobTimedOut"
    assert job.error_message == "Timed out after 0.3 s."
    assert lines.read() == ["started"]
    # The killed child was replaced: the next job runs.
    after = tasks.append_line.enqueue(lines.path, "next")
    wait_for_status(after.id, JobStatus.SUCCESSFUL)
    assert worker.wait() == 0
    assert Worker.objects.get().pool == "process"


def test_process_pool_stops_a_job_that_ignores_a_cancel(worker_mode, start_worker, lines):
    result = tasks.ignores_cancel.enqueue(lines.path)
    worker = start_worker("--pool", "process", "--concurrency", "1", "--max-jobs", "1")
    wait_until(lambda: lines.read() == ["started"], what="the job to start")
    jobs_ui.cancel(Job.objects.get(pk=result.id))
    job = wait_for_status(result.id, JobStatus.CANCELLED)
    assert job.error_class == "jobs_ui.exceptions.JobCancelled"
    assert job.progress_message == "running"  # written by the child, kept by the hard stop
    assert worker.wait() == 0
    assert lines.read() == ["started"]


def test_process_pool_runs_jobs_in_child_processes(worker_mode, start_worker, lines):
    jobs_ui.enqueue_many(tasks.count, [[3]] * 4)
    assert start_worker("--pool", "process", "--concurrency", "2", "--until-done").wait() == 0
    assert list(Job.objects.values_list("status", "result", "progress_done").distinct()) == [
        (JobStatus.SUCCESSFUL, 3, 3.0)
    ]


def test_async_pool_runs_200_sleeping_jobs_at_once(worker_mode, start_worker):
    jobs_ui.enqueue_many(tasks.sleep_async, [[2.0]] * 200)
    worker = start_worker("--pool", "async", "--concurrency", "200", "--until-done")
    assert worker.wait(60) == 0
    results = list(Job.objects.values_list("status", "result"))
    assert {status for status, _ in results} == {JobStatus.SUCCESSFUL}
    assert len(results) == 200
    spans = [span for _, span in results if span]
    assert len(spans) == 200
    starts = [span[0] for span in spans]
    ends = [span[1] for span in spans]
    # Every job had started before the first one ended: all 200 were in flight together.
    assert max(starts) < min(ends)


def test_async_task_reports_progress_with_aprogress(worker_mode, start_worker, tmp_path):
    gate = tmp_path / "gate"
    result = tasks.async_progress.enqueue(str(gate))
    worker = start_worker("--pool", "async", "--until-done")
    wait_until(
        lambda: Job.objects.filter(pk=result.id, status=JobStatus.RUNNING, progress_message="half way").exists(),
        what="the progress written while the job runs",
    )
    gate.touch()
    assert worker.wait() == 0
    job = Job.objects.get(pk=result.id)
    assert (job.status, job.result, job.progress_done, job.progress_message) == (JobStatus.SUCCESSFUL, "ok", 2, "done")


def test_sync_progress_in_an_async_task_fails_with_a_clear_error(worker_mode, start_worker):
    result = tasks.async_sync_progress.enqueue()
    assert start_worker("--pool", "async", "--until-done").wait() == 0
    job = Job.objects.get(pk=result.id)
    assert job.status == JobStatus.FAILED
    assert job.error_message == "context.progress() would block the event loop; use await context.aprogress(...)."


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_sys_exit_in_a_task_fails_the_job_and_the_slot_runs_the_next(worker_mode, start_worker, lines, pool):
    failing = tasks.exits.enqueue(3)
    after = tasks.append_line.enqueue(lines.path, "next")
    worker = start_worker("--pool", pool, "--concurrency", "1", "--until-done")
    assert worker.wait() == 0
    job = Job.objects.get(pk=failing.id)
    assert (job.status, job.error_class, job.error_message) == (
        JobStatus.FAILED,
        "builtins.SystemExit",
        "The task raised SystemExit (exit code 3).",
    )
    assert Job.objects.get(pk=after.id).status == JobStatus.SUCCESSFUL
    assert lines.read() == ["next"]


def test_sys_exit_in_an_async_task_fails_the_job_and_the_loop_runs_the_next(worker_mode, start_worker):
    failing = tasks.async_exits.enqueue(4)
    after = tasks.async_add.enqueue(1, 2)
    worker = start_worker("--pool", "async", "--concurrency", "1", "--until-done")
    assert worker.wait() == 0
    job = Job.objects.get(pk=failing.id)
    assert (job.status, job.error_class, job.error_message) == (
        JobStatus.FAILED,
        "builtins.SystemExit",
        "The task raised SystemExit (exit code 4).",
    )
    assert Job.objects.get(pk=after.id).result == 3


def test_a_task_that_only_reports_progress_stops_at_a_cancel(worker_mode, start_worker, lines):
    result = tasks.progress_until_stopped.enqueue(lines.path)
    worker = start_worker("--pool", "thread", "--concurrency", "1", "--max-jobs", "1")
    wait_for_status(result.id, JobStatus.RUNNING)
    wait_until(lambda: Job.objects.filter(pk=result.id, progress_done__gt=0).exists(), what="progress")
    jobs_ui.cancel(Job.objects.get(pk=result.id))
    job = wait_for_status(result.id, JobStatus.CANCELLED, JobStatus.SUCCESSFUL, JobStatus.FAILED)
    assert job.status == JobStatus.CANCELLED
    assert lines.read() == ["stopped: JobCancelled"]
    assert worker.wait() == 0


@pytest.mark.parametrize(
    ("pool", "task"), [("thread", tasks.progress_past_timeout), ("async", tasks.async_overruns_timeout)]
)
def test_a_job_past_its_timeout_fails(worker_mode, start_worker, pool, task):
    result = task.enqueue()
    assert start_worker("--pool", pool, "--until-done").wait() == 0
    job = Job.objects.get(pk=result.id)
    assert (job.status, job.error_class, job.error_message) == (
        JobStatus.FAILED,
        "jobs_ui.exceptions.JobTimedOut",
        "Timed out after 0.3 s.",
    )
