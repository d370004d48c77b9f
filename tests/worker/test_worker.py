"""Worker processes: each job runs once, in priority order, when due; every test runs with and without RabbitMQ."""

from __future__ import annotations

import signal
from datetime import datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

import jobs_ui
from jobs_ui.broker import amqp, publisher
from jobs_ui.broker.messages import job_queue
from jobs_ui.exceptions import QueueNotFound
from jobs_ui.models import Job, JobStatus, Worker, WorkerState
from tests import tasks
from tests.waiting import wait_for_status, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_three_workers_run_each_of_500_jobs_once(worker_mode, start_worker, lines):
    # The workers serve before the jobs come, so all three can take a share of them.
    workers = [start_worker("--concurrency", "4") for _ in range(3)]
    wait_until(lambda: Worker.objects.filter(state=WorkerState.ONLINE).count() == 3, what="three workers online")
    if worker_mode == "rabbitmq":
        wait_until(lambda: _consumers(job_queue("default")) == 3, what="three consumers of the job queue")
    jobs = jobs_ui.enqueue_many(tasks.append_line, [[lines.path, f"job {i}"] for i in range(500)])
    wait_until(
        lambda: Job.objects.filter(status=JobStatus.SUCCESSFUL).count() == 500, timeout=90, what="500 jobs to end"
    )
    for worker in workers:
        worker.signal(signal.SIGTERM)
    for worker in workers:
        assert worker.wait(30) == 0, worker.output()
    executed = lines.read()
    assert len(executed) == 500
    assert sorted(executed) == sorted(f"job {i}" for i in range(500))
    assert Job.objects.filter(pk__in=[job.pk for job in jobs], status=JobStatus.SUCCESSFUL).count() == 500
    assert Job.objects.filter(attempts=1).count() == 500
    # The work was shared, and each worker counted what it did.
    assert Job.objects.values("worker_id").distinct().count() > 1
    rows = Worker.objects.filter(state=WorkerState.STOPPED)
    assert rows.count() == 3
    assert sum(rows.values_list("jobs_succeeded", flat=True)) == 500


def _consumers(queue: str) -> int:
    try:
        return amqp.queue_info(queue)[1]
    except QueueNotFound:
        return 0


def test_priority_then_fifo(worker_mode, start_worker, lines):
    for priority, label in [(0, "0-a"), (-50, "-50"), (100, "100"), (0, "0-b"), (50, "50"), (0, "0-c")]:
        tasks.append_line.using(priority=priority).enqueue(lines.path, label)
    assert start_worker("--until-done", "--concurrency", "1").wait() == 0
    assert lines.read() == ["100", "50", "0-a", "0-b", "0-c", "-50"]


# Several share one of RabbitMQ's ten message priorities (1, 3, 5, 7, 9, 10 and 20 all do).
MIXED_PRIORITIES = [1, 9, 20, 10, 3, 5, 7, 0, -1, 100, -100, 55, 1, 9, 20, 10, 7]


def run_one_at_a_time(start_worker):
    """Start one worker with one slot once every waiting job's message is in RabbitMQ; wait until it is done."""
    # Confirmed and marked: the jobs wait before the worker starts, in both modes.
    assert publisher.flush()
    worker = start_worker("--until-done", "--concurrency", "1")
    assert worker.wait(60) == 0, worker.output()


def test_waiting_jobs_run_highest_priority_first_then_fifo(worker_mode, start_worker, lines):
    waiting = [(MIXED_PRIORITIES[i % len(MIXED_PRIORITIES)], f"{i:02}") for i in range(50)]
    for priority, label in waiting:
        tasks.append_line.using(priority=priority).enqueue(lines.path, f"{priority} {label}")
    run_one_at_a_time(start_worker)
    expected = [f"{priority} {label}" for priority, label in sorted(waiting, key=lambda item: (-item[0], item[1]))]
    assert lines.read() == expected


def test_a_batch_runs_in_the_order_given(worker_mode, start_worker, lines):
    labels = [f"job {i:02}" for i in range(20)]
    jobs_ui.enqueue_many(tasks.append_line, [[lines.path, label] for label in labels])
    run_one_at_a_time(start_worker)
    assert lines.read() == labels


def test_jobs_enqueued_in_one_transaction_run_in_order(worker_mode, start_worker, lines):
    labels = [f"job {i:02}" for i in range(20)]
    with transaction.atomic():
        for label in labels:
            tasks.append_line.enqueue(lines.path, label)
    run_one_at_a_time(start_worker)
    assert lines.read() == labels


def test_run_after_waits_until_due(worker_mode, start_worker, lines):
    start_worker("--max-jobs", "2")
    wait_until(lambda: Worker.objects.filter(state=WorkerState.ONLINE).exists(), what="the worker to register")
    due = timezone.now() + timedelta(seconds=1)
    later = tasks.append_line.using(run_after=due).enqueue(lines.path, "later")
    now = tasks.append_line.enqueue(lines.path, "now")
    wait_for_status(now.id, JobStatus.SUCCESSFUL)
    job = wait_for_status(later.id, JobStatus.SUCCESSFUL)
    assert job.started_at is not None
    assert job.started_at >= due
    assert lines.read() == ["now", "later"]


def test_retries_with_doubling_delay(worker_mode, start_worker, lines):
    result = tasks.fails_twice.enqueue(lines.path)
    # --until-done waits for the retries, though they are not due when the worker looks.
    assert start_worker("--until-done").wait() == 0
    job = Job.objects.get(pk=result.id)
    assert job.attempts == 3
    assert job.result == 3
    first, second, third = (float(line) for line in lines.read())
    # retry_delay=0.3: then 0.3 s (plus up to 10 % jitter), then twice that. No attempt began
    # before its delay was over (a busy machine only makes the gaps longer)...
    assert second - first >= 0.3
    assert third - second >= 0.6
    # ...and the second delay was twice the first, not more: the row keeps when the last attempt
    # became due (run_after), written with the time of the error before it.
    last_error_at = datetime.fromisoformat(job.errors[-1]["at"])
    assert job.run_after is not None
    assert job.run_after - last_error_at < timedelta(seconds=0.7)


def test_unique_job_runs_once(worker_mode, start_worker, lines):
    first = tasks.unique_append.enqueue(lines.path, "once")
    second = tasks.unique_append.enqueue(lines.path, "once")
    other = tasks.unique_append.enqueue(lines.path, "other")
    assert first.id == second.id
    assert other.id != first.id
    assert start_worker("--until-done").wait() == 0
    assert sorted(lines.read()) == ["once", "other"]
    # Finished, it no longer stands in the way of a new one.
    assert tasks.unique_append.enqueue(lines.path, "once").id != first.id


def test_excluded_queue_and_task_wait_for_another_worker(worker_mode, start_worker, lines):
    served = tasks.append_line.enqueue(lines.path, "served")
    other_queue = tasks.append_line.using(queue_name="other").enqueue(lines.path, "other queue")
    excluded = tasks.unique_append.enqueue(lines.path, "excluded task")
    picky = start_worker("--until-done", "--exclude-queue", "other", "--exclude-task", "tests.tasks.unique_append")
    assert picky.wait() == 0
    assert lines.read() == ["served"]
    assert Job.objects.get(pk=other_queue.id).status == JobStatus.READY
    assert Job.objects.get(pk=excluded.id).status == JobStatus.READY
    assert Worker.objects.get().queues == ["default"]
    assert start_worker("--until-done", "--queue", "other", "--queue", "default").wait() == 0
    assert sorted(lines.read()) == ["excluded task", "other queue", "served"]
    assert Job.objects.get(pk=served.id).status == JobStatus.SUCCESSFUL


def test_once_runs_one_job(worker_mode, start_worker, lines):
    tasks.append_line.enqueue(lines.path, "a")
    tasks.append_line.enqueue(lines.path, "b")
    assert start_worker("--once").wait() == 0
    assert lines.read() == ["a"]
    assert Job.objects.filter(status=JobStatus.READY).count() == 1


def test_idle_worker_picks_up_new_jobs(worker_mode, start_worker, lines):
    worker = start_worker("--max-jobs", "2", "--label", "idle-{pid}")
    wait_until(lambda: Worker.objects.filter(state=WorkerState.ONLINE).exists(), what="the worker to register")
    first = tasks.append_line.enqueue(lines.path, "first")
    wait_for_status(first.id, JobStatus.SUCCESSFUL)
    second = tasks.append_line.enqueue(lines.path, "second")
    wait_for_status(second.id, JobStatus.SUCCESSFUL)
    assert worker.wait() == 0
    row = Worker.objects.get()
    assert row.label == f"idle-{worker.pid}"
    assert row.state == WorkerState.STOPPED
    assert row.jobs_succeeded == 2


def test_reload_runs_the_worker_under_the_autoreloader(start_worker, lines):
    tasks.append_line.enqueue(lines.path, "reloaded")
    worker = start_worker("--once", "--reload", env={"JOBS_UI_TEST_DEBUG": "1"})
    assert worker.wait() == 0, worker.output()
    assert lines.read() == ["reloaded"]
    # The job ran in the child the autoreloader starts (and would restart on a code change).
    assert Worker.objects.get().pid != worker.pid
