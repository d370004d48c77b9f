"""The base class of executors: what a job is handed to once its row is committed, and what it supports."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobs_ui.models import Job


class BaseExecutor(ABC):
    """Where jobs run: receives each new job once its row is committed."""

    name: str = ""
    """Value of ``Job.executor`` for jobs this executor runs."""

    supports_cancel: bool = True
    """Whether a running job can be asked to stop."""

    supports_progress: bool = True
    """Whether running jobs report progress."""

    supports_cross_process: bool = False
    """Whether jobs run in processes other than the one that launched them."""

    runs_at_once: bool = False
    """Whether a new job is handed over inside its launch, in the caller's transaction, rather than once committed."""

    @abstractmethod
    def dispatch(self, job: Job) -> None:
        """Hand over a committed READY job. Must not raise: a job not handed over waits as READY."""

    def dispatch_many(self, jobs: list[Job]) -> None:
        """Hand over several committed READY jobs (bulk creation). Must not raise."""
        for job in jobs:
            self.dispatch(job)

    def insert_notification(self, alias: str) -> str:
        """A ``NOTIFY`` channel that the INSERT of a new job signals; "" for none."""
        return ""

    def assigns(self, alias: str, job: Job) -> bool:
        """Whether the INSERT of the new ``job`` may give it to an idle worker (``jobs_ui.db.assignment``)."""
        return False

    def dispatch_after_notification(self) -> bool:
        """Whether a job whose INSERT sent ``insert_notification()`` is still given to ``dispatch()``."""
        return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop what this executor runs in this process."""
        raise NotImplementedError("This executor does not support stop()")
