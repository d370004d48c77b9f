from __future__ import annotations

import logging

from django.core import checks

from jobs_ui.executors.base import BaseExecutor
from jobs_ui.models import Job

logger = logging.getLogger(__name__)


class WorkerExecutor(BaseExecutor):
    """Runs jobs on ``jobs_ui_worker`` processes, which claim them from the database."""

    name = "worker"
    supports_cross_process = True

    def dispatch(self, job: Job) -> None:
        # Workers find committed READY rows themselves; nothing to hand over.
        logger.debug("Job %s waits for a worker on queue %s", job.pk, job.queue_name)

    def stop(self, timeout: float = 10.0) -> None:
        return None

    def check(self) -> list[checks.CheckMessage]:
        return []
