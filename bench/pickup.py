"""Pickup rounds against Celery: ``.venv/bin/python bench/pickup.py [--rounds 3] [--jobs 150]``.

Each round measures every setup once, in the same order (jobs_ui's drivers with ``0 0 N``:
pickups only), so a change of the machine's speed during the run shows in every column alike.
Prints a Markdown table of p50 / p95 ms from just before ``enqueue()``/``delay()`` to the
task's start (→ RUNNING). ``BENCH_JOBS_UI`` (JSON) passes settings to jobs_ui's side.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import AMQP_URL, celery_python, ensure_pg_database, run_json  # noqa: E402

# (name, BENCH_DB, with RabbitMQ, pool, concurrency)
SETUPS = [
    ("PostgreSQL + RabbitMQ c=2", "postgresql", True, "thread", "2"),
    ("PostgreSQL polling c=6", "postgresql", False, "thread", "6"),
    ("SQLite + RabbitMQ c=6", "sqlite", True, "thread", "6"),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=150)
    parser.add_argument(
        "--only", help="Run only the jobs_ui setups whose names contain one of these (comma-separated)."
    )
    options = parser.parse_args()
    ensure_pg_database()
    wanted = options.only.split(",") if options.only else None
    setups = [s for s in SETUPS if not wanted or any(part in s[0] for part in wanted)]
    tmp = tempfile.mkdtemp(prefix="jobs_ui_pickup_")
    names = [name for name, *_ in setups] + ["Celery"]
    rows = []
    for round_number in range(1, options.rounds + 1):
        cells = []
        for name, db, broker, pool, concurrency in setups:
            env = {
                "BENCH_DB": db,
                "BENCH_SQLITE_PATH": os.path.join(tmp, "bench.sqlite3"),
                "BENCH_AMQP_URL": AMQP_URL if broker else "",
            }
            command = [sys.executable, str(HERE / "jobs_ui_driver.py"), "0", "0", str(options.jobs), pool, concurrency]
            print(f"... round {round_number}: {name}", file=sys.stderr)
            cells.append(run_json(command, env)["running"])
        celery = [str(celery_python()), str(HERE / "celery_driver.py"), "0", "0", str(options.jobs)]
        print(f"... round {round_number}: Celery", file=sys.stderr)
        cells.append(run_json(celery, {"BENCH_AMQP_URL": AMQP_URL.replace("%2F", "")})["running"])
        rows.append(f"| {round_number} | " + " | ".join(f"{c['p50']:.2f} / {c['p95']:.2f}" for c in cells) + " |")  # type: ignore[index]
    print("| round | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
