"""The ``immediate`` executor: the job runs inside ``enqueue()``/``launch()``, in the caller's thread and
transaction, with a real row and a real ``JobContext`` (for a project's own tests, as Celery's eager mode)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs_ui.executors.base import BaseExecutor
from jobs_ui.jobs.inline import run_inline, running_inline

if TYPE_CHECKING:
    from jobs_ui.models import Job


class ImmediateExecutor(BaseExecutor):
    name = "immediate"
    supports_cross_process = False
    runs_at_once = True

    def dispatch(self, job: Job) -> None:
        # A retry made by a job running inline is run by that run's loop, not from inside it.
        if not running_inline(job):
            run_inline(job)

    def stop(self, timeout: float = 10.0) -> None:
        return None
