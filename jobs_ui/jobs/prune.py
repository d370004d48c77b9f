"""Deleting finished jobs: older than a number of hours, or beyond a number kept per status."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from jobs_ui.exceptions import ResultStoreError
from jobs_ui.models import FINISHED, Job
from jobs_ui.stores import get_result_store

logger = logging.getLogger(__name__)

BATCH = 500


@dataclass
class PruneReport:
    deleted: dict[str, int] = field(default_factory=dict)
    """Jobs deleted (or, in a dry run, to delete) per status."""

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def prune(*, hours: float | None = None, keep: int | None = None, dry_run: bool = False) -> PruneReport:
    """Delete finished jobs finished more than ``hours`` ago, and all but the newest ``keep`` of each status.

    READY and RUNNING jobs are never touched. Results are deleted from the result
    store as well (a RabbitMQ result queue would otherwise live until it expires).
    """
    if hours is None and keep is None:
        raise ValueError("Give hours, keep, or both.")
    report = PruneReport()
    for status in FINISHED:
        jobs = Job.objects.filter(status=status)
        doomed = Q(pk__in=[])
        if hours is not None:
            doomed |= Q(finished_at__lt=timezone.now() - timedelta(hours=hours))
        if keep is not None:
            kept = list(jobs.order_by("-finished_at", "-enqueued_at").values_list("pk", flat=True)[:keep])
            doomed |= ~Q(pk__in=kept)
        ids = list(jobs.filter(doomed).values_list("pk", flat=True))
        report.deleted[str(status)] = len(ids)
        if not dry_run:
            for start in range(0, len(ids), BATCH):
                _delete(ids[start : start + BATCH])
    return report


def _delete(ids: list[uuid.UUID]) -> None:
    store = get_result_store()
    if not store.kept_in_row:
        for job in Job.objects.filter(pk__in=ids, result_store=store.name):
            try:
                store.delete(job)
            except (ResultStoreError, NotImplementedError) as e:
                logger.warning("Could not delete the result of job %s: %s", job.pk, e)
    Job.objects.filter(pk__in=ids).delete()
