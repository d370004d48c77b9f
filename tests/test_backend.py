from __future__ import annotations

from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus, task
from django.tasks.exceptions import InvalidTask
from django.utils import timezone

from jobs_ui.backend import JobsBackend, JobTask
from jobs_ui.models import Job, JobStatus
from tests import tasks
from tests.waiting import wait_for_status, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def finished(result):
    def check():
        result.refresh()
        return result.is_finished

    wait_until(check, what=f"{result.task.name} to finish")
    return result


def test_enqueue_runs_and_returns_value():
    result = finished(tasks.add.enqueue(2, b=3))
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5
    assert result.args == [2]
    assert result.kwargs == {"b": 3}
    assert len(result.worker_ids) == 1
    assert result.started_at is not None
    assert result.finished_at >= result.started_at


@pytest.mark.parametrize("value", [{}, [], 0, "", None, {"nested": [1, 2.5, "x"]}])
def test_any_json_value_is_a_result(value):
    result = finished(tasks.echo.enqueue(value))
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == value


def test_get_result_reads_the_row():
    result = finished(tasks.add.enqueue(1))
    again = tasks.add.get_result(result.id)
    assert again.status == TaskResultStatus.SUCCESSFUL
    assert again.return_value == 1
    assert again.enqueued_at == result.enqueued_at


def test_failed_task_records_class_message_traceback():
    result = finished(tasks.explode.enqueue("kaboom"))
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is ValueError
    assert "kaboom" in result.errors[0].traceback
    job = Job.objects.get(pk=result.id)
    assert job.error_class == "builtins.ValueError"
    assert job.error_message == "kaboom"
    assert "Traceback" in job.error_traceback
    with pytest.raises(ValueError, match="Task failed"):
        _ = result.return_value


def test_async_task_runs():
    result = finished(tasks.async_add.enqueue(20, 22))
    assert result.return_value == 42


def test_result_that_is_not_json_fails_the_job():
    result = finished(tasks.not_json.enqueue())
    job = Job.objects.get(pk=result.id)
    assert job.status == JobStatus.FAILED
    assert job.error_class == "jobs_ui.exceptions.InvalidJobResult"
    assert "must be JSON" in job.error_message


def test_result_over_the_limit_fails_the_job(settings):
    settings.JOBS_UI = {**settings.JOBS_UI, "MAX_RESULT_BYTES": 100}
    result = finished(tasks.large_result.enqueue(500))
    job = Job.objects.get(pk=result.id)
    assert job.status == JobStatus.FAILED
    assert "over the limit of 100 bytes" in job.error_message


def test_retries_with_doubling_delay():
    result = finished(tasks.flaky.enqueue("k"))
    job = Job.objects.get(pk=result.id)
    assert job.status == JobStatus.SUCCESSFUL
    assert job.attempts == 3
    assert len(job.worker_ids) == 3
    assert tasks.calls == ["k", "k", "k"]
    assert result.return_value == 3


def test_run_after_waits_until_due():
    later = tasks.record.using(run_after=timezone.now() + timedelta(hours=1)).enqueue("later")
    soon = finished(tasks.record.enqueue("now"))
    assert soon.status == TaskResultStatus.SUCCESSFUL
    assert Job.objects.get(pk=later.id).status == JobStatus.READY
    assert tasks.calls == ["now"]


def test_priority_then_fifo(settings):
    settings.JOBS_UI = {**settings.JOBS_UI, "THREAD_POOL_SIZE": 1}
    blocker = tasks.wait_for_gate.enqueue("hold")
    wait_for_status(blocker.id, JobStatus.RUNNING)
    low = tasks.record.using(priority=-5).enqueue("low")
    first = tasks.record.enqueue("normal-1")
    second = tasks.record.enqueue("normal-2")
    high = tasks.record.using(priority=10).enqueue("high")
    tasks.gate("hold").set()
    for result in (low, first, second, high):
        finished(result)
    assert tasks.calls == ["high", "normal-1", "normal-2", "low"]


def test_jobs_beyond_the_pool_wait_as_ready(settings):
    settings.JOBS_UI = {**settings.JOBS_UI, "THREAD_POOL_SIZE": 2}
    held = [tasks.wait_for_gate.enqueue(f"g{i}") for i in range(2)]
    for result in held:
        wait_for_status(result.id, JobStatus.RUNNING)
    queued = tasks.record.enqueue("queued")
    assert Job.objects.get(pk=queued.id).status == JobStatus.READY
    tasks.gate("g0").set()
    assert finished(queued).status == TaskResultStatus.SUCCESSFUL


def test_invalid_task_options_are_rejected():
    def f():
        return None

    f.__module__ = __name__
    with pytest.raises(InvalidTask, match="executor must be one of"):
        task(executor="cloud")(tasks.echo.func)
    with pytest.raises(InvalidTask, match="retries"):
        task(retries=-1)(tasks.echo.func)
    with pytest.raises(InvalidTask, match="timeout"):
        task(timeout=0)(tasks.echo.func)


def test_backend_capabilities():
    assert JobsBackend.task_class is JobTask
    assert JobsBackend.supports_defer
    assert JobsBackend.supports_priority
    assert JobsBackend.supports_get_result
    assert JobsBackend.supports_async_task


def test_async_enqueue_and_get_result():
    from asgiref.sync import async_to_sync

    result = finished(async_to_sync(tasks.add.aenqueue)(40, b=2))
    again = async_to_sync(tasks.add.aget_result)(result.id)
    assert again.return_value == 42
    async_to_sync(again.arefresh)()
    assert again.status == TaskResultStatus.SUCCESSFUL
