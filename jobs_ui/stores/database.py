"""The default result store: each result in its job's row."""

from __future__ import annotations

import json
from typing import Any

from django.utils import timezone

from jobs_ui.exceptions import ResultExpired, ResultStoreError
from jobs_ui.models import Job, JobStatus
from jobs_ui.stores.base import BaseResultStore


class DatabaseResultStore(BaseResultStore):
    """Keeps results in ``Job.result``; expired ones are refused, and cleared by pruning."""

    name = "database"

    def save(self, job: Job, encoded: str, ttl: int) -> None:
        updated = Job.objects.filter(pk=job.pk, attempts=job.attempts, status=JobStatus.RUNNING).update(
            result=json.loads(encoded)
        )
        if not updated:
            raise ResultStoreError("The job is no longer running in this attempt; its result was not kept.")

    def load(self, job: Job) -> Any:
        if job.result_expires_at is not None and job.result_expires_at <= timezone.now():
            raise ResultExpired(f"The result of job {job.pk} has expired.")
        return job.result

    def delete(self, job: Job) -> None:
        Job.objects.filter(pk=job.pk).update(result=None)
