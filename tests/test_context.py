from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from jobs_ui.models import Job, JobStatus
from tests import tasks
from tests.waiting import wait_for_status, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_progress_is_visible_from_another_connection_while_running():
    result = tasks.wait_for_gate.enqueue("g")
    job = wait_until(
        lambda: Job.objects.filter(pk=result.id, progress_message="waiting", extra__waiting=True).first(),
        what="progress to be written",
    )
    assert job is not None
    assert job.status == JobStatus.RUNNING
    assert job.progress_done == 1
    assert job.progress_total == 10
    assert job.percent == 10
    tasks.gate("g").set()
    job = wait_for_status(result.id, JobStatus.SUCCESSFUL)
    assert job.progress_done == 10  # a finished job shows a full bar


@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite has one writer; the SQLite case is tested below")
def test_progress_inside_the_tasks_transaction_is_written_outside_it():
    result = tasks.progress_in_transaction.enqueue("g")
    job = wait_until(
        lambda: Job.objects.filter(pk=result.id, progress_message="inside a transaction").first(),
        what="progress written from inside the task's transaction",
    )
    assert job is not None
    assert job.status == JobStatus.RUNNING
    tasks.gate("g").set()
    wait_for_status(result.id, JobStatus.SUCCESSFUL)


def test_every_progress_step_is_recorded_last_wins():
    result = tasks.count.enqueue(50)
    job = wait_for_status(result.id, JobStatus.SUCCESSFUL)
    assert (job.progress_done, job.progress_total, job.progress_message) == (50, 50, "Counted 50")


def test_progress_publishes_events():
    from jobs_ui import events

    seen: list[events.JobEvent] = []
    unsubscribe = events.subscribe(seen.append)
    try:
        result = tasks.count.enqueue(3)
        wait_for_status(result.id, JobStatus.SUCCESSFUL)
        wait_until(lambda: any(e.kind == "finished" and e.job_id == str(result.id) for e in seen))
    finally:
        unsubscribe()
    mine = [e for e in seen if e.job_id == str(result.id)]
    assert [e.message for e in mine if e.kind == "progress"] == ["Counted 1", "Counted 2", "Counted 3"]
    assert mine[-1].status == JobStatus.SUCCESSFUL


def test_progress_writes_are_throttled(settings):
    from jobs_ui import events

    settings.JOBS_UI = {**settings.JOBS_UI, "PROGRESS_INTERVAL": 60}
    seen: list[events.JobEvent] = []
    unsubscribe = events.subscribe(seen.append)
    try:
        result = tasks.count.enqueue(100)
        wait_for_status(result.id, JobStatus.SUCCESSFUL)
    finally:
        unsubscribe()
    progress = [e for e in seen if e.job_id == str(result.id) and e.kind == "progress"]
    # The first write, then the final one (done == total) only.
    assert [e.done for e in progress] == [1, 100]


def test_soft_timeout_fails_the_job():
    result = tasks.slow_with_timeout.enqueue()
    job = wait_for_status(result.id, JobStatus.FAILED)
    assert job.error_class == "jobs_ui.exceptions.JobTimedOut"
    assert job.error_message == "Timed out after 0.2 s."


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite only")
def test_progress_inside_a_transaction_on_sqlite_waits_for_the_end():
    result = tasks.progress_in_transaction.enqueue("g")
    wait_for_status(result.id, JobStatus.RUNNING)
    tasks.gate("g").set()
    job = wait_for_status(result.id, JobStatus.SUCCESSFUL)
    assert job.progress_message == "inside a transaction"


def test_an_attempt_that_lost_its_job_is_told_to_stop(tmp_path, caplog):
    from tests.worker_fixtures import Lines

    lines = Lines(tmp_path / "lines")
    result = tasks.checks_after_gate.enqueue(lines.path, "lost")
    wait_until(lambda: Job.objects.filter(pk=result.id, progress_message="waiting").exists(), what="the job to wait")
    # What a reaper does to a job whose lease expired, with no attempt left.
    Job.objects.filter(pk=result.id).update(status=JobStatus.FAILED, worker_id="", error_message="Worker lost.")
    tasks.gate("lost").set()
    wait_until(lines.read, what="the task to go on")
    assert lines.read() == ["stopped: This attempt lost the job: its lease expired and another attempt took over."]
    # Its final write (CANCELLED) is fenced off.
    wait_until(lambda: f"Job {result.id} attempt 1 lost ownership" in caplog.text, what="the final write to be refused")
    job = Job.objects.get(pk=result.id)
    assert (job.status, job.error_message) == (JobStatus.FAILED, "Worker lost.")


def test_a_cancel_request_still_reads_as_one(tmp_path):
    from tests.worker_fixtures import Lines

    lines = Lines(tmp_path / "lines")
    result = tasks.checks_after_gate.enqueue(lines.path, "cancelled")
    wait_until(lambda: Job.objects.filter(pk=result.id, progress_message="waiting").exists(), what="the job to wait")
    Job.objects.filter(pk=result.id).update(cancel_requested_at=timezone.now())
    tasks.gate("cancelled").set()
    job = wait_for_status(result.id, JobStatus.CANCELLED)
    assert lines.read() == ["stopped: Cancelled on request."]
    assert job.error_message == "Cancelled on request."


def test_progress_raises_once_a_cancel_is_requested(tmp_path):
    import jobs_ui
    from tests.worker_fixtures import Lines

    lines = Lines(tmp_path / "lines")
    result = tasks.progress_until_stopped.enqueue(lines.path)
    wait_until(lambda: Job.objects.filter(pk=result.id, progress_done__gt=0).exists(), what="progress")
    # Another process's cancel: only the database knows of it.
    Job.objects.filter(pk=result.id).update(cancel_requested_at=timezone.now())
    job = wait_for_status(result.id, JobStatus.CANCELLED, JobStatus.SUCCESSFUL, JobStatus.FAILED)
    assert (job.status, job.error_message) == (JobStatus.CANCELLED, "Cancelled on request.")
    assert lines.read() == ["stopped: JobCancelled"]
    # And a cancel made in this process reaches it at once.
    second = tasks.progress_until_stopped.enqueue(lines.path)
    wait_until(lambda: Job.objects.filter(pk=second.id, progress_done__gt=0).exists(), what="progress")
    jobs_ui.cancel(Job.objects.get(pk=second.id))
    assert wait_for_status(second.id, JobStatus.CANCELLED, JobStatus.SUCCESSFUL).status == JobStatus.CANCELLED


def test_progress_raises_past_the_timeout():
    result = tasks.progress_past_timeout.enqueue()
    job = wait_for_status(result.id, JobStatus.FAILED, JobStatus.SUCCESSFUL, JobStatus.CANCELLED)
    assert (job.status, job.error_class, job.error_message) == (
        JobStatus.FAILED,
        "jobs_ui.exceptions.JobTimedOut",
        "Timed out after 0.3 s.",
    )


def test_a_long_progress_message_is_cut():
    from jobs_ui.context import MESSAGE_LIMIT

    result = tasks.long_message.enqueue(2 * 1024 * 1024)
    job = wait_for_status(result.id, JobStatus.SUCCESSFUL)
    assert len(job.progress_message) == MESSAGE_LIMIT
    assert job.progress_message == "y" * (MESSAGE_LIMIT - 1) + "…"


def test_an_oversized_extra_fails_the_task_with_a_clear_error():
    from jobs_ui.context import EXTRA_LIMIT

    result = tasks.large_extra.enqueue(EXTRA_LIMIT)
    job = wait_for_status(result.id, JobStatus.FAILED, JobStatus.SUCCESSFUL)
    assert job.error_class == "jobs_ui.exceptions.InvalidProgress"
    assert job.error_message.startswith("context.extra too large: ")
    assert job.error_message.endswith(f"over the limit of {EXTRA_LIMIT} bytes.")
    # What was written before stays; the oversized value is not written, not even at the end.
    assert job.extra == {"small": 1}


def test_an_oversized_extra_the_task_ignores_is_not_kept(caplog):
    from jobs_ui.context import EXTRA_LIMIT

    result = tasks.large_extra.enqueue(EXTRA_LIMIT, catch=True)
    job = wait_for_status(result.id, JobStatus.SUCCESSFUL, JobStatus.FAILED)
    assert (job.status, job.result, job.extra) == (JobStatus.SUCCESSFUL, "went on", {"small": 1})
    assert f"Job {result.id}: context.extra too large: " in caplog.text
