"""Django's task signals (``django.tasks.signals``), sent as Django's own backends send them.

``task_enqueued`` is sent once per job, ``task_started`` and ``task_finished`` once per attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.dispatch import Signal
from django.tasks import TaskResult, task_backends
from django.tasks.exceptions import InvalidTaskBackend
from django.tasks.signals import task_enqueued, task_finished, task_started

from jobs_ui.backend import JobsBackend, JobTask
from jobs_ui.exceptions import JobsUiException
from jobs_ui.jobs.registry import resolve_task
from jobs_ui.jobs.results import to_task_result
from jobs_ui.models import Job

logger = logging.getLogger(__name__)

# In a child of the process pool: who is told instead (see relay_to()).
_relay: Callable[[str, Job], None] | None = None


def relay_to(relay: Callable[[str, Job], None] | None) -> None:
    """Hand ``("started" or "finished", job)`` to ``relay`` instead of sending them (process pool children).

    The worker that feeds the child sends them: the receivers of a worker live in the worker.
    """
    global _relay
    _relay = relay


# As its row is created: a retry is a new attempt of a job already enqueued, so it is not sent again.
def enqueued(job: Job, task: JobTask) -> None:
    _send(task_enqueued, job, task)


def started(job: Job, result: TaskResult[Any, Any] | None = None) -> None:
    """``task_started`` for the attempt of ``job`` beginning now (``result``: its TaskResult, if already made)."""
    if _relay is not None:
        _pass_on("started", job)
        return
    _send(task_started, job, result=result)


def finished(job: Job) -> None:
    """``task_finished`` for the attempt of ``job`` whose outcome was just written."""
    # The outcome may be READY again, for an attempt that will be retried.
    if _relay is not None:
        _pass_on("finished", job)
        return
    _send(task_finished, job)


def _pass_on(kind: str, job: Job) -> None:
    assert _relay is not None
    try:
        _relay(kind, job)
    except Exception:
        logger.exception("Could not pass on %s of job %s to the worker", kind, job.pk)


# The sender is the backend class, task_result the job as a TaskResult. Receivers are
# called with send_robust(): one that raises is logged by Django, and the job goes on.
def _send(signal: Signal, job: Job, task: JobTask | None = None, *, result: TaskResult[Any, Any] | None = None) -> None:
    try:
        if result is None:
            result = to_task_result(job, task or resolve_task(job.task_path))
    except JobsUiException:
        # A job whose task cannot be found has no TaskResult; its error says why.
        return
    except Exception:
        logger.exception("Could not read job %s as a TaskResult; no signal sent", job.pk)
        return
    signal.send_robust(_sender(job.backend), task_result=result)


def _sender(alias: str) -> type[Any]:
    try:
        return type(task_backends[alias])
    except InvalidTaskBackend:
        # A worker configured without this alias in TASKS still runs the job.
        return JobsBackend
