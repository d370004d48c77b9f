"""Helpers for projects' own tests: the immediate executor, and run_jobs() (jobs_ui.testing)."""

from __future__ import annotations

import pytest
from django.db import transaction

from jobs_ui.models import Job, JobStatus
from jobs_ui.testing import run_jobs
from tests import tasks

# Inside the test's transaction, as a project's TestCase runs them.
pytestmark = pytest.mark.django_db


class TestImmediateExecutor:
    @pytest.fixture(autouse=True)
    def _immediate(self, settings):
        settings.JOBS_UI = {**settings.JOBS_UI, "EXECUTOR": "immediate"}

    def test_the_job_runs_inside_enqueue_with_a_real_row_and_context(self):
        result = tasks.count.enqueue(3)
        assert result.status == "SUCCESSFUL"
        assert result.return_value == 3
        job = Job.objects.get(pk=result.id)
        assert (job.status, job.executor, job.attempts, job.result) == (JobStatus.SUCCESSFUL, "immediate", 1, 3)
        assert (job.progress_done, job.progress_total, job.progress_message) == (3, 3, "Counted 3")

    def test_retries_run_at_once(self):
        result = tasks.flaky.enqueue("immediate")
        assert result.status == "SUCCESSFUL"
        job = Job.objects.get(pk=result.id)
        assert (job.attempts, len(job.errors)) == (3, 2)

    def test_a_failure_is_the_jobs_not_the_callers(self):
        result = tasks.explode.enqueue("boom")
        assert result.status == "FAILED"
        assert Job.objects.get(pk=result.id).error_message == "boom"

    def test_it_rolls_back_with_the_callers_transaction(self):
        def view() -> None:
            with transaction.atomic():
                tasks.add.enqueue(1, 2)
                raise RuntimeError("the view failed")

        with pytest.raises(RuntimeError):
            view()
        assert not Job.objects.exists()

    def test_a_task_that_names_its_executor_keeps_it(self):
        # executor="worker" in @task: launched for workers, it waits for run_jobs().
        result = tasks.on_worker.enqueue()
        assert result.status == "READY"
        assert [job.result for job in run_jobs()] == ["worker"]


class TestRunJobs:
    def test_runs_the_queued_worker_jobs_and_those_they_queue(self):
        result = tasks.queues_another.enqueue(7)
        assert Job.objects.get(pk=result.id).status == JobStatus.READY
        ran = run_jobs()
        assert [job.task_path for job in ran] == ["tests.tasks.queues_another", "tests.tasks.on_worker"]
        assert [job.status for job in ran] == [JobStatus.SUCCESSFUL, JobStatus.SUCCESSFUL]
        first = ran[0]
        assert (first.result, first.workspace, first.progress_message) == (7, {"n": 7}, "Queued the next one")
        assert run_jobs() == []

    def test_only_the_executors_and_queues_asked_for(self):
        thread_job = tasks.add.enqueue(1, 1)  # a thread job of this process
        Job.objects.filter(pk=thread_job.id).update(status=JobStatus.READY)
        tasks.on_worker.enqueue()
        assert [job.task_path for job in run_jobs(queues=["elsewhere"])] == []
        assert [job.task_path for job in run_jobs()] == ["tests.tasks.on_worker"]

    def test_the_fixture_is_run_jobs(self, jobs_ui_run_jobs):
        tasks.on_worker.enqueue()
        (job,) = jobs_ui_run_jobs()
        assert job.result == "worker"

    def test_a_view_that_launches_a_job_then_its_result(self, client, alice):
        from jobs_ui.views.launch_endpoint import sign_launch

        client.force_login(alice)
        payload = sign_launch("tests.tasks.on_worker", [], {}, public=None, user_id=alice.pk)
        response = client.post("/jobs/launch/", {"payload": payload})
        assert response.status_code == 302  # to the job page (no htmx)
        (job,) = run_jobs()
        assert (job.owner, job.status, job.result) == (alice, JobStatus.SUCCESSFUL, "worker")
