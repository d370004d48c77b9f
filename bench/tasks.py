"""The jobs_ui side of the benchmark's tasks (the same work as bench/celery_app.py)."""

from __future__ import annotations

import os
import time

from django.tasks import task


def _mark(path: str) -> None:
    # One write with O_APPEND per job: the drain is timed from these marks.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{time.time()}\n".encode())
    finally:
        os.close(fd)


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
