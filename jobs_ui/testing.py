"""Helpers for a project's own tests: run the jobs its code queued, here and now, without a worker process.

    from jobs_ui.testing import run_jobs

    def test_export(client):
        client.post("/reports/export/")      # the view launches a worker job
        (job,) = run_jobs()                  # runs it (and what it queues) in this thread
        assert job.status == "SUCCESSFUL"

With pytest, ``pytest_plugins = ["jobs_ui.testing"]`` in a ``conftest.py`` gives the fixture
``jobs_ui_run_jobs`` (this function). To run every job inside its own launch instead, set
``JOBS_UI = {"EXECUTOR": "immediate"}`` in the test settings (as Celery's eager mode).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from jobs_ui.jobs.inline import run_inline
from jobs_ui.models import Job

# Jobs one call runs at most, jobs they queue included: a job that queues itself cannot loop forever.
MAX_JOBS = 1000


def run_jobs(*, executors: Iterable[str] = ("worker",), queues: Iterable[str] | None = None) -> list[Job]:
    """Run every READY job of ``executors`` (and ``queues``, all by default) in this thread, oldest first,
    each to its end (retries at once, delays skipped), then those they queued; the jobs run, as they ended.

    Inside the test's transaction, if any. ``RuntimeError`` after ``MAX_JOBS`` jobs.
    """
    ran: list[Job] = []
    while True:
        ready = Job.objects.ready().filter(executor__in=list(executors)).order_by("enqueued_at", "id")
        if queues is not None:
            ready = ready.filter(queue_name__in=list(queues))
        batch = list(ready[:100])
        if not batch:
            return ran
        for job in batch:
            if len(ran) >= MAX_JOBS:
                raise RuntimeError(f"run_jobs() ran {MAX_JOBS} jobs and more are queued: does a job queue itself?")
            ran.append(run_inline(job))


try:
    import pytest
except ImportError:  # pragma: no cover - without pytest, only run_jobs()
    pass
else:

    @pytest.fixture
    def jobs_ui_run_jobs() -> Callable[..., Any]:
        """``run_jobs`` (``jobs_ui.testing``): ``jobs_ui_run_jobs()`` runs what the test queued."""
        return run_jobs
