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
from pathlib import Path

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


def enqueue_rate(n: int) -> float:
    reset()
    started = time.perf_counter()
    for _ in range(n):
        tasks.noop.enqueue("/dev/null")
    return n / (time.perf_counter() - started)


def latency(n: int, worker_args: list[str]) -> dict[str, dict[str, float]]:
    reset()
    worker = start_worker(*worker_args)
    deadline = time.monotonic() + 60
    while not Worker.objects.filter(state=WorkerState.ONLINE).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("The worker did not start")
        time.sleep(0.05)
    running, finished = [], []
    try:
        for i in range(n + 5):
            t0 = time.time()
            result = tasks.stamp.enqueue()
            # The figures are timestamps (the task's own, the row's finished_at), so this
            # side waits without polling hard, leaving the CPUs to the worker.
            time.sleep(0.05)
            while (job := Job.objects.filter(pk=result.id, status=JobStatus.SUCCESSFUL).first()) is None:
                time.sleep(0.01)
            if i >= 5:  # warm-up
                running.append(job.result - t0)
                finished.append(job.finished_at.timestamp() - t0)
            # A random pause, so a job does not always arrive just after the worker's idle poll.
            time.sleep(random.uniform(0, get_config()["WORKER_IDLE_POLL"]))
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    return {"running": percentiles(running), "finished": percentiles(finished)}


def main() -> None:
    n_noop, n_sleep, n_latency = (int(arg) for arg in sys.argv[1:4])
    worker_args = ["--pool", sys.argv[4], "--concurrency", sys.argv[5]]
    if len(sys.argv) > 6:
        worker_args += ["--processes", sys.argv[6]]
    call_command("migrate", verbosity=0)
    figures: dict[str, object] = {}
    if n_noop:  # 0 0 N: pickups only (bench/pickup.py)
        figures["enqueue"] = enqueue_rate(min(n_noop, 1000))
        figures["drain_noop"] = drain(tasks.noop, n_noop, worker_args)
    if n_sleep:
        figures["drain_sleep"] = drain(tasks.sleep50, n_sleep, worker_args)
    figures |= latency(n_latency, worker_args)
    reset()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
