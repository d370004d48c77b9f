"""A job row as Django's ``TaskResult``: found by id in its backend, its status, errors and return value."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.tasks.exceptions import TaskResultDoesNotExist
from django.utils import timezone

from jobs_ui.jobs.cancel import cancel
from jobs_ui.jobs.results import task_result, to_task_result
from jobs_ui.models import JobStatus
from tests import tasks
from tests.helpers import make_job, succeeded

pytestmark = pytest.mark.django_db

LATER = timezone.now() + timedelta(hours=1)


class TestTaskResult:
    def test_the_job_of_that_backend(self):
        job = succeeded(None, 5, task_path="tests.tasks.add", args=[2], kwargs={"b": 3}, worker_ids=["w"])
        result = task_result("default", str(job.pk))
        assert result.task is tasks.add
        assert (result.id, result.backend, result.status) == (str(job.pk), "default", TaskResultStatus.SUCCESSFUL)
        assert (result.args, result.kwargs, result.worker_ids, result.return_value) == ([2], {"b": 3}, ["w"], 5)

    def test_unknown_and_malformed_ids(self):
        with pytest.raises(TaskResultDoesNotExist):
            task_result("default", str(uuid.uuid4()))
        with pytest.raises(TaskResultDoesNotExist):
            task_result("default", "not-a-uuid")

    def test_a_job_of_another_backend_is_not_found(self):
        job = make_job(backend="other")
        with pytest.raises(TaskResultDoesNotExist):
            task_result("default", str(job.pk))
        assert task_result("other", str(job.pk)).id == str(job.pk)


class TestToTaskResult:
    def test_a_cancelled_job_reads_as_failed(self):
        job = cancel(make_job(task_path="tests.tasks.record", args=["x"], run_after=LATER))
        assert job.status == JobStatus.CANCELLED
        result = to_task_result(job, tasks.record)
        assert result.status == TaskResultStatus.FAILED
        assert result.errors[0].exception_class_path == "jobs_ui.exceptions.JobCancelled"

    def test_a_job_cancelled_before_it_ran_has_its_one_error(self):
        job = cancel(make_job(task_path="tests.tasks.add", executor="worker"))
        (error,) = to_task_result(job, tasks.add).errors
        assert error.exception_class_path == "jobs_ui.exceptions.JobCancelled"

    def test_the_errors_are_those_of_every_failed_attempt_oldest_first(self):
        at = timezone.now().isoformat()
        job = make_job(
            status=JobStatus.FAILED,
            attempts=2,
            errors=[
                {"attempt": 1, "class": "builtins.RuntimeError", "message": "one", "traceback": "first", "at": at},
                {"attempt": 2, "class": "builtins.ValueError", "message": "two", "traceback": "second", "at": at},
            ],
            error_class="builtins.ValueError",
            error_message="two",
            error_traceback="second",
        )
        errors = to_task_result(job, tasks.echo).errors
        assert [(e.exception_class_path, e.traceback) for e in errors] == [
            ("builtins.RuntimeError", "first"),
            ("builtins.ValueError", "second"),
        ]

    def test_an_expired_result_reads_as_none(self):
        kept = succeeded(None, {"rows": 3})
        expired = succeeded(None, {"rows": 3}, result_expires_at=timezone.now() - timedelta(seconds=1))
        assert to_task_result(kept, tasks.echo).return_value == {"rows": 3}
        result = to_task_result(expired, tasks.echo)
        assert result.status == TaskResultStatus.SUCCESSFUL
        assert result.return_value is None
