"""Each failed attempt leaves an entry in ``Job.errors``, bounded; ``get_result()`` returns them all."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.tasks import default_task_backend

from jobs_ui.jobs.finish import ERROR_MESSAGE_LIMIT, ERROR_TRACEBACK_LIMIT, ERRORS_KEPT
from jobs_ui.models import Job, JobStatus
from tests import tasks
from tests.waiting import wait_for_status

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_failed_attempt_is_kept_oldest_first():
    result = tasks.flaky.enqueue("k")
    job = wait_for_status(result.id, JobStatus.SUCCESSFUL, JobStatus.FAILED)
    assert job.status == JobStatus.SUCCESSFUL
    assert [(e["attempt"], e["class"], e["message"]) for e in job.errors] == [
        (1, "builtins.RuntimeError", "attempt 1 fails"),
        (2, "builtins.RuntimeError", "attempt 2 fails"),
    ]
    assert all("RuntimeError: attempt" in e["traceback"] for e in job.errors)
    assert job.finished_at is not None
    assert all(datetime.fromisoformat(e["at"]) <= job.finished_at for e in job.errors)
    errors = default_task_backend.get_result(result.id).errors
    assert [e.exception_class_path for e in errors] == ["builtins.RuntimeError"] * 2
    assert "attempt 1 fails" in errors[0].traceback
    assert "attempt 2 fails" in errors[1].traceback


def test_only_the_last_attempts_are_kept():
    result = tasks.fails_every_time.enqueue("again")
    job = wait_for_status(result.id, JobStatus.FAILED)
    assert job.attempts == 12
    assert [e["attempt"] for e in job.errors] == list(range(13 - ERRORS_KEPT, 13))
    assert len(default_task_backend.get_result(result.id).errors) == ERRORS_KEPT


def test_long_messages_and_tracebacks_are_cut():
    result = tasks.explode.enqueue("m" * 20_000)
    job = wait_for_status(result.id, JobStatus.FAILED)
    (entry,) = job.errors
    assert entry["message"] == "m" * (ERROR_MESSAGE_LIMIT - 1) + "…"
    assert len(entry["traceback"]) == ERROR_TRACEBACK_LIMIT
    # The end of a traceback says what was raised: that part is kept.
    assert entry["traceback"].startswith("…")
    assert entry["traceback"].endswith("m" * 100 + "\n")
    assert len(job.error_message) == 20_000  # the last error itself is unchanged


def test_a_worker_keeps_every_failed_attempt(worker_mode, start_worker, lines):
    retried = tasks.fails_twice.enqueue(lines.path)
    # Failing together: a worker writes their outcomes in one batch.
    failing = [tasks.explode.enqueue(f"boom {i}") for i in range(4)]
    assert start_worker("--pool", "thread", "--concurrency", "4", "--until-done").wait() == 0
    job = Job.objects.get(pk=retried.id)
    assert job.status == JobStatus.SUCCESSFUL
    assert [(e["attempt"], e["message"]) for e in job.errors] == [(1, "attempt 1 fails"), (2, "attempt 2 fails")]
    for i, result in enumerate(failing):
        job = Job.objects.get(pk=result.id)
        assert [(e["attempt"], e["class"], e["message"]) for e in job.errors] == [
            (1, "builtins.ValueError", f"boom {i}")
        ]
