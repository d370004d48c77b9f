"""Retry controls of a task: retry_on, retry_max_delay, Retry raised by the task, and expires."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.tasks import task
from django.tasks.exceptions import InvalidTask
from django.utils import timezone

from jobs_ui import Retry
from jobs_ui.jobs.expire import expire_jobs
from jobs_ui.models import Job, JobStatus
from tests import tasks
from tests.waiting import wait_for_status, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _threads(settings):
    settings.JOBS_UI = {**settings.JOBS_UI, "THREAD_POOL_SIZE": 1}


class TestRetryOn:
    def test_a_listed_error_is_retried(self):
        job = wait_for_status(
            tasks.retried_on_connection_errors.enqueue("a", "ConnectionError").id, JobStatus.SUCCESSFUL
        )
        assert (job.attempts, [entry["class"] for entry in job.errors]) == (2, ["builtins.ConnectionError"])

    def test_another_error_fails_at_once_with_attempts_left(self):
        job = wait_for_status(tasks.retried_on_connection_errors.enqueue("b", "ValueError").id, JobStatus.FAILED)
        assert (job.attempts, job.max_attempts, job.error_class) == (1, 4, "builtins.ValueError")
        assert tasks.calls.count("b") == 1


class TestRetryRaised:
    def test_the_task_asks_and_is_tried_again_after_its_delay(self):
        job = wait_for_status(tasks.asks_to_retry.enqueue("c", 0.01).id, JobStatus.SUCCESSFUL)
        assert job.attempts == 2
        assert [(entry["class"], entry["message"]) for entry in job.errors] == [
            ("jobs_ui.exceptions.Retry", "Not ready yet.")
        ]

    def test_without_a_delay_the_tasks_backoff_applies(self):
        result = tasks.asks_to_retry.enqueue("d", None)
        job = wait_until(
            lambda: Job.objects.filter(pk=result.id, status=JobStatus.READY, attempts=1).first(),
            what="the job to wait for its retry",
        )
        assert job is not None
        assert job.run_after is not None
        assert job.run_after - timezone.now() > timedelta(seconds=50)  # retry_delay=60

    def test_with_no_attempt_left_the_job_fails_with_its_message(self):
        job = wait_for_status(tasks.asks_to_retry_once.enqueue("e", 0).id, JobStatus.FAILED)
        assert (job.error_class, job.error_message) == ("jobs_ui.exceptions.Retry", "Not ready yet.")

    def test_a_negative_delay_is_refused(self):
        with pytest.raises(ValueError, match="0 or more"):
            Retry(delay=-1)


def test_retry_max_delay_caps_the_backoff():
    job = wait_for_status(tasks.capped_backoff.enqueue("f").id, JobStatus.SUCCESSFUL, timeout=10)
    assert job.attempts == 3  # retry_delay=100 would have waited minutes


class TestExpires:
    def test_a_job_started_in_time_runs(self):
        assert wait_for_status(tasks.expiring.enqueue(7).id, JobStatus.SUCCESSFUL).result == 7

    def test_a_ready_job_past_its_time_ends_cancelled_and_never_runs(self):
        job = Job.objects.create(task_path="tests.tasks.expiring", args=[1], executor="worker")
        Job.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        fresh = Job.objects.create(task_path="tests.tasks.expiring", args=[2], executor="worker")
        Job.objects.filter(pk=fresh.pk).update(expires_at=timezone.now() + timedelta(hours=1))
        assert expire_jobs() == 1
        job.refresh_from_db()
        assert (job.status, job.error_class) == (JobStatus.CANCELLED, "jobs_ui.exceptions.JobExpired")
        assert job.error_message.startswith("Expired: it was not started by ")
        assert job.attempts == 0
        assert Job.objects.get(pk=fresh.pk).status == JobStatus.READY

    def test_a_job_claimed_after_its_time_is_cancelled_without_running(self, start_worker, lines):
        job = Job.objects.create(task_path="tests.tasks.append_line", args=[lines.path, "ran"], executor="worker")
        Job.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        # The worker may claim it before any pass ends it: either way it never runs.
        start_worker()
        job = wait_for_status(job.pk, JobStatus.CANCELLED, JobStatus.SUCCESSFUL, JobStatus.FAILED)
        assert (job.status, job.error_class) == (JobStatus.CANCELLED, "jobs_ui.exceptions.JobExpired")
        assert lines.read() == []

    def test_enqueue_sets_the_time(self):
        before = timezone.now()
        job = Job.objects.get(pk=tasks.expiring.enqueue(1).id)
        assert job.expires_at is not None
        assert before + timedelta(seconds=29) < job.expires_at < timezone.now() + timedelta(seconds=31)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"retry_on": ValueError}, "retry_on must be a tuple of exception classes"),
        ({"retry_on": (ValueError, "x")}, "retry_on must be a tuple of exception classes"),
        ({"retry_max_delay": -1}, "retry_max_delay must be >= 0"),
        ({"expires": 0}, "expires must be > 0"),
    ],
)
def test_bad_options_are_refused(options, error):
    with pytest.raises(InvalidTask, match=error):
        task(**options)(tasks.echo.func)
