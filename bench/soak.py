"""A soak run, not a benchmark: workers are killed, frozen and stopped while their jobs run.

    .venv/bin/python bench/soak.py [--jobs 3000] [--seed 1] [--pool thread|process] [--db postgresql|sqlite]
                                   [--no-broker]

Three workers serve while jobs are launched for about a minute, one by one and in bulk (0, 5, 50 or
300 ms of work each). Every 0.5-2 s one of these happens: a worker is killed (SIGKILL) and replaced;
a worker is frozen (SIGSTOP) past its lease, then thawed; a worker is stopped (SIGTERM) and replaced;
every RabbitMQ connection is closed (``rabbitmqctl close_all_connections``). Once, 20 s in, RabbitMQ
itself is stopped for 3 s while launches go on (``rabbitmqctl stop_app``, then ``start_app``).
Leases are short (3 s).

Each attempt of a job writes a line when it starts and one when its work is done. At the end:

- every job is finished (none READY or RUNNING);
- no attempt started twice;
- a job's work ran to its end twice only when the worker of the earlier attempt was killed or
  frozen while it ran (its side effects happened; the job had to run again);
- every SUCCESSFUL job's work ran to its end.

Prints what happened and exits 1 if a check failed. Needs PostgreSQL and RabbitMQ as for the tests.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")
LEASE = {"HEARTBEAT_INTERVAL": 0.5, "HEARTBEAT_TIMEOUT": 3.0, "DISPATCH_SWEEP_INTERVAL": 0.5, "DISPATCH_GRACE": 0.5}
WORKERS = 3
FREEZE = 4.5  # seconds: past the 3 s lease
ACTIONS = ["kill", "kill", "freeze", "term", "disconnect", "disconnect"]
BROKER_DOWN_AT, BROKER_DOWN_FOR = 20.0, 3.0  # seconds into the run


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pool", choices=["thread", "process"], default="thread")
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--no-broker", action="store_true", help="Workers claim from the database.")
    return parser.parse_args()


class Soak:
    def __init__(self, args: argparse.Namespace, tmp: str) -> None:
        self.args = args
        self.marks = os.path.join(tmp, "marks")
        self.stderr = open(os.path.join(tmp, "workers.log"), "a")  # noqa: SIM115
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.workers: list[subprocess.Popen[bytes]] = []
        # pid: the timer that thaws it. A timer, not the launch loop: a worker frozen while it
        # holds SQLite's write turn holds up the launches, and so would its own thaw.
        self.frozen: dict[int, threading.Timer] = {}
        self.log: list[tuple[float, str, int | None]] = []  # (time, action, pid)
        self.random = random.Random(args.seed)
        self.repeated = 0  # work done again after its worker was killed or frozen mid-job
        # rabbitmqctl actions (disconnects, the broker's stop): with a broker, where rabbitmqctl runs.
        self.broker_actions = not args.no_broker and shutil.which("rabbitmqctl") is not None

    def start_worker(self) -> None:
        command = [sys.executable, "-m", "django", "jobs_ui_worker", "-v0", "--pool", self.args.pool]
        command += ["--concurrency", "4"]
        self.workers.append(subprocess.Popen(command, cwd=ROOT, env=self.env, stderr=self.stderr))

    def launch(self, left: int) -> int:
        import jobs_ui
        from bench import tasks

        n = min(left, self.random.choice([1, 1, 5, 50]))
        work = [[self.marks, self.random.choice([0, 5, 50, 300])] for _ in range(n)]
        if n == 1:
            tasks.soak.enqueue(*work[0])
        else:
            jobs_ui.enqueue_many(tasks.soak, work)  # type: ignore[arg-type]
        return n

    def act(self) -> None:
        action = self.random.choice(ACTIONS if self.broker_actions else [a for a in ACTIONS if a != "disconnect"])
        if action == "disconnect":
            self.rabbitmqctl("close_all_connections", "soak")
            return
        alive = [w for w in self.workers if w.poll() is None and w.pid not in self.frozen]
        if not alive:
            return
        worker = self.random.choice(alive)
        if action == "freeze":
            worker.send_signal(signal.SIGSTOP)
            self.frozen[worker.pid] = timer = threading.Timer(FREEZE, self.thaw, (worker.pid,))
            timer.start()
        else:
            worker.send_signal(signal.SIGKILL if action == "kill" else signal.SIGTERM)
            self.workers.remove(worker)
            self.start_worker()
        self.log.append((time.time(), action, worker.pid))

    def rabbitmqctl(self, *command: str) -> None:
        subprocess.run(
            ["rabbitmqctl", "-q", *command], capture_output=True, check=command[0] != "close_all_connections"
        )
        names = {"close_all_connections": "disconnect", "stop_app": "broker stopped", "start_app": "broker started"}
        self.log.append((time.time(), names[command[0]], None))

    def thaw(self, pid: int) -> None:
        if self.frozen.pop(pid, None) is not None:
            os.kill(pid, signal.SIGCONT)

    def thaw_all(self) -> None:
        for pid, timer in list(self.frozen.items()):
            timer.cancel()
            self.thaw(pid)

    def run(self) -> None:
        from jobs_ui.models import Job, JobStatus

        for _ in range(WORKERS):
            self.start_worker()
        began = time.monotonic()
        launched, next_action = 0, began + 1.0
        broker_down_at, broker_up_at = (began + BROKER_DOWN_AT, None) if self.broker_actions else (None, None)
        while launched < self.args.jobs:
            launched += self.launch(self.args.jobs - launched)
            if broker_down_at is not None and time.monotonic() >= broker_down_at:
                self.rabbitmqctl("stop_app")
                broker_down_at, broker_up_at = None, time.monotonic() + BROKER_DOWN_FOR
            if broker_up_at is not None and time.monotonic() >= broker_up_at:
                self.rabbitmqctl("start_app")
                broker_up_at = None
            if time.monotonic() >= next_action:
                self.act()
                next_action = time.monotonic() + self.random.uniform(0.5, 2.0)
            time.sleep(0.25)
        if broker_up_at is not None:
            self.rabbitmqctl("start_app")
        deadline = time.monotonic() + 300
        while Job.objects.filter(status__in=[JobStatus.READY, JobStatus.RUNNING]).exists():
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.thaw_all()
        for worker in self.workers:
            worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            worker.wait(60)

    def check(self) -> list[str]:
        from jobs_ui.models import Job, JobStatus, Worker

        starts: collections.Counter[tuple[str, int]] = collections.Counter()
        done: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
        with open(self.marks) as f:
            for line in f:
                kind, job_id, attempt, worker_id = line.split()
                if kind == "start":
                    starts[(job_id, int(attempt))] += 1
                else:
                    done[job_id].append((int(attempt), worker_id))
        pids = dict(Worker.objects.values_list("id", "pid"))
        struck = {pid for _, action, pid in self.log if action in ("kill", "freeze")}
        problems = [
            f"attempt {attempt} of job {job_id} started {n} times" for (job_id, attempt), n in starts.items() if n > 1
        ]
        for job in Job.objects.all():
            runs = sorted(done.get(str(job.pk), []))
            if job.status in (JobStatus.READY, JobStatus.RUNNING):
                problems.append(f"job {job.pk} is still {job.status}")
            if job.status == JobStatus.SUCCESSFUL and not runs:
                problems.append(f"job {job.pk} is SUCCESSFUL, but its work never ran to its end")
            for attempt, worker_id in runs[:-1]:
                if pids.get(worker_id) in struck:
                    self.repeated += 1
                else:
                    problems.append(f"job {job.pk}: attempt {attempt} did its work, yet the job ran again: {runs}")
        return problems

    def report(self, problems: list[str]) -> None:
        from jobs_ui.models import Job

        jobs = Job.objects.all()
        ran_again = sum(1 for job in jobs if job.attempts > 1)
        print(f"{self.args.jobs} jobs, {self.args.pool} pool, {self.args.db}, broker: {not self.args.no_broker}")
        print("actions:", dict(collections.Counter(action for _, action, _ in self.log)))
        print("statuses:", dict(collections.Counter(job.status for job in jobs)))
        print("attempts:", dict(sorted(collections.Counter(job.attempts for job in jobs).items())))
        print(f"jobs that needed another attempt: {ran_again}")
        print(f"work done again because its worker was killed or frozen while it ran: {self.repeated}")
        print(f"problems: {len(problems)}")
        for problem in problems[:20]:
            print("  " + problem)


def main() -> None:
    args = options()
    tmp = tempfile.mkdtemp(prefix="jobs_ui_soak_")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        BENCH_DB=args.db,
        BENCH_SQLITE_PATH=os.path.join(tmp, "soak.sqlite3"),
        BENCH_AMQP_URL="" if args.no_broker else AMQP_URL,
        BENCH_JOBS_UI=json.dumps(LEASE),
    )
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    import django

    django.setup()
    # What launching says while RabbitMQ's connections are being closed is expected here.
    logging.getLogger("jobs_ui").setLevel(logging.ERROR)
    from django.core.management import call_command

    if args.db == "postgresql":
        from run import ensure_pg_database

        ensure_pg_database()
    call_command("migrate", verbosity=0)
    from jobs_ui_driver import reset

    reset()
    soak = Soak(args, tmp)
    try:
        soak.run()
    finally:
        if soak.broker_actions:
            # Whatever happened, RabbitMQ runs again afterwards.
            subprocess.run(["rabbitmqctl", "-q", "start_app"], capture_output=True, check=False)
        soak.thaw_all()
        for worker in soak.workers:
            if worker.poll() is None:
                worker.kill()
    problems = soak.check()
    soak.report(problems)
    reset()
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
