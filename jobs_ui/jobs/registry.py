"""Finding a jobs_ui task by its dotted path, as a job row or a message names it."""

from __future__ import annotations

from django.tasks import Task
from django.utils.module_loading import import_string

from jobs_ui.backend import JobTask
from jobs_ui.exceptions import UnknownTask


def resolve_task(path: str) -> JobTask:
    """The task registered at the dotted ``path``; ``UnknownTask`` otherwise."""
    try:
        obj = import_string(path)
    except ImportError as e:
        raise UnknownTask(f"No task at {path!r}.") from e
    if not isinstance(obj, Task):
        raise UnknownTask(f"{path!r} is not a task (decorate it with @task).")
    if not isinstance(obj, JobTask):
        raise UnknownTask(f"{path!r} does not use the jobs_ui backend.")
    return obj
