"""The physical limit of a launch: jobs_ui's own INSERT of a job row and its commit, on a bare driver connection.

    .venv/bin/python bench/insert_reference.py [--rounds 3] [--jobs 500]

For each setup (SQLite and PostgreSQL, with and without RabbitMQ), in one process per setup, it
alternates rounds of two loops, no worker running:

- raw: the INSERT statement jobs_ui sends for a new job (``jobs_ui.db.statements``), with the
  values of a real new job, executed and committed on a psycopg or sqlite3 connection of its own
  (a new id each time), with the same settings as the benchmark's (bench/settings.py);
- enqueue(): ``bench.tasks.noop.enqueue(...)`` on Django's connection, everything included.

It prints p50 and p95 of one call, calls per second, and enqueue() over raw. The figures of
both loops come from the same process and the same minute.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=500, help="calls of each loop in a round")
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """In a process set up for one database and broker: the rounds of both loops."""
    sys.path[:0] = [str(ROOT), str(HERE)]
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from jobs_ui_driver import bare_connection, column_value, reset

    from bench import tasks
    from jobs_ui.broker import publisher
    from jobs_ui.conf import get_config
    from jobs_ui.db.statements import _insert_statement
    from jobs_ui.jobs.create import new_job
    from jobs_ui.models import Job

    call_command("migrate", verbosity=0)
    reset()
    fields, sql = _insert_statement("default", False)
    job = new_job(tasks.noop, ["/dev/null"], {})
    values = [field.get_db_prep_save(field.pre_save(job, True), connection) for field in fields]
    id_index = [field.attname for field in fields].index("id")
    postgresql = connection.vendor == "postgresql"
    raw, placeholder = bare_connection(autocommit=False)
    statement = sql.replace("%s", placeholder)

    def insert() -> None:
        values[id_index] = column_value(uuid.uuid4())
        if postgresql:
            raw.execute(statement, values).fetchone()
            raw.commit()
        else:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute(statement, values).fetchone()
            raw.execute("COMMIT")

    def enqueue() -> None:
        tasks.noop.enqueue("/dev/null")

    rounds: dict[str, list[list[float]]] = {"raw": [], "enqueue": []}
    for _ in range(args.rounds):
        for name, call in (("raw", insert), ("enqueue", enqueue)):
            calls = []
            for _ in range(args.jobs):
                before = time.perf_counter()
                call()
                calls.append(time.perf_counter() - before)
            rounds[name].append(calls)
            if get_config()["AMQP_URL"]:
                publisher.flush(60)
    Job.objects.all().delete()
    raw.close()
    reset()
    return {name: [_figures(calls) for calls in loops] for name, loops in rounds.items()}


def _figures(calls: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(calls, n=100)
    return {"p50": statistics.median(calls) * 1000, "p95": cuts[94] * 1000, "rate": len(calls) / sum(calls)}


def main() -> None:
    args = options()
    if args.setup:
        print(json.dumps(measure(args)))
        return
    from run import ensure_pg_database

    ensure_pg_database()
    results = {}
    with tempfile.TemporaryDirectory(prefix="jobs_ui_insert_") as tmp:
        for db in ("sqlite", "postgresql"):
            for broker in ("", AMQP_URL):
                name = f"{db}{' + RabbitMQ' if broker else ''}"
                env = {
                    **os.environ,
                    "BENCH_DB": db,
                    "BENCH_SQLITE_PATH": os.path.join(tmp, "insert.sqlite3"),
                    "BENCH_AMQP_URL": broker,
                }
                command = [sys.executable, __file__, "--setup", "--rounds", str(args.rounds), "--jobs", str(args.jobs)]
                print(f"... {name}", file=sys.stderr)
                done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
                results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\n{args.rounds} rounds of {args.jobs} calls each, alternating; medians of the rounds\n")
    print("| setup | raw INSERT + commit p50 / p95 ms | raw /s | enqueue() p50 / p95 ms | enqueue() /s | p50 × |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, loops in results.items():
        raw, enq = (
            {key: statistics.median(r[key] for r in loops[loop]) for key in ("p50", "p95", "rate")}
            for loop in ("raw", "enqueue")
        )
        print(
            f"| {name} | {raw['p50']:.2f} / {raw['p95']:.2f} | {raw['rate']:,.0f} "
            f"| {enq['p50']:.2f} / {enq['p95']:.2f} | {enq['rate']:,.0f} | {enq['p50'] / raw['p50']:.2f} |"
        )


if __name__ == "__main__":
    main()
