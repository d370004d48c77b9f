from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from django.db.models.functions import Now
from django.utils import timezone

from jobs_ui.exceptions import JobNotCancellable
from jobs_ui.jobs.cancel import cancel
from jobs_ui.jobs.claim import claim
from jobs_ui.models import Job, JobStatus
from tests import tasks
from tests.waiting import wait_for_status, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_ready_job_is_cancelled_at_once_and_never_runs(alice):
    result = tasks.record.using(run_after=timezone.now() + timedelta(hours=1)).enqueue("never")
    job = cancel(Job.objects.get(pk=result.id), by=alice)
    assert job.status == JobStatus.CANCELLED
    assert job.finished_at is not None
    assert job.error_message == "Cancelled by alice."
    Job.objects.filter(pk=job.pk).update(run_after=None)
    assert claim(job.pk, "someone") is None
    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED
    assert tasks.calls == []


def test_ready_job_waiting_for_the_pool_never_runs(settings):
    settings.JOBS_UI = {**settings.JOBS_UI, "THREAD_POOL_SIZE": 1}
    blocker = tasks.wait_for_gate.enqueue("hold")
    wait_for_status(blocker.id, JobStatus.RUNNING)
    queued = tasks.record.enqueue("queued")
    after = tasks.record.enqueue("after")
    cancel(Job.objects.get(pk=queued.id))
    tasks.gate("hold").set()
    wait_for_status(after.id, JobStatus.SUCCESSFUL)
    assert tasks.calls == ["after"]
    assert Job.objects.get(pk=queued.id).status == JobStatus.CANCELLED


def test_running_job_stops_at_next_check():
    result = tasks.wait_forever.enqueue()
    job = wait_for_status(result.id, JobStatus.RUNNING)
    job = cancel(job)
    assert job.cancel_requested_at is not None
    # The task may already have seen the flag and stopped.
    assert job.is_cancelling or job.status == JobStatus.CANCELLED
    job = wait_for_status(result.id, JobStatus.CANCELLED)
    assert job.error_class == "jobs_ui.exceptions.JobCancelled"
    assert job.finished_at is not None


def test_cancel_flag_from_another_process_is_seen():
    # Only the database flag, as a cancel from another web process would set it.
    result = tasks.wait_forever.enqueue()
    wait_for_status(result.id, JobStatus.RUNNING)
    Job.objects.filter(pk=result.id).update(cancel_requested_at=Now())
    wait_for_status(result.id, JobStatus.CANCELLED)


def test_second_cancel_of_running_job_is_harmless():
    result = tasks.wait_forever.enqueue()
    job = wait_for_status(result.id, JobStatus.RUNNING)
    Job.objects.filter(pk=job.pk).update(cancel_requested_at=Now())
    first = Job.objects.get(pk=job.pk).cancel_requested_at
    # The task may finish between the two reads; both outcomes are valid.
    try:
        again = cancel(Job.objects.get(pk=job.pk))
    except JobNotCancellable:
        again = Job.objects.get(pk=job.pk)
    assert again.cancel_requested_at == first
    wait_for_status(result.id, JobStatus.CANCELLED)


def test_cancel_of_finished_job_is_an_error_and_changes_nothing():
    result = tasks.add.enqueue(1, 2)
    job = wait_for_status(result.id, JobStatus.SUCCESSFUL)
    with pytest.raises(JobNotCancellable, match="already finished"):
        cancel(job)
    again = Job.objects.get(pk=job.pk)
    assert again.status == JobStatus.SUCCESSFUL
    assert again.cancel_requested_at is None


def test_job_that_finishes_despite_cancel_keeps_its_result():
    result = tasks.wait_for_gate.enqueue("g")
    job = wait_for_status(result.id, JobStatus.RUNNING)
    # The flag is set but the task is released before its next check sees it.
    tasks.gate("g").set()
    with contextlib.suppress(JobNotCancellable):
        cancel(job)
    job = wait_for_status(result.id, JobStatus.SUCCESSFUL, JobStatus.CANCELLED)
    assert job.status in (JobStatus.SUCCESSFUL, JobStatus.CANCELLED)
    assert job.finished_at is not None
    assert wait_until(lambda: Job.objects.unfinished().count() == 0)
