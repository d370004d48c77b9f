"""The progress write of a running attempt, and the read of its cancel flag: (still running, cancel requested)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from jobs_ui.jobs.cancel import cancel
from jobs_ui.jobs.finish import finish
from jobs_ui.jobs.progress import cancel_state, record_progress
from jobs_ui.models import Job, JobStatus
from tests.helpers import claimed

pytestmark = pytest.mark.django_db

EARLIER = timezone.now() - timedelta(minutes=5)


def running() -> Job:
    """A job in its first attempt, its lease renewed long ago."""
    [job] = claimed(1)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=EARLIER)
    return job


def taken_over(job: Job) -> None:
    """Another attempt of ``job`` runs (as after a recovery and a new claim)."""
    Job.objects.filter(pk=job.pk).update(attempts=F("attempts") + 1)


def with_progress(job: Job) -> Job:
    job.progress_done, job.progress_total, job.progress_message = 3, 10, "three of ten"
    job.extra = {"rows": 3}
    job.workspace = {"cursor": "c3"}
    return job


def progress_of(job: Job) -> tuple[object, ...]:
    row = Job.objects.get(pk=job.pk)
    return row.progress_done, row.progress_total, row.progress_message, row.extra, row.workspace


class TestRecordProgress:
    def test_a_running_attempt_writes_its_progress_and_renews_its_lease(self):
        job = with_progress(running())
        assert record_progress(job) == (True, False)
        assert progress_of(job) == (3, 10, "three of ten", {"rows": 3}, {"cursor": "c3"})
        row = Job.objects.get(pk=job.pk)
        assert row.progress_at is not None
        assert row.heartbeat_at is not None
        assert row.heartbeat_at > EARLIER

    def test_a_requested_cancel_is_reported_and_the_progress_still_written(self):
        job = running()
        cancel(job)
        assert record_progress(with_progress(job)) == (True, True)
        assert progress_of(job) == (3, 10, "three of ten", {"rows": 3}, {"cursor": "c3"})

    def test_an_attempt_taken_over_writes_nothing(self):
        job = running()
        taken_over(job)
        assert record_progress(with_progress(job)) == (False, True)
        assert progress_of(job) == (0, None, "", {}, {})
        row = Job.objects.get(pk=job.pk)
        assert (row.progress_at, row.heartbeat_at) == (None, EARLIER)


class TestCancelState:
    def test_a_running_attempt(self):
        assert cancel_state(running()) == (True, False)

    def test_a_running_attempt_asked_to_cancel(self):
        job = running()
        cancel(job)
        assert cancel_state(job) == (True, True)

    def test_an_attempt_taken_over(self):
        job = running()
        taken_over(job)
        assert cancel_state(job) == (False, True)

    def test_a_finished_attempt(self):
        job = running()
        assert finish(job, JobStatus.SUCCESSFUL)
        assert cancel_state(job) == (False, True)
