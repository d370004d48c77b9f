"""What many test modules build: job rows, and the headers of an htmx request."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.utils import timezone

from jobs_ui.jobs.claim import claim_wanted
from jobs_ui.models import Job, JobStatus

HX = {"HX-Request": "true"}
# Columns that a poll or status.json of an unfinished job must not read: they can be large,
# and neither shows them.
HEAVY_COLUMNS = ("args", "kwargs", "workspace", "result", "errors", "error_traceback")


def make_job(owner: Any = None, *, save: bool = True, **fields: Any) -> Job:
    """A job of ``tests.tasks.echo(1)`` unless ``fields`` say otherwise; ``save=False`` leaves it out of the database."""
    fields = {"task_path": "tests.tasks.echo", "args": [1], "owner": owner, **fields}
    if not save:
        return Job(**fields)
    return Job.objects.create(**fields)


def succeeded(owner: Any, value: Any, **fields: Any) -> Job:
    """A job that ran for five seconds and returned ``value``, kept in the database for an hour."""
    now = timezone.now()
    defaults = {
        "status": JobStatus.SUCCESSFUL,
        "result": value,
        "result_store": "database",
        "started_at": now - timedelta(seconds=5),
        "finished_at": now,
        "result_expires_at": now + timedelta(hours=1),
    }
    return make_job(owner, **{**defaults, **fields})


def ready_jobs(n: int, **fields: Any) -> list[Job]:
    """``n`` READY jobs of ``tests.tasks.add(1)`` for workers."""
    return [make_job(**{"task_path": "tests.tasks.add", "executor": "worker", **fields}) for _ in range(n)]


def claimed(n: int, worker_id: str = "w") -> list[Job]:
    """``n`` jobs for workers, claimed by ``worker_id``: RUNNING in their first attempt."""
    return claim_wanted(worker_id, [(job.pk, 0, job.task_path) for job in ready_jobs(n)])


def reads_heavy_columns(sql: str) -> list[str]:
    """Which of ``HEAVY_COLUMNS`` the SQL ``sql`` reads of an unfinished job.

    A column read only ``CASE WHEN`` the job has finished is not read of an unfinished one.
    """
    unconditional = re.sub(
        r"CASE WHEN [^ ]*\"status\" IN \('SUCCESSFUL', 'FAILED', 'CANCELLED'\) THEN [^ ]+ END", "", sql
    )
    return [column for column in HEAVY_COLUMNS if f'"{column}"' in unconditional]
