"""Creating many jobs of one task at once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import router, transaction

from jobs_ui.conf import get_config
from jobs_ui.exceptions import InvalidJobArguments
from jobs_ui.launching import create_job, dispatch, validate_arguments
from jobs_ui.models import Job

if TYPE_CHECKING:
    from jobs_ui.backend import JobTask

BATCH_SIZE = 500


def enqueue_many(
    task: JobTask,
    arguments: Iterable[Sequence[Any] | Mapping[str, Any]],
    *,
    batch_size: int = BATCH_SIZE,
) -> list[Job]:
    """Create a job of ``task`` for each item of ``arguments`` and return them, in order.

    An item is the positional arguments (a list or tuple) or the keyword arguments
    (a dict) of one job. Every item is validated before anything is written, so an
    invalid one raises ``InvalidJobArguments`` and creates no job. Rows are inserted
    ``batch_size`` at a time, each batch handed to the executor once committed.
    """
    task.get_backend().validate_task(task)
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1.")
    validated = []
    for index, item in enumerate(arguments):
        if isinstance(item, Mapping):
            args, kwargs = [], dict(item)
        elif isinstance(item, list | tuple):
            args, kwargs = list(item), {}
        else:
            raise InvalidJobArguments(f"Item {index} must be a list of arguments or a dict of keyword arguments.")
        try:
            validated.append(validate_arguments(task, args, kwargs))
        except InvalidJobArguments as e:
            raise InvalidJobArguments(f"Item {index}: {e}") from e
    if task.unique:
        # One by one, so a duplicate returns the unfinished job like launch() does.
        return [create_job(task, args, kwargs) for args, kwargs in validated]
    config = get_config()
    using = router.db_for_write(Job)
    jobs: list[Job] = []
    for start in range(0, len(validated), batch_size):
        batch = [
            Job(
                task_path=task.module_path,
                backend=task.backend,
                executor=task.executor or config["EXECUTOR"],
                queue_name=task.queue_name,
                priority=task.priority,
                args=args,
                kwargs=kwargs,
                public=task.public,
                max_attempts=task.retries + 1,
                run_after=task.run_after,
            )
            for args, kwargs in validated[start : start + batch_size]
        ]
        with transaction.atomic(using=using):
            Job.objects.using(using).bulk_create(batch)
            transaction.on_commit(partial(_dispatch, batch), using=using)
        jobs.extend(batch)
    return jobs


def _dispatch(jobs: list[Job]) -> None:
    from jobs_ui.executors import get_executor
    from jobs_ui.executors.worker import WorkerExecutor

    executor = get_executor(jobs[0].executor)
    if isinstance(executor, WorkerExecutor):
        executor.dispatch_many(jobs)
    else:
        for job in jobs:
            dispatch(job)
