"""The jobs_ui side of the benchmark's tasks (the same work as bench/celery_app.py)."""

from __future__ import annotations

import os
import time

from django.tasks import TaskContext, task


def _mark(path: str) -> None:
    # The drain is timed from these marks.
    _line(path, f"{time.time()}")


@task()
def noop(path: str) -> None:
    _mark(path)


@task()
def sleep50(path: str) -> None:
    time.sleep(0.05)
    _mark(path)


@task()
def stamp() -> float:
    return time.time()


@task(retries=4, retry_delay=0.05, takes_context=True)
def soak(context: TaskContext, path: str, ms: int) -> int:
    """For bench/soak.py: a line when an attempt starts and one when its work is done."""
    attempt = f"{context.task_result.id} {context.attempt} {context.task_result.worker_ids[-1]}"
    _line(path, f"start {attempt}")
    time.sleep(ms / 1000)
    _line(path, f"done {attempt}")
    return ms


def _line(path: str, line: str) -> None:
    # One write with O_APPEND: lines of concurrent jobs never mix.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)
