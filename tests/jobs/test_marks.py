"""Dispatch marks: ``Job.dispatched_at`` says which READY attempts have a message in RabbitMQ."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from jobs_ui.db import statements
from jobs_ui.jobs import marks
from jobs_ui.models import Job, JobStatus
from tests.helpers import claimed, make_job, ready_jobs
from tests.locking import row_locked_elsewhere

pytestmark = pytest.mark.django_db

EARLIER = timezone.now() - timedelta(minutes=5)


def marked(*jobs: Job) -> list[bool]:
    """Whether each job's row has its mark."""
    return [Job.objects.get(pk=job.pk).dispatched_at is not None for job in jobs]


class TestMarkDispatched:
    def test_a_late_confirm_does_not_mark_the_next_attempt(self):
        # A retry of the job: READY again in attempt 1, its message not published yet.
        job = make_job(executor="worker", attempts=1)
        marks.mark_dispatched([(job.pk, 0)])
        assert marked(job) == [False]
        marks.mark_dispatched([(job.pk, 1)])
        assert marked(job) == [True]

    def test_only_the_named_ready_attempts_are_marked_and_a_mark_is_kept(self):
        named, other = ready_jobs(2)
        already = make_job(executor="worker", dispatched_at=EARLIER)
        [running] = claimed(1)
        marks.mark_dispatched([(named.pk, 0), (already.pk, 0), (running.pk, running.attempts)])
        assert marked(named, other, running) == [True, False, False]
        assert Job.objects.get(pk=already.pk).dispatched_at == EARLIER
        marks.mark_dispatched([])

    def test_more_marks_than_one_statement_names_are_all_written(self, monkeypatch):
        monkeypatch.setattr(statements, "MARKS_PER_STATEMENT", 2)
        jobs = ready_jobs(5)
        marks.mark_dispatched([(job.pk, 0) for job in jobs[:4]])
        assert marked(*jobs) == [True, True, True, True, False]

    @pytest.mark.skipif(connection.vendor != "postgresql", reason="Row locks held by another session: PostgreSQL")
    @pytest.mark.django_db(transaction=True)
    def test_a_row_another_session_keeps_locked_is_skipped_not_waited_for(self):
        locked, free = ready_jobs(2)
        with row_locked_elsewhere(locked.pk):
            marks.mark_dispatched([(locked.pk, 0), (free.pk, 0)])
            assert marked(locked, free) == [False, True]


class TestForgetMessage:
    def test_only_the_mark_of_that_ready_attempt_is_cleared(self):
        job = make_job(executor="worker", attempts=1, dispatched_at=EARLIER)
        [running] = claimed(1)
        Job.objects.filter(pk=running.pk).update(dispatched_at=EARLIER)
        marks.forget_message(job.pk, 0)  # the message of an earlier attempt
        marks.forget_message(running.pk, running.attempts)
        assert marked(job, running) == [True, True]
        marks.forget_message(job.pk, 1)
        assert marked(job) == [False]


class TestForgetMessages:
    def test_only_due_ready_jobs_of_those_tasks_in_that_queue_are_left_to_the_sweep(self):
        mine: dict[str, Any] = {
            "executor": "worker",
            "task_path": "tests.tasks.add",
            "queue_name": "q",
            "dispatched_at": EARLIER,
        }
        due = make_job(**mine)
        was_delayed = make_job(**mine, run_after=EARLIER)
        other_listed_task = make_job(**{**mine, "task_path": "tests.tasks.echo"})
        kept = [
            make_job(**{**mine, "task_path": "tests.tasks.record"}),
            make_job(**{**mine, "queue_name": "other"}),
            make_job(**mine, run_after=timezone.now() + timedelta(hours=1)),
            make_job(**mine, status=JobStatus.RUNNING, attempts=1),
            make_job(**{**mine, "executor": "thread"}),
        ]
        marks.forget_messages("q", (path for path in ["tests.tasks.add", "tests.tasks.echo"]))
        assert marked(due, was_delayed, other_listed_task) == [False, False, False]
        assert marked(*kept) == [True] * len(kept)
