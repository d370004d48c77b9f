"""Creating many jobs of one task at once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import router, transaction

from jobs_ui.db.write_turns import write_turn
from jobs_ui.exceptions import InvalidJobArguments
from jobs_ui.executors import get_executor
from jobs_ui.jobs import task_signals
from jobs_ui.jobs.create import create_job, new_job, validate_arguments
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
    using = router.db_for_write(Job)
    jobs: list[Job] = []
    for start in range(0, len(validated), batch_size):
        batch = [new_job(task, args, kwargs) for args, kwargs in validated[start : start + batch_size]]
        with write_turn(using), transaction.atomic(using=using):
            Job.objects.using(using).bulk_create(batch)
            for job in batch:
                task_signals.enqueued(job, task)
            transaction.on_commit(partial(_dispatch, batch), using=using)
        jobs.extend(batch)
    return jobs


def _dispatch(jobs: list[Job]) -> None:
    get_executor(jobs[0].executor).dispatch_many(jobs)
