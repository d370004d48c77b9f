"""The django.tasks backend and its task class.

Django builds the backend when the first ``@task`` is defined, which may be while apps are
loading, so this module imports no model at its top: its methods import the jobs package
when they are called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from django.core import checks
from django.http import HttpRequest
from django.tasks import Task, TaskResult, task_backends
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.exceptions import InvalidTask
from django.urls import reverse

if TYPE_CHECKING:
    from collections.abc import Sequence


EXECUTORS = ("thread", "worker", "immediate")
UNIQUE = (False, True, "global")


@dataclass(frozen=True, slots=True, kw_only=True)
class JobTask(Task):  # type: ignore[type-arg]
    """A ``django.tasks`` task with jobs_ui's options, set in ``@task(...)``."""

    executor: str | None = None
    """``"thread"`` (the web process), ``"worker"`` (worker processes) or ``"immediate"`` (inside the launch,
    for tests); None uses ``JOBS_UI["EXECUTOR"]``."""

    retries: int = 0
    """How many times a failed job is tried again."""

    retry_delay: float = 1.0
    """Seconds before the first retry; doubled for each further one."""

    retry_on: tuple[type[BaseException], ...] = ()
    """Only these exceptions (and their subclasses) are retried; empty: any error is."""

    retry_max_delay: float | None = None
    """The longest the doubling delay before a retry grows to, in seconds; None: no cap."""

    expires: float | None = None
    """Seconds after its launch by which a job must have started; one that has not ends CANCELLED ("expired")
    and never runs. None: it waits as long as it takes."""

    timeout: float | None = None
    """Seconds a job may run; the task is told, a process pool stops it."""

    unique: bool | Literal["global"] = False
    """Launching again with the same arguments while the same owner's job is unfinished returns that job;
    ``"global"``: while anyone's is (``launch()`` raises ``JobAlreadyRunning`` when the caller may not see it)."""

    public: bool = False
    """Whether anyone with the link may watch the job (read-only)."""

    result_ttl: int | None = None
    """Seconds the result is kept; None uses ``JOBS_UI["RESULT_TTL"]``."""

    result_template: str | None = None
    """Template that renders the result in the progress panel."""

    label: str | None = None
    """Human name shown in pages; defaults to the function name."""

    max_arguments_bytes: int | None = None
    """The largest the arguments may be, as JSON; None uses ``JOBS_UI["MAX_ARGUMENTS_BYTES"]``."""

    @property
    def display_name(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    def run_in_thread(
        self,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        request: HttpRequest,
        public: bool = False,
    ) -> str:
        """Launch for ``request.user`` and return the absolute URL of the JSON result."""
        from jobs_ui.jobs.create import launch_with

        job = launch_with(self, request, args, kwargs, public=public or self.public)
        return request.build_absolute_uri(reverse("jobs_ui:job_result", args=[job.pk]))


# The most validated tasks a backend remembers (tasks made with .using() are new objects).
VALIDATED_LIMIT = 1024


class JobsBackend(BaseTaskBackend):
    """Stores every job as a ``Job`` row; runs it in a thread or on worker processes."""

    task_class = JobTask
    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        # Tasks already validated here, by id(); the task itself is kept, so its id is not reused.
        self._validated: dict[int, Task[Any, Any]] = {}

    def validate_task(self, task: Task[Any, Any]) -> None:
        super().validate_task(task)
        if not isinstance(task, JobTask):
            raise InvalidTask("jobs_ui tasks must be JobTask instances.")
        if task.executor is not None and task.executor not in EXECUTORS:
            raise InvalidTask(f"executor must be one of {', '.join(EXECUTORS)}, not {task.executor!r}.")
        if task.retries < 0 or int(task.retries) != task.retries:
            raise InvalidTask("retries must be a whole number >= 0.")
        if task.retry_delay < 0:
            raise InvalidTask("retry_delay must be >= 0.")
        if task.timeout is not None and task.timeout <= 0:
            raise InvalidTask("timeout must be > 0 seconds.")
        retry_on: Any = task.retry_on  # as given, whatever its annotation says
        if not isinstance(retry_on, tuple) or not all(
            isinstance(kind, type) and issubclass(kind, BaseException) for kind in retry_on
        ):
            raise InvalidTask("retry_on must be a tuple of exception classes.")
        if task.retry_max_delay is not None and task.retry_max_delay < 0:
            raise InvalidTask("retry_max_delay must be >= 0 seconds.")
        if task.expires is not None and task.expires <= 0:
            raise InvalidTask("expires must be > 0 seconds.")
        if task.max_arguments_bytes is not None and task.max_arguments_bytes <= 0:
            raise InvalidTask("max_arguments_bytes must be > 0.")
        if task.unique not in UNIQUE:
            raise InvalidTask(f'unique must be True, False or "global", not {task.unique!r}.')
        if task.result_ttl is not None and task.result_ttl <= 0:
            raise InvalidTask("result_ttl must be > 0 seconds.")

    def enqueue(self, task: Task[Any, Any], args: Sequence[Any], kwargs: dict[str, Any]) -> TaskResult[Any, Any]:
        from jobs_ui.jobs.create import create_job
        from jobs_ui.jobs.results import to_task_result

        # Optimization: a task is immutable, and Django validated it when it was made;
        # validating it again on every enqueue() was a noticeable part of a launch.
        if self._validated.get(id(task)) is not task:
            self.validate_task(task)
            if len(self._validated) >= VALIDATED_LIMIT:
                self._validated.clear()
            self._validated[id(task)] = task
        job = create_job(task, list(args), dict(kwargs))  # type: ignore[arg-type]
        return to_task_result(job, task)

    def get_result(self, result_id: str) -> TaskResult[Any, Any]:
        from jobs_ui.jobs.results import task_result

        return task_result(self.alias, result_id)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        # JOBS_UI itself is checked once by jobs_ui.checks, whatever the backends.
        return list(super().check(**kwargs))


def known_queues() -> set[str] | None:
    """Queue names the jobs_ui task backends accept; None when one of them accepts any name."""
    names: set[str] = set()
    for backend in task_backends.all():
        if isinstance(backend, JobsBackend):
            if not backend.queues:
                return None
            names |= backend.queues
    return names
