"""Measures jobs_ui in one setup: ``python bench/jobs_ui_driver.py N_NOOP N_SLEEP N_LATENCY POOL CONCURRENCY [PROCESSES]``.

The database and broker come from the environment (see bench/settings.py); prints one JSON object.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"

import django  # noqa: E402

django.setup()

from common import drain_rate, percentiles, wait_for_lines  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

import jobs_ui  # noqa: E402
from bench import tasks  # noqa: E402
from jobs_ui.conf import get_config  # noqa: E402
from jobs_ui.models import Job, JobStatus, Worker, WorkerState  # noqa: E402

# How often the latency client reads a job's status from its second connection, as a client
# polling status.json hard would (the same for Celery: its result is polled as often).
WATCH_EVERY = 0.005


def reset() -> None:
    Job.objects.all().delete()
    Worker.objects.all().delete()
    if get_config()["AMQP_URL"]:
        from jobs_ui.broker import amqp
        from jobs_ui.broker.messages import dead_letter_queue, job_queue

        for queue in (job_queue("default"), dead_letter_queue()):
            amqp.delete_queue(queue)
        amqp.reset()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE jobs_ui_job")


def start_worker(*args: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "django", "jobs_ui_worker", "-v0", *args]
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def drain(task: object, n: int, worker_args: list[str]) -> float:
    reset()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "marks")
        jobs_ui.enqueue_many(task, [[path]] * n)  # type: ignore[arg-type]
        # Every message in the broker before the worker starts, as Celery's delay() leaves
        # them: the launching process's publisher thread would otherwise still be sending
        # and recording confirms, on the same two CPUs, while the worker drains.
        wait_for_messages()
        worker = start_worker("--until-done", *worker_args)
        marks = wait_for_lines(path, n, timeout=600, worker=worker)
        worker.wait(60)
    return drain_rate(marks)


def wait_for_messages() -> None:
    if get_config()["AMQP_URL"]:
        from jobs_ui.broker import publisher

        if not publisher.flush(120):
            raise RuntimeError("The messages were not confirmed within 120 s")


def enqueue_rate(n: int) -> tuple[float, list[float]]:
    """Jobs per second of ``n`` enqueue() calls one after the other, no worker running, and each call's time."""
    reset()
    calls = []
    started = time.perf_counter()
    for _ in range(n):
        before = time.perf_counter()
        tasks.noop.enqueue("/dev/null")
        calls.append(time.perf_counter() - before)
    return n / (time.perf_counter() - started), calls


def bare_connection(*, autocommit: bool = True) -> tuple[Any, str]:
    """A psycopg or sqlite3 connection of its own to the benchmark's database, and its placeholder.

    SQLite's is in WAL mode with ``synchronous=NORMAL``, as bench/settings.py sets Django's;
    a sqlite3 connection commits each statement unless told ``BEGIN``.
    """
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        import psycopg

        raw = psycopg.connect(
            host=settings["HOST"], dbname=settings["NAME"], user=settings["USER"], autocommit=autocommit
        )
        return raw, "%s"
    import sqlite3

    raw_sqlite = sqlite3.connect(settings["NAME"], isolation_level=None)
    raw_sqlite.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
    return raw_sqlite, "?"


def column_value(job_id: Any) -> Any:
    """A job id as the jobs table stores it: a UUID on PostgreSQL, 32 hex digits on SQLite."""
    return job_id if connection.vendor == "postgresql" else uuid.UUID(str(job_id)).hex


class Watcher:
    """Another connection to the jobs table, as a poll or status.json has: when does it see the job SUCCESSFUL?"""

    def __init__(self) -> None:
        self.connection, placeholder = bare_connection()
        self.query = f"SELECT status FROM jobs_ui_job WHERE id = {placeholder}"

    def seen_successful(self, job_id: Any, every: float = WATCH_EVERY, timeout: float = 30) -> float:
        """The time at which this connection first read SUCCESSFUL, reading the status every ``every`` seconds."""
        deadline = time.monotonic() + timeout
        key = column_value(job_id)
        while True:
            row = self.connection.execute(self.query, [key]).fetchone()
            if row is not None and row[0] == JobStatus.SUCCESSFUL:
                return time.time()
            if time.monotonic() > deadline:
                raise TimeoutError(f"Job {job_id} was not seen SUCCESSFUL within {timeout} s")
            time.sleep(every)


def latency(n: int, worker_args: list[str]) -> dict[str, dict[str, float]]:
    reset()
    worker = start_worker(*worker_args)
    deadline = time.monotonic() + 60
    while not Worker.objects.filter(state=WorkerState.ONLINE).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("The worker did not start")
        time.sleep(0.05)
    watcher = Watcher()
    running, finished, visible, calls = [], [], [], []
    try:
        for i in range(n + 5):
            t0 = time.time()
            before = time.perf_counter()
            result = tasks.stamp.enqueue()
            call = time.perf_counter() - before
            seen = watcher.seen_successful(result.id)
            job = Job.objects.get(pk=result.id)
            if i >= 5:  # warm-up
                running.append(job.result - t0)
                finished.append(job.finished_at.timestamp() - t0)
                visible.append(seen - t0)
                calls.append(call)
            # A random pause, so a job does not always arrive just after the worker's idle poll.
            time.sleep(random.uniform(0, get_config()["WORKER_IDLE_POLL"]))
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    return {
        "running": percentiles(running),
        "finished": percentiles(finished),
        "visible": percentiles(visible),
        "enqueue_idle_worker": percentiles(calls),
    }


def main() -> None:
    n_noop, n_sleep, n_latency = (int(arg) for arg in sys.argv[1:4])
    worker_args = ["--pool", sys.argv[4], "--concurrency", sys.argv[5]]
    if len(sys.argv) > 6:
        worker_args += ["--processes", sys.argv[6]]
    call_command("migrate", verbosity=0)
    figures: dict[str, object] = {}
    if n_noop:  # 0 0 N: pickups only (bench/pickup.py)
        figures["enqueue"], calls = enqueue_rate(min(n_noop, 1000))
        figures["enqueue_call"] = percentiles(calls)
        figures["drain_noop"] = drain(tasks.noop, n_noop, worker_args)
    if n_sleep:
        figures["drain_sleep"] = drain(tasks.sleep50, n_sleep, worker_args)
    figures |= latency(n_latency, worker_args)
    reset()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
