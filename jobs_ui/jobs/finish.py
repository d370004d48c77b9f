"""Final writes of an attempt, each fenced by the attempt number."""

from __future__ import annotations

import logging
import random
import threading
from datetime import timedelta
from typing import Any

from django.db.models import F
from django.db.models.expressions import BaseExpression
from django.db.models.functions import Now
from django.utils import timezone

from jobs_ui.db import final_writes
from jobs_ui.db.sql import jobs_alias
from jobs_ui.db.write_turns import write_turn
from jobs_ui.events import JobEvent, publish
from jobs_ui.executors import get_executor
from jobs_ui.jobs import task_signals
from jobs_ui.jobs.registry import resolve_task
from jobs_ui.models import Job, JobQuerySet, JobStatus, Worker, db_now_plus
from jobs_ui.worker import batching

logger = logging.getLogger(__name__)

# Job.errors keeps the entries of the last ERRORS_KEPT failed attempts, each message cut to
# ERROR_MESSAGE_LIMIT characters and each traceback to its last ERROR_TRACEBACK_LIMIT.
ERRORS_KEPT = 10
ERROR_MESSAGE_LIMIT = 1000
ERROR_TRACEBACK_LIMIT = 4000

_batching = False
_counts: dict[tuple[str, str], int] = {}
_counts_lock = threading.Lock()


def finish(job: Job, status: JobStatus, **fields: Any) -> bool:
    """Write the final ``status`` of this attempt; False when the attempt no longer owns the job.

    In a worker process the write is handed to the outcome writer (``jobs_ui.worker.batching``)
    and True is returned at once; the writer logs an attempt that lost ownership.
    """
    # The last progress may not be written yet (throttling): the final write has it.
    fields.setdefault("workspace", job.workspace)
    fields.setdefault("extra", job.extra)
    fields.setdefault("progress_total", job.progress_total)
    fields.setdefault("progress_message", job.progress_message)
    done = job.progress_total if status == JobStatus.SUCCESSFUL and job.progress_total else job.progress_done
    fields.setdefault("progress_done", done)
    values = {"status": status, "finished_at": Now(), **fields}
    if values.get("error_class"):
        values["errors"] = _with_error(job, values)
    writer = batching.writer()
    if writer is not None:
        writer.put(job, values)
        return True
    alias = jobs_alias()
    outcomes = [batching.Outcome(job, values)]
    with write_turn(alias):
        written = write_outcomes(alias, outcomes)
    announce_outcomes(outcomes, written)
    return written[0] is not None


def write_outcomes(alias: str, outcomes: list[batching.Outcome]) -> list[tuple[Any, Any] | None]:
    """Write final values of attempts in the caller's transaction.

    For each: ``(finished_at, result_expires_at)``, or None when the attempt no longer owned its job.
    """
    return final_writes.finish_attempts(alias, [(outcome.job, outcome.values) for outcome in outcomes])


def announce_outcomes(outcomes: list[batching.Outcome], written: list[tuple[Any, Any] | None]) -> None:
    """Once ``write_outcomes()`` is committed: update the instances, count, publish "finished"."""
    for outcome, row in zip(outcomes, written, strict=True):
        job = outcome.job
        if row is None:
            _lost(job)
            continue
        # Optimization: the row is not read again; the instance gets what was written.
        for name, value in outcome.values.items():
            if not isinstance(value, BaseExpression):
                setattr(job, name, value)
        job.finished_at, job.result_expires_at = row
        _written(job, outcome.values["status"])


def _written(job: Job, status: JobStatus) -> None:
    _count_outcome(job.worker_id, status)
    publish(JobEvent.for_job(job, "finished"))
    task_signals.finished(job)


def _with_error(job: Job, values: dict[str, Any]) -> list[dict[str, Any]]:
    """``job.errors`` with an entry for this attempt's error (in ``values``), bounded.

    The list is written whole, in the attempt's fenced write: while the attempt owns the
    row nothing else changes it, so the instance holds what the row holds.
    """
    message = str(values.get("error_message", ""))
    if len(message) > ERROR_MESSAGE_LIMIT:
        message = message[: ERROR_MESSAGE_LIMIT - 1] + "…"
    trace = str(values.get("error_traceback", ""))
    if len(trace) > ERROR_TRACEBACK_LIMIT:
        trace = "…" + trace[-(ERROR_TRACEBACK_LIMIT - 1) :]
    entry = {
        "attempt": job.attempts,
        "at": timezone.now().isoformat(),
        "class": values["error_class"],
        "message": message,
        "traceback": trace,
    }
    return [*list(job.errors or [])[-(ERRORS_KEPT - 1) :], entry]


def _lost(job: Job) -> None:
    logger.warning("Job %s attempt %s lost ownership; its outcome is dropped", job.pk, job.attempts)


def batch_outcome_counts() -> None:
    """Keep this process's additions to ``Worker.jobs_succeeded``/``jobs_failed`` in memory.

    Optimization for worker processes, which write them with ``flush_outcome_counts()``
    every few tenths of a second instead of once per job.
    """
    global _batching
    _batching = True


def flush_outcome_counts() -> None:
    with _counts_lock:
        pending = dict(_counts)
        _counts.clear()
    if not pending:
        return
    with write_turn(jobs_alias()):
        for (worker_id, counter), n in pending.items():
            Worker.objects.filter(pk=worker_id).update(**{counter: F(counter) + n})


def _count_outcome(worker_id: str, status: JobStatus) -> None:
    if not worker_id:
        return
    counter = "jobs_succeeded" if status == JobStatus.SUCCESSFUL else "jobs_failed"
    if not _batching:
        Worker.objects.filter(pk=worker_id).update(**{counter: F(counter) + 1})
        return
    with _counts_lock:
        _counts[(worker_id, counter)] = _counts.get((worker_id, counter), 0) + 1


def fail(
    job: Job, *, error_class: str, message: str, traceback: str = "", delay: float | None = None, retried: bool = True
) -> bool:
    """Retry the job if attempts remain (after ``delay`` seconds, None: the task's backoff) and
    ``retried``, else mark it FAILED."""
    if retried and job.attempts < job.max_attempts:
        return retry(job, error_class=error_class, message=message, traceback=traceback, delay=delay)
    return finish(
        job,
        JobStatus.FAILED,
        error_class=error_class,
        error_message=message,
        error_traceback=traceback,
    )


def retry(job: Job, *, error_class: str, message: str, traceback: str = "", delay: float | None = None) -> bool:
    """Hand the job back as READY after ``delay`` seconds, or else a doubling delay (with jitter) up to
    the task's ``retry_max_delay``."""
    if delay is None:
        try:
            task = resolve_task(job.task_path)
            base, cap = task.retry_delay, task.retry_max_delay
        except Exception:
            base, cap = 1.0, None
        delay = base * 2 ** max(job.attempts - 1, 0)
        delay += random.uniform(0, delay * 0.1)
        if cap is not None:
            delay = min(delay, cap)
    fields: dict[str, Any] = {"error_class": error_class, "error_message": message, "error_traceback": traceback}
    return _back_to_ready(
        job,
        attempt_ended=True,
        run_after=timezone.now() + timedelta(seconds=delay),
        errors=_with_error(job, fields),
        **fields,
    )


def hand_back(job: Job, *, silent_for: float | None = None) -> bool:
    """Return an interrupted attempt as READY at once (worker shutdown); it does not use up a retry.

    With ``silent_for``, only if the attempt's lease has not been renewed for that many seconds
    by the database's clock (its worker is lost). The attempt number stays, so writes of the
    interrupted attempt remain fenced off.
    """
    rows = Job.objects.attempt(job)
    if silent_for is not None:
        rows = rows.filter(heartbeat_at__lt=db_now_plus(-silent_for))
    return _back_to_ready(job, rows=rows, max_attempts=F("max_attempts") + 1)


def _back_to_ready(job: Job, *, rows: JobQuerySet | None = None, attempt_ended: bool = False, **fields: Any) -> bool:
    """Make this attempt's job READY again with ``fields`` (of ``rows``, by default the attempt's row),
    announce it and dispatch it.

    With ``attempt_ended`` (a retry), the attempt ran and ended: ``task_finished`` is sent.
    """
    rows = Job.objects.attempt(job) if rows is None else rows
    updated = rows.update(
        status=JobStatus.READY,
        worker_id="",
        heartbeat_at=None,
        dispatched_at=None,
        workspace=job.workspace,
        **fields,
    )
    if updated:
        job.refresh_from_db()
        publish(JobEvent.for_job(job, "retry"))
        if attempt_ended:
            task_signals.finished(job)
        get_executor(job.executor).dispatch(job)
    return bool(updated)
