"""Running one claimed job: call the task, keep the result, record the outcome."""

from __future__ import annotations

import logging
import threading
import time
import traceback

from jobs_ui.backend import to_task_result
from jobs_ui.conf import get_config
from jobs_ui.context import JobContext
from jobs_ui.events import JobEvent, publish
from jobs_ui.exceptions import InvalidJobResult, JobCancelled, JobsUiException, JobTimedOut, ResultStoreError
from jobs_ui.finishing import fail, finish
from jobs_ui.jsonutil import encode_limited
from jobs_ui.models import Job, JobStatus, db_now_plus
from jobs_ui.registry import resolve_task
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
    try:
        task = resolve_task(job.task_path)
    except JobsUiException as e:
        fail(job, error_class=_class_path(e), message=str(e))
        return
    publish(JobEvent.for_job(job, "started"))
    deadline = time.monotonic() + task.timeout if task.timeout else None
    context = JobContext(task_result=to_task_result(job, task), job=job, deadline=deadline)
    if job.cancel_requested_at is not None:
        context.request_cancel()
    with _running_lock:
        _running[str(job.pk)] = context
    try:
        _run(job, task, context)
    finally:
        with _running_lock:
            _running.pop(str(job.pk), None)


def _run(job: Job, task: object, context: JobContext) -> None:
    from jobs_ui.backend import JobTask

    assert isinstance(task, JobTask)
    try:
        if task.takes_context:
            value = task.call(context, *job.args, **job.kwargs)
        else:
            value = task.call(*job.args, **job.kwargs)
    except JobCancelled as e:
        finish(job, JobStatus.CANCELLED, error_class=_class_path(e), error_message=str(e) or "Cancelled.")
        return
    except JobTimedOut as e:
        fail(job, error_class=_class_path(e), message=f"Timed out after {task.timeout:g} s.")
        return
    except Exception as e:
        fail(
            job,
            error_class=_class_path(e),
            message=str(e) or type(e).__name__,
            traceback="".join(traceback.format_exception(e)),
        )
        return
    _save_result(job, task.result_ttl, value)


def _save_result(job: Job, ttl: int | None, value: object) -> None:
    config = get_config()
    ttl = ttl or config["RESULT_TTL"]
    store = get_result_store()
    try:
        encoded = encode_limited(value, limit=config["MAX_RESULT_BYTES"], what="The result", error=InvalidJobResult)
        store.save(job, encoded, ttl)
    except (InvalidJobResult, ResultStoreError) as e:
        # Not retried: the same code would produce the same result.
        finish(job, JobStatus.FAILED, error_class=_class_path(e), error_message=str(e))
        return
    finish(
        job,
        JobStatus.SUCCESSFUL,
        result_store=store.name,
        result_expires_at=db_now_plus(ttl),
    )
