"""The hand-written statements: the INSERT of a new job writes what the ORM writes."""

from __future__ import annotations

from typing import cast

import pytest

from jobs_ui.backend import JobTask
from jobs_ui.db import statements
from jobs_ui.db.sql import jobs_alias
from jobs_ui.jobs.create import new_job
from jobs_ui.models import Job, JobStatus
from tests import tasks

ECHO = cast(JobTask, tasks.echo)


@pytest.mark.django_db
class TestNewJobRow:
    """The INSERT of a new job (prepared defaults, values in field order) writes what the ORM writes."""

    def columns(self, job):
        row = Job.objects.filter(pk=job.pk).values().get()
        return {name: value for name, value in row.items() if name not in ("id", "enqueued_at")}

    def test_new_job_row_matches_the_orm(self, alice):
        fast = new_job(ECHO, [1], {"b": [2]}, owner=alice, public=True)
        statements.insert_job(jobs_alias(), fast)
        slow = new_job(ECHO, [1], {"b": [2]}, owner=alice, public=True)
        slow.save(force_insert=True)
        assert self.columns(fast) == self.columns(slow)
        assert fast.owner == alice
        assert fast.status == JobStatus.READY
        assert (fast.args, fast.kwargs, fast.extra, fast.worker_ids) == ([1], {"b": [2]}, {}, [])

    def test_values_other_than_the_defaults_are_written(self):
        job = new_job(ECHO, [], {})
        job.status = "RUNNING"  # a str, not the JobStatus default
        job.priority = 7
        job.extra = {"set": True}
        job.progress_message = "half"
        job.attempts = 2
        statements.insert_job(jobs_alias(), job)
        row = Job.objects.get(pk=job.pk)
        assert (row.status, row.priority, row.extra, row.progress_message, row.attempts) == (
            JobStatus.RUNNING,
            7,
            {"set": True},
            "half",
            2,
        )
