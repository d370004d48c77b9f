"""The exceptions jobs_ui raises: ``JobsUiException`` and its subclasses, and ``InvalidBackend`` for bad settings."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class JobsUiException(Exception):
    """Base class for jobs_ui exceptions. Do not raise directly."""


class InvalidJobArguments(JobsUiException, ValueError):
    """The arguments are not JSON, or are larger than ``MAX_ARGUMENTS_BYTES``."""


class InvalidJobResult(JobsUiException, ValueError):
    """The return value is not JSON, or is larger than ``MAX_RESULT_BYTES``."""


class UnknownTask(JobsUiException, LookupError):
    """The task path does not name a jobs_ui task."""


class JobNotCancellable(JobsUiException):
    """The job has already finished."""


class JobActionRefused(JobsUiException):
    """A job is not in a state that a staff action (retry, requeue, run now) applies to."""


class TooManyJobs(JobsUiException):
    """The user already has ``MAX_UNFINISHED_JOBS_PER_USER`` unfinished jobs."""


class JobAlreadyRunning(JobsUiException):
    """A unique task has an unfinished job with these arguments that the caller may not see (another user's)."""


class JobCancelled(JobsUiException):
    """Raised inside a task by ``context.check_cancelled()`` once a cancel is requested."""


class ResultExpired(JobsUiException):
    """The job succeeded, but its result is gone from the result store."""


class ResultStoreError(JobsUiException):
    """The result store could not keep the result."""


class BrokerError(JobsUiException):
    """RabbitMQ could not be reached, or refused an operation."""


class InvalidBackend(ImproperlyConfigured):
    """A configured executor or result store cannot be used."""


class JobTimedOut(JobsUiException):
    """Raised inside a task by ``context.check_cancelled()`` once its ``timeout`` has passed."""


class Retry(JobsUiException):
    """Raised inside a task to be tried again: after ``delay`` seconds (None: the task's backoff), if an
    attempt is left; otherwise the job fails with this message. Each retry uses up an attempt."""

    def __init__(self, message: str = "", *, delay: float | None = None) -> None:
        super().__init__(message or "The task asked to be tried again.")
        if delay is not None and delay < 0:
            raise ValueError("Retry(delay=...) must be 0 or more seconds.")
        self.delay = delay


class JobExpired(JobsUiException):
    """The job was not started before its task's ``expires``: it ends CANCELLED and never runs."""


class WorkerLost(JobsUiException):
    """The worker running the job stopped heartbeating."""


class MessageUnroutable(BrokerError):
    """A ``mandatory`` message matched no queue; for a per-job queue, the queue is gone."""


class QueueNotFound(BrokerError):
    """The queue does not exist: never declared, deleted, or expired."""


class NoBroker(JobsUiException):
    """An operation needs RabbitMQ, and ``JOBS_UI["AMQP_URL"]`` is not set."""


class InvalidProgress(JobsUiException, ValueError):
    """``context.extra`` is not JSON, or is larger than ``jobs_ui.context.EXTRA_LIMIT`` bytes as JSON."""
