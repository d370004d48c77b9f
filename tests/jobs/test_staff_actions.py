"""Staff's actions on job rows: retry as a linked job, requeue, run now, and the record of each bulk action."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs_ui.exceptions import JobActionRefused
from jobs_ui.jobs.requeue import requeue, run_now
from jobs_ui.jobs.retry import retry
from jobs_ui.jobs.staff_actions import ACTIONS, act
from jobs_ui.models import Job, JobStatus, StaffAction
from tests.helpers import claimed, make_job, ready_jobs

pytestmark = pytest.mark.django_db


class TestRetry:
    @pytest.mark.parametrize("status", [JobStatus.FAILED, JobStatus.CANCELLED])
    def test_a_new_ready_job_with_the_same_task_arguments_owner_and_visibility(self, alice, status):
        old = make_job(alice, task_path="tests.tasks.add", args=[1], kwargs={"b": 2}, public=True, status=status)
        new = retry(old)
        new.refresh_from_db()
        assert new.pk != old.pk
        assert (new.status, new.task_path, new.args, new.kwargs) == (JobStatus.READY, "tests.tasks.add", [1], {"b": 2})
        assert (new.owner_id, new.public, new.retry_of_id) == (alice.pk, True, old.pk)
        assert list(old.retries.all()) == [new]

    @pytest.mark.parametrize("status", [JobStatus.READY, JobStatus.RUNNING, JobStatus.SUCCESSFUL])
    def test_only_failed_or_cancelled_jobs(self, status):
        old = make_job(status=status)
        with pytest.raises(JobActionRefused, match="failed or cancelled"):
            retry(old)
        assert Job.objects.count() == 1

    def test_not_when_the_task_is_gone(self):
        old = make_job(task_path="tests.tasks.no_such_task", status=JobStatus.FAILED)
        with pytest.raises(JobActionRefused, match="no longer exists"):
            retry(old)
        assert Job.objects.count() == 1


class TestRequeue:
    def test_a_ready_job_is_dispatched_again(self):
        (job,) = ready_jobs(1)
        Job.objects.filter(pk=job.pk).update(dispatched_at=timezone.now())
        assert requeue(job).status == JobStatus.READY
        assert Job.objects.get(pk=job.pk).dispatched_at is None

    def test_a_running_job_of_a_silent_worker_is_ready_again_without_using_an_attempt(self):
        (job,) = claimed(1, "gone")
        Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=60))
        job = requeue(job)
        assert (job.status, job.worker_id, job.attempts, job.max_attempts) == (JobStatus.READY, "", 1, 2)

    def test_never_a_running_job_whose_worker_still_answers(self):
        (job,) = claimed(1, "alive")
        with pytest.raises(JobActionRefused, match="still answers"):
            requeue(job)
        job.refresh_from_db()
        assert (job.status, job.worker_id) == (JobStatus.RUNNING, "alive")

    def test_not_a_finished_job(self):
        job = make_job(status=JobStatus.SUCCESSFUL)
        with pytest.raises(JobActionRefused, match="retry it instead"):
            requeue(job)


class TestRunNow:
    def test_a_delayed_job_is_due_at_once(self):
        (job,) = ready_jobs(1, run_after=timezone.now() + timedelta(hours=1))
        assert run_now(job).run_after is None
        assert Job.objects.due().filter(pk=job.pk).exists()

    def test_not_a_job_that_is_due_already_or_not_waiting(self):
        (due,) = ready_jobs(1)
        with pytest.raises(JobActionRefused, match="not waiting for a later time"):
            run_now(due)
        with pytest.raises(JobActionRefused, match="not waiting to start"):
            run_now(make_job(status=JobStatus.FAILED))


class TestAct:
    def test_each_job_on_its_own_the_others_counted_by_reason_and_all_recorded(self, alice, bob):
        ready = ready_jobs(2)
        finished = [make_job(status=JobStatus.SUCCESSFUL) for _ in range(3)]
        outcome = act(ACTIONS["cancel"], [*ready, *finished], by=alice, selection="status=READY")
        assert set(Job.objects.filter(status=JobStatus.CANCELLED).values_list("pk", flat=True)) == {
            job.pk for job in ready
        }
        assert outcome.skipped == {"This job has already finished (successful).": 3}
        record = StaffAction.objects.get()
        assert (record.user, record.username, record.action, record.selection) == (
            alice,
            "alice",
            "cancel",
            "status=READY",
        )
        assert (record.done, record.skipped) == (2, 3)
        assert set(record.ids) == {str(job.pk) for job in ready}
        assert Job.objects.get(pk=ready[0].pk).error_message == "Cancelled by alice."

    def test_retries_are_recorded_with_their_new_jobs(self, alice):
        failed = make_job(alice, status=JobStatus.FAILED)
        outcome = act(ACTIONS["retry"], [failed], by=alice, selection=f"job={failed.pk}")
        (new,) = outcome.new_jobs
        assert StaffAction.objects.get().new_job_ids == [str(new.pk)]
        assert new.retry_of_id == failed.pk

    def test_at_most_the_bulk_limit(self, alice, monkeypatch):
        monkeypatch.setattr("jobs_ui.jobs.staff_actions.BULK_LIMIT", 3)
        jobs = ready_jobs(5)
        assert act(ACTIONS["cancel"], jobs, by=alice, selection="all").record.done == 3
        assert Job.objects.filter(status=JobStatus.READY).count() == 2
