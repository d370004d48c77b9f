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


def main() -> None:
    n_noop, n_sleep, n_latency = (int(arg) for arg in sys.argv[1:4])
    purge()
    figures: dict[str, object] = {}
    if n_noop:  # 0 0 N: pickups only (bench/pickup.py)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(n_noop):
                noop.delay(os.path.join(tmp, "unused"))
        figures["enqueue"] = n_noop / (time.perf_counter() - started)
        purge()
        figures["drain_noop"] = drain(noop, n_noop)
    if n_sleep:
        figures["drain_sleep"] = drain(sleep50, n_sleep)
    worker = start_worker()
    try:
        stamp.delay().get(timeout=30)  # warm up
        running, finished = [], []
        for _ in range(n_latency):
            t0 = time.time()
            result = stamp.delay()
            began = result.get(timeout=30)
            finished.append(time.time() - t0)
            running.append(began - t0)
            time.sleep(0.05)
    finally:
        stop_worker(worker)
    figures |= {"running": percentiles(running), "finished": percentiles(finished)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
