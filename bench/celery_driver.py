"""Measures Celery 5 (RabbitMQ broker, prefork pool): ``python bench/celery_driver.py N_NOOP N_SLEEP N_LATENCY``.

Runs in bench/.venv-celery; prints one JSON object with the figures.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from celery_app import app, noop, sleep50, stamp  # noqa: E402
from common import drain_rate, percentiles, wait_for_lines  # noqa: E402

CONCURRENCY = 2


def start_worker() -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool", "prefork"]
    command += ["--concurrency", str(CONCURRENCY), "--loglevel", "warning", "-Q", app.conf.task_default_queue]
    worker = subprocess.Popen(command, cwd=HERE)
    # Ready once it answers a ping.
    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=0.5):
        if time.monotonic() > deadline:
            raise RuntimeError("The Celery worker did not start")
    return worker


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGTERM)
    worker.wait(60)


def drain(task: object, n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "marks")
        for _ in range(n):
            task.delay(path)  # type: ignore[attr-defined]
        worker = start_worker()
        try:
            marks = wait_for_lines(path, n, timeout=600, worker=worker)
        finally:
            stop_worker(worker)
    return drain_rate(marks)


def purge() -> None:
    with app.connection() as connection:
        channel = connection.default_channel
        channel.queue_declare(app.conf.task_default_queue, durable=True, auto_delete=False)
        channel.queue_purge(app.conf.task_default_queue)


def _wait_ready(result: Any) -> None:
    """Read the task's state every 5 ms until it has finished, as jobs_ui's side reads its job's status.

    Only ever polled, never ``get()``: the rpc:// backend's consumer, once started, would take
    the replies that a poll reads.
    """
    deadline = time.monotonic() + 30
    while not result.ready():
        if time.monotonic() > deadline:
            raise TimeoutError("No result within 30 s")
        time.sleep(0.005)


def main() -> None:
    n_noop, n_sleep, n_latency = (int(arg) for arg in sys.argv[1:4])
    purge()
    figures: dict[str, object] = {}
    if n_noop:  # 0 0 N: pickups only (bench/pickup.py)
        calls = []
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(min(n_noop, 1000)):
                before = time.perf_counter()
                noop.delay(os.path.join(tmp, "unused"))
                calls.append(time.perf_counter() - before)
        figures["enqueue"] = len(calls) / (time.perf_counter() - started)
        figures["enqueue_call"] = percentiles(calls)
        purge()
        figures["drain_noop"] = drain(noop, n_noop)
    if n_sleep:
        figures["drain_sleep"] = drain(sleep50, n_sleep)
    worker = start_worker()
    try:
        _wait_ready(stamp.delay())  # warm up
        running, visible, calls = [], [], []
        for _ in range(n_latency):
            t0 = time.time()
            before = time.perf_counter()
            result = stamp.delay()
            calls.append(time.perf_counter() - before)
            _wait_ready(result)
            visible.append(time.time() - t0)
            began = result.result
            running.append(began - t0)
            time.sleep(0.05)
    finally:
        stop_worker(worker)
    figures |= {
        # No "finished": Celery keeps no time of a task's end that this client could read.
        "running": percentiles(running),
        "visible": percentiles(visible),
        "enqueue_idle_worker": percentiles(calls),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
