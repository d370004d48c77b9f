"""A task that raises SystemExit or KeyboardInterrupt fails its job; the slot keeps serving (thread executor)."""

from __future__ import annotations

import pytest

from jobs_ui.models import JobStatus
from tests import tasks
from tests.waiting import wait_for_status

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def one_thread(settings):
    settings.JOBS_UI = {**settings.JOBS_UI, "THREAD_POOL_SIZE": 1}


@pytest.mark.usefixtures("one_thread")
def test_sys_exit_fails_the_job_and_the_thread_runs_the_next():
    result = tasks.exits.enqueue(3)
    job = wait_for_status(result.id, JobStatus.FAILED, JobStatus.SUCCESSFUL)
    assert job.status == JobStatus.FAILED
    assert job.error_class == "builtins.SystemExit"
    assert job.error_message == "The task raised SystemExit (exit code 3)."
    assert "sys.exit(code)" in job.error_traceback
    after = tasks.add.enqueue(1, 2)
    assert wait_for_status(after.id, JobStatus.SUCCESSFUL).result == 3


@pytest.mark.usefixtures("one_thread")
def test_keyboard_interrupt_raised_by_a_task_fails_the_job():
    result = tasks.interrupts.enqueue()
    job = wait_for_status(result.id, JobStatus.FAILED)
    assert (job.error_class, job.error_message) == (
        "builtins.KeyboardInterrupt",
        "The task raised KeyboardInterrupt.",
    )
    after = tasks.add.enqueue(2, 2)
    assert wait_for_status(after.id, JobStatus.SUCCESSFUL).result == 4


def test_a_task_that_returns_after_its_timeout_fails():
    result = tasks.overruns_timeout.enqueue()
    job = wait_for_status(result.id, JobStatus.FAILED, JobStatus.SUCCESSFUL)
    assert (job.status, job.error_class, job.error_message) == (
        JobStatus.FAILED,
        "jobs_ui.exceptions.JobTimedOut",
        "Timed out after 0.3 s.",
    )
    assert job.result is None
