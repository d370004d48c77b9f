"""Django's task signals: sent as Django's backends send them, once per job or attempt, from where the attempt ran."""

from __future__ import annotations

import logging

import pytest
from django.tasks import TaskResultStatus
from django.tasks.signals import task_started

import jobs_ui
from jobs_ui.backend import JobsBackend
from jobs_ui.models import Job, JobStatus
from tests import tasks
from tests.signal_log import recording
from tests.waiting import wait_for_status, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _of(sent, job_id):
    return [(s.signal, s.result.status) for s in sent if s.result.id == str(job_id)]


def _finished(sent, job_id, count=1):
    return wait_until(
        lambda: len([s for s in sent if s.signal == "finished" and s.result.id == str(job_id)]) >= count,
        what=f"task_finished for {job_id}",
    )


def test_a_thread_job_sends_enqueued_started_finished():
    with recording() as sent:
        result = tasks.add.enqueue(1, 2)
        _finished(sent, result.id)
    assert _of(sent, result.id) == [
        ("enqueued", TaskResultStatus.READY),
        ("started", TaskResultStatus.RUNNING),
        ("finished", TaskResultStatus.SUCCESSFUL),
    ]
    assert {s.sender for s in sent} == {JobsBackend}
    finished = sent[-1].result
    assert finished.return_value == 3
    assert finished.finished_at is not None
    assert finished.task.module_path == "tests.tasks.add"


def test_each_attempt_sends_started_and_finished_enqueued_only_once():
    with recording() as sent:
        result = tasks.flaky.enqueue("k")
        _finished(sent, result.id, count=3)
    assert _of(sent, result.id) == [
        ("enqueued", TaskResultStatus.READY),
        ("started", TaskResultStatus.RUNNING),
        ("finished", TaskResultStatus.READY),
        ("started", TaskResultStatus.RUNNING),
        ("finished", TaskResultStatus.READY),
        ("started", TaskResultStatus.RUNNING),
        ("finished", TaskResultStatus.SUCCESSFUL),
    ]
    finished = [s.result for s in sent if s.signal == "finished"]
    assert [len(r.errors) for r in finished] == [1, 2, 2]


def test_failed_cancelled_and_timed_out_jobs_send_finished(tmp_path):
    from tests.worker_fixtures import Lines

    with recording() as sent:
        failed = tasks.explode.enqueue("boom")
        timed_out = tasks.overruns_timeout.enqueue()
        cancelled = tasks.progress_until_stopped.enqueue(Lines(tmp_path / "lines").path)
        wait_until(lambda: Job.objects.filter(pk=cancelled.id, progress_done__gt=0).exists(), what="progress")
        jobs_ui.cancel(Job.objects.get(pk=cancelled.id))
        for job_id in (failed.id, timed_out.id, cancelled.id):
            _finished(sent, job_id)
    classes = {}
    for job_id in (failed.id, timed_out.id, cancelled.id):
        (last,) = [s.result for s in sent if s.signal == "finished" and s.result.id == str(job_id)]
        assert last.status == TaskResultStatus.FAILED
        classes[job_id] = [error.exception_class_path for error in last.errors]
    assert classes == {
        failed.id: ["builtins.ValueError"],
        timed_out.id: ["jobs_ui.exceptions.JobTimedOut"],
        cancelled.id: ["jobs_ui.exceptions.JobCancelled"],
    }


def test_a_receiver_that_raises_does_not_break_the_job(caplog):
    def broken(**kwargs):
        raise RuntimeError("receiver bug")

    task_started.connect(broken)
    try:
        with recording() as sent, caplog.at_level(logging.ERROR, logger="django.dispatch"):
            result = tasks.add.enqueue(2, 3)
            job = wait_for_status(result.id, JobStatus.SUCCESSFUL, JobStatus.FAILED)
            _finished(sent, result.id)
    finally:
        task_started.disconnect(broken)
    assert (job.status, job.result) == (JobStatus.SUCCESSFUL, 5)
    assert "receiver bug" in caplog.text


def test_enqueue_many_sends_enqueued_for_each_job():
    with recording() as sent:
        jobs = jobs_ui.enqueue_many(tasks.add, [[1], [2], [3]])
        for job in jobs:
            _finished(sent, job.pk)
    assert [s.result.id for s in sent if s.signal == "enqueued"] == [str(job.pk) for job in jobs]


@pytest.mark.parametrize("pool", ["thread", "process", "async"])
def test_a_worker_sends_started_and_finished_once_per_attempt(worker_mode, start_worker, lines, tmp_path, pool):
    log = tmp_path / "signals"
    with recording() as sent:
        ok = tasks.add.enqueue(1, 2)
        retried = tasks.fails_twice.enqueue(lines.path)
    assert [(s.signal, s.result.id) for s in sent] == [("enqueued", ok.id), ("enqueued", retried.id)]
    worker = start_worker(
        "--pool", pool, "--concurrency", "1", "--until-done", env={"JOBS_UI_TEST_SIGNAL_LOG": str(log)}
    )
    assert worker.wait() == 0
    # "<signal> <id> <status> <sender> <pid> <errors>", all sent by the worker itself.
    logged = [line.split() for line in log.read_text().splitlines()]
    assert {(sender, int(pid)) for _, _, _, sender, pid, _ in logged} == {("JobsBackend", worker.pid)}
    assert [(name, status, errors) for name, job_id, status, _, _, errors in logged if job_id == ok.id] == [
        ("started", "RUNNING", "0"),
        ("finished", "SUCCESSFUL", "0"),
    ]
    assert [(name, status, errors) for name, job_id, status, _, _, errors in logged if job_id == retried.id] == [
        ("started", "RUNNING", "0"),
        ("finished", "READY", "1"),
        ("started", "RUNNING", "1"),
        ("finished", "READY", "2"),
        ("started", "RUNNING", "2"),
        ("finished", "SUCCESSFUL", "2"),
    ]
