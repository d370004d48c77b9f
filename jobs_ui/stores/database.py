"""The default result store: the result is a column of the job's row."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from jobs_ui.exceptions import ResultExpired
from jobs_ui.models import Job
from jobs_ui.stores.base import BaseResultStore


class DatabaseResultStore(BaseResultStore):
    """Keeps results in ``Job.result``, written with the final status; expired ones are refused, and cleared by pruning."""

    name = "database"
    kept_in_row = True

    def load(self, job: Job) -> Any:
        if job.result_expires_at is not None and job.result_expires_at <= timezone.now():
            raise ResultExpired(f"The result of job {job.pk} has expired.")
        return job.result
