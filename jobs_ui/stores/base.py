"""The base class of result stores, which keep the return values of finished jobs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.core.checks import CheckMessage

    from jobs_ui.models import Job


class BaseResultStore(ABC):
    """Keeps the return value of finished jobs; the ``Job`` row keeps everything else."""

    name: str = ""
    """Short name recorded on the job (``Job.result_store``)."""

    supports_cross_process: bool = True
    """Whether a result saved by one process can be read by another."""

    kept_in_row: bool = False
    """Whether the result is written into ``Job.result`` with the attempt's final status
    (``jobs_ui.jobs.finish``) instead of by ``save()``; pruning the row then deletes it."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def save(self, job: Job, encoded: str, ttl: int) -> None:
        """Keep ``encoded`` (the JSON text of the result) for ``ttl`` seconds (every store not ``kept_in_row``).

        Raise ``ResultStoreError`` when the result cannot be kept; the job is
        then recorded as failed.
        """
        raise NotImplementedError("This result store does not support save()")

    @abstractmethod
    def load(self, job: Job) -> Any:
        """Return the decoded result; raise ``ResultExpired`` once it is gone."""

    def delete(self, job: Job) -> None:
        """Forget the result now (pruning); a missing result is not an error."""
        raise NotImplementedError("This result store does not support delete()")

    def check(self) -> list[CheckMessage]:
        """System check messages for this store's configuration (no network I/O)."""
        return []
