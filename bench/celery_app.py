"""The Celery side of the benchmark; runs in bench/.venv-celery, never imported by jobs_ui."""

from __future__ import annotations

import os
import time

from celery import Celery

app = Celery(
    "bench_celery",
    broker=os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@localhost:5672//"),
    backend="rpc://",
)
app.conf.task_default_queue = os.environ.get("BENCH_CELERY_QUEUE", "jobs_ui_bench_celery")
app.conf.worker_hijack_root_logger = False
app.conf.broker_connection_retry_on_startup = True


def _mark(path: str) -> None:
    # One write with O_APPEND per task: the drain is timed from these marks.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{time.time()}\n".encode())
    finally:
        os.close(fd)


@app.task(ignore_result=True)
def noop(path: str) -> None:
    _mark(path)


@app.task(ignore_result=True)
def sleep50(path: str) -> None:
    time.sleep(0.05)
    _mark(path)


@app.task
def stamp() -> float:
    return time.time()
