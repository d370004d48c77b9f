"""Running one claimed job: call the task, keep the result, record the outcome."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import signal
import threading
import time
import traceback
from typing import Any

from asgiref.sync import sync_to_async

from jobs_ui.backend import JobTask
from jobs_ui.conf import get_config
from jobs_ui.context import ContextState, JobContext
from jobs_ui.events import JobEvent, publish
from jobs_ui.exceptions import (
    InvalidJobResult,
    JobCancelled,
    JobsUiException,
    JobTimedOut,
    ResultStoreError,
    Retry,
)
from jobs_ui.jobs import task_signals
from jobs_ui.jobs.expire import EXPIRED_CLASS, expired, expired_message
from jobs_ui.jobs.finish import fail, finish
from jobs_ui.jobs.jsonutil import encode_limited
from jobs_ui.jobs.registry import resolve_task
from jobs_ui.jobs.results import to_task_result
from jobs_ui.models import Job, JobStatus, db_now_plus
from jobs_ui.stores import get_result_store

logger = logging.getLogger(__name__)

# Contexts of the jobs running in this process, so a cancel requested here
# reaches them at once instead of at their next database check.
_running: dict[str, JobContext] = {}
_running_lock = threading.Lock()


def running_context(job_id: object) -> JobContext | None:
    with _running_lock:
        return _running.get(str(job_id))


def _class_path(error: BaseException) -> str:
    kind = type(error)
    return f"{kind.__module__}.{kind.__qualname__}"


def run_claimed(job: Job) -> None:
    """Run ``job`` (already claimed by this process) to its end, whatever the task does."""
    prepared = _prepare(job)
    if prepared is None:
        return
    task, context = prepared
    try:
        try:
            value = task.call(*_arguments(job, task, context), **job.kwargs)
        except BaseException as e:
            if _interrupts_worker(e):
                raise
            _conclude(job, task, context, error=e)
            return
        _conclude(job, task, context, value=value)
    finally:
        _forget(job)


async def arun_claimed(job: Job) -> None:
    """Like ``run_claimed()``, awaiting the task on the running event loop.

    Database work runs in threads. The context never reads the database from the
    loop: the pool running the job pushes cancel requests with ``request_cancel()``.
    """
    prepared = await sync_to_async(_prepare, thread_sensitive=False)(job, loop_safe=True)
    if prepared is None:
        return
    task, context = prepared
    conclude = sync_to_async(_conclude, thread_sensitive=False)
    try:
        try:
            value = await task.acall(*_arguments(job, task, context), **job.kwargs)
        except BaseException as e:
            if _interrupts_worker(e) or isinstance(e, asyncio.CancelledError) and _being_cancelled():
                raise
            await conclude(job, task, context, error=e)
            return
        await conclude(job, task, context, value=value)
    finally:
        _forget(job)


def _arguments(job: Job, task: JobTask, context: JobContext) -> list[Any]:
    return [context, *job.args] if task.takes_context else list(job.args)


def _conclude(
    job: Job, task: JobTask, context: JobContext, *, value: object = None, error: BaseException | None = None
) -> None:
    """Record how the task ended: its error, its timeout, or its result."""
    context.settle_extra()
    if error is not None:
        _record_error(job, task, error)
    elif context.timed_out:
        _record_error(job, task, JobTimedOut())
    else:
        _save_result(job, task.result_ttl, value)


def _interrupts_worker(error: BaseException) -> bool:
    # Ctrl-C raises KeyboardInterrupt in the main thread only, where Python's own handler
    # is installed; anywhere else the task raised it, and it fails the job like any error.
    return (
        isinstance(error, KeyboardInterrupt)
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )


def _being_cancelled() -> bool:
    # The pool cancels the job's asyncio task (hard stop, shutdown); a CancelledError
    # the task raised by itself fails the job.
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0


def _prepare(job: Job, *, loop_safe: bool = False) -> tuple[JobTask, JobContext] | None:
    try:
        task = resolve_task(job.task_path)
    except JobsUiException as e:
        fail(job, error_class=_class_path(e), message=str(e))
        return None
    if expired(job):
        finish(job, JobStatus.CANCELLED, error_class=EXPIRED_CLASS, error_message=expired_message(job))
        return None
    publish(JobEvent.for_job(job, "started"))
    task_result = to_task_result(job, task)
    task_signals.started(job, task_result)
    deadline = time.monotonic() + task.timeout if task.timeout else None
    state = ContextState(last_cancel_check=math.inf) if loop_safe else ContextState()
    context = JobContext(task_result=task_result, job=job, deadline=deadline, _state=state)
    if job.cancel_requested_at is not None:
        context.request_cancel()
    with _running_lock:
        _running[str(job.pk)] = context
    return task, context


def _forget(job: Job) -> None:
    with _running_lock:
        _running.pop(str(job.pk), None)


def _record_error(job: Job, task: JobTask, error: BaseException) -> None:
    if isinstance(error, JobCancelled):
        message = str(error) or "Cancelled."
        finish(job, JobStatus.CANCELLED, error_class=_class_path(error), error_message=message)
    elif isinstance(error, JobTimedOut):
        fail(job, error_class=_class_path(error), message=f"Timed out after {task.timeout:g} s.")
    elif isinstance(error, Retry):
        # Asked for by the task: its own delay, or the task's backoff.
        fail(job, error_class=_class_path(error), message=_message(error), delay=error.delay)
    else:
        fail(
            job,
            error_class=_class_path(error),
            message=_message(error),
            traceback="".join(traceback.format_exception(error)),
            # With retry_on, only those errors are tried again.
            retried=not task.retry_on or isinstance(error, task.retry_on),
        )


def _message(error: BaseException) -> str:
    if isinstance(error, Exception):
        return str(error) or type(error).__name__
    # SystemExit, KeyboardInterrupt and the like: say what the task did.
    if isinstance(error, SystemExit):
        return f"The task raised SystemExit (exit code {error.code!r})."
    detail = f": {error}" if str(error) else ""
    return f"The task raised {type(error).__name__}{detail}."


def _save_result(job: Job, ttl: int | None, value: object) -> None:
    config = get_config()
    ttl = ttl or config["RESULT_TTL"]
    store = get_result_store()
    fields: dict[str, Any] = {}
    try:
        encoded = encode_limited(value, limit=config["MAX_RESULT_BYTES"], what="The result", error=InvalidJobResult)
        if store.kept_in_row:
            # Optimization: the result goes in the final UPDATE, fenced like the status.
            fields["result"] = json.loads(encoded)
        elif _still_owned(job):
            store.save(job, encoded, ttl)
        else:
            # A frozen worker that woke up must not replace the result of the
            # attempt that took over.
            logger.warning("Job %s attempt %s lost ownership; its result is dropped", job.pk, job.attempts)
            return
    except (InvalidJobResult, ResultStoreError) as e:
        # Not retried: the same code would produce the same result.
        finish(job, JobStatus.FAILED, error_class=_class_path(e), error_message=str(e))
        return
    finish(job, JobStatus.SUCCESSFUL, result_store=store.name, result_expires_at=db_now_plus(ttl), **fields)


def _still_owned(job: Job) -> bool:
    return Job.objects.attempt(job).exists()
