"""A job row as Django's ``TaskResult``."""

from __future__ import annotations

import uuid
from typing import Any

from django.tasks import Task, TaskResult, TaskResultStatus
from django.tasks.base import TaskError
from django.tasks.exceptions import TaskResultDoesNotExist

from jobs_ui.exceptions import ResultExpired
from jobs_ui.jobs.registry import resolve_task
from jobs_ui.models import Job, JobStatus
from jobs_ui.stores import get_result_store


def task_result(alias: str, result_id: str) -> TaskResult[Any, Any]:
    """The ``TaskResult`` of the job ``result_id`` of the backend ``alias``; ``TaskResultDoesNotExist`` if none."""
    try:
        job = Job.objects.get(pk=uuid.UUID(str(result_id)), backend=alias)
    except (ValueError, Job.DoesNotExist) as e:
        raise TaskResultDoesNotExist(result_id) from e
    return to_task_result(job, resolve_task(job.task_path))


def to_task_result(job: Job, task: Task[Any, Any]) -> TaskResult[Any, Any]:
    """A ``TaskResult`` read from the ``Job`` row (and the result store when successful)."""
    status = TaskResultStatus.FAILED if job.status == JobStatus.CANCELLED else TaskResultStatus(job.status)
    # One per failed attempt, oldest first; a job cancelled before it ran has only error_class.
    errors = [TaskError(exception_class_path=entry["class"], traceback=entry["traceback"]) for entry in job.errors]
    if not errors and job.error_class:
        errors.append(TaskError(exception_class_path=job.error_class, traceback=job.error_traceback))
    result: TaskResult[Any, Any] = TaskResult(
        task=task,
        id=str(job.pk),
        status=status,
        enqueued_at=job.enqueued_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        last_attempted_at=job.last_attempted_at,
        args=job.args,
        kwargs=job.kwargs,
        backend=job.backend,
        errors=errors,
        worker_ids=list(job.worker_ids),
    )
    if job.status == JobStatus.SUCCESSFUL:
        try:
            value = get_result_store().load(job)
        except ResultExpired:
            value = None
        object.__setattr__(result, "_return_value", value)
    return result
