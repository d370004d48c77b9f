"""A PostgreSQL database with a million jobs, for the staff dashboard's scale check (bench/staff_queries.py).

    .venv/bin/python bench/fill_jobs.py [--db jobs_ui_million] [--rows 1000000]

Drops and creates the database ``--db``, migrates it (``bench.web_settings``), makes 50 users and
two online workers, and writes the jobs in one ``INSERT … SELECT … FROM generate_series``, oldest
first (so each index grows at its end, as fast as building it afterwards), then runs ANALYZE.

The jobs span the last 30 days, 3 % of them in the last hour; ids are UUIDv7 of ``enqueued_at``
as ``jobs_ui.jobs.ids`` makes them. The newest 400 are READY (a quarter of them with ``run_after``
in the future) and the 8 before them RUNNING; of the rest about 96 % are SUCCESSFUL, 3 % FAILED
(with an entry in ``errors`` per attempt) and 1 % CANCELLED (half of them before they started).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import django
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
# Other work's databases: never dropped here.
PROTECTED = ("jobs_ui_test", "jobs_ui_dev", "jobs_ui_bench")

USERS = 50
READY = 400
RUNNING = 8
WORKERS = ["bench-worker-1", "bench-worker-2"]
# (task path, queue, typical seconds of a run)
TASKS = [
    ("demo.tasks.export_customers", "reports", 12.0),
    ("demo.tasks.render_monthly_report", "reports", 40.0),
    ("demo.tasks.build_status_report", "reports", 5.0),
    ("demo.tasks.rebuild_index", "default", 90.0),
    ("demo.tasks.crawl_intranet", "default", 30.0),
    ("demo.tasks.count_to", "default", 4.0),
    ("demo.tasks.import_broken_file", "default", 2.0),
    ("demo.tasks.send_welcome_mail", "mail", 0.4),
    ("demo.tasks.send_invoice_mail", "mail", 0.8),
]
ERRORS = [
    ("builtins.ValueError", "invalid literal for int() with base 10: 'N/A'"),
    ("builtins.TimeoutError", "timed out after 30 s"),
    ("builtins.KeyError", "'customer_id'"),
    ("smtplib.SMTPServerDisconnected", "Connection unexpectedly closed"),
]

# Layers: r draws the random numbers (volatile, so PostgreSQL computes them once per row and never
# inlines r), s gives each row its task, status and moment (READY: enqueued, RUNNING: started,
# else finished), t its times; the outer SELECT makes the columns.
ISO = """to_char(({}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
FILL_SQL = f"""
INSERT INTO jobs_ui_job (
    id, task_path, backend, executor, queue_name, priority, args, kwargs, owner_id, public, unique_key,
    status, cancel_requested_at, progress_done, progress_total, progress_message, progress_at, extra, workspace,
    attempts, max_attempts, run_after, enqueued_at, dispatched_at, started_at, last_attempted_at, finished_at,
    heartbeat_at, worker_id, worker_ids, error_class, error_message, error_traceback, errors,
    result_store, result, result_expires_at
)
SELECT
    (lpad(to_hex((extract(epoch FROM enqueued_at) * 1000)::bigint), 12, '0')
        || '7' || substr(h, 1, 3) || '8' || substr(h, 4, 15))::uuid,
    task_path, 'default', 'worker', queue_name, CASE WHEN r_misc < 0.05 THEN 10 ELSE 0 END,
    '[]'::jsonb, '{{}}'::jsonb, owner_id, false, '',
    status,
    CASE WHEN status = 'CANCELLED' THEN finished_at - interval '1 second' END,
    CASE status WHEN 'SUCCESSFUL' THEN 100 WHEN 'READY' THEN 0 ELSE floor(r_run * 100) END,
    CASE WHEN status <> 'READY' THEN 100 END,
    '',
    CASE WHEN status = 'RUNNING' THEN now() WHEN status <> 'READY' THEN finished_at END,
    '{{}}'::jsonb, '{{}}'::jsonb,
    CASE WHEN status = 'READY' THEN 0 ELSE attempts END, attempts,
    run_after, enqueued_at,
    CASE WHEN run_after IS NULL THEN enqueued_at END,
    started_at, started_at, finished_at,
    CASE WHEN status = 'RUNNING' THEN now() - r_run * interval '5 seconds' END,
    CASE WHEN started_at IS NOT NULL THEN worker ELSE '' END,
    CASE WHEN started_at IS NOT NULL THEN jsonb_build_array(worker) ELSE '[]'::jsonb END,
    CASE WHEN status = 'FAILED' THEN error_class ELSE '' END,
    CASE WHEN status = 'FAILED' THEN error_message ELSE '' END,
    CASE WHEN status = 'FAILED' THEN traceback ELSE '' END,
    CASE WHEN status <> 'FAILED' THEN '[]'::jsonb
        WHEN attempts = 1 THEN jsonb_build_array(error || jsonb_build_object('attempt', 1, 'at', {ISO.format("finished_at")}))
        ELSE jsonb_build_array(
            error || jsonb_build_object('attempt', 1, 'at', {ISO.format("enqueued_at + (started_at - enqueued_at) / 2")}),
            error || jsonb_build_object('attempt', 2, 'at', {ISO.format("finished_at")}))
    END,
    CASE WHEN status = 'SUCCESSFUL' THEN 'database' ELSE '' END,
    CASE WHEN status = 'SUCCESSFUL' THEN jsonb_build_object('rows', i %% 1000) END,
    CASE WHEN status = 'SUCCESSFUL' THEN finished_at + interval '1 day' END
FROM (
    SELECT s.*,
        CASE WHEN status = 'FAILED' AND r_err < 0.4 THEN 2 ELSE 1 END AS attempts,
        CASE WHEN status IN ('SUCCESSFUL', 'FAILED', 'CANCELLED') THEN moment END AS finished_at,
        CASE WHEN status = 'READY' THEN moment
            WHEN status = 'RUNNING' THEN moment - wait
            WHEN status = 'CANCELLED' AND r_err < 0.5 THEN moment - wait
            ELSE moment - run - wait END AS enqueued_at,
        CASE WHEN status = 'RUNNING' THEN moment
            WHEN status IN ('SUCCESSFUL', 'FAILED') OR (status = 'CANCELLED' AND r_err >= 0.5) THEN moment - run
        END AS started_at,
        'Traceback (most recent call last):' || chr(10) || '  File "demo/tasks.py", line 42, in '
            || split_part(task_path, '.', 3) || chr(10) || error_class || ': ' || error_message AS traceback,
        jsonb_build_object('class', error_class, 'message', error_message, 'traceback',
            'Traceback (most recent call last):' || chr(10) || '  File "demo/tasks.py", line 42, in '
            || split_part(task_path, '.', 3) || chr(10) || error_class || ': ' || error_message) AS error
    FROM (
        SELECT r.*,
            (%(tasks)s::text[])[k] AS task_path,
            (%(queues)s::text[])[k] AS queue_name,
            (%(users)s::int[])[u] AS owner_id,
            (%(workers)s::text[])[1 + i %% 2] AS worker,
            (%(error_classes)s::text[])[e] AS error_class,
            (%(error_messages)s::text[])[e] AS error_message,
            CASE WHEN i > %(rows)s - %(ready)s AND i %% 4 = 0 THEN now() + r_run * interval '1 day' END AS run_after,
            now() - CASE WHEN pos < 0.03 THEN pos / 0.03 * interval '1 hour'
                ELSE interval '1 hour' + (pos - 0.03) / 0.97 * interval '719 hours' END AS moment,
            0.05 * interval '1 second' + power(r_wait, 4) * interval '1 minute' AS wait,
            (%(seconds)s::float8[])[k] * (0.3 + 1.4 * r_run) * interval '1 second' AS run,
            CASE WHEN i > %(rows)s - %(ready)s THEN 'READY'
                WHEN i > %(rows)s - %(ready)s - %(running)s THEN 'RUNNING'
                WHEN r_status < 0.96 THEN 'SUCCESSFUL'
                WHEN r_status < 0.99 THEN 'FAILED'
                ELSE 'CANCELLED' END AS status
        FROM (
            SELECT i, md5(i::text) AS h,
                1 + floor(power(random(), 1.5) * %(task_count)s)::int AS k,
                1 + floor(power(random(), 2) * %(user_count)s)::int AS u,
                1 + floor(random() * %(error_count)s)::int AS e,
                random() AS r_status, random() AS r_err, random() AS r_wait, random() AS r_run, random() AS r_misc,
                (%(rows)s - i)::float8 / %(rows)s AS pos
            FROM generate_series(1, %(rows)s) AS i
        ) AS r
    ) AS s
) AS t
"""

WORKERS_SQL = """
INSERT INTO jobs_ui_worker (id, label, host, pid, kind, queues, concurrency, pool, started_at, heartbeat_at,
    state, jobs_succeeded, jobs_failed)
SELECT name, name, 'bench-host', 1000 + n, 'worker', '["default", "reports", "mail"]'::jsonb, 4, 'thread',
    now() - interval '30 days', now(), 'online', 0, 0
FROM unnest(%s::text[]) WITH ORDINALITY AS w(name, n)
"""


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="jobs_ui_million", help="the database to drop and create")
    parser.add_argument("--rows", type=int, default=1_000_000)
    return parser.parse_args()


def create_database(name: str) -> None:
    if name.startswith(PROTECTED):
        sys.exit(f"{name} may belong to other work; choose another --db")
    subprocess.run(["dropdb", "-h", "127.0.0.1", "--if-exists", name], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", name], check=True)
    os.environ.update({"DJANGO_SETTINGS_MODULE": "bench.web_settings", "BENCH_DB": "postgresql", "BENCH_PG_NAME": name})
    os.environ.pop("BENCH_AMQP_URL", None)
    sys.path.insert(0, str(ROOT))
    django.setup()


def make_users() -> list[int]:
    user_model = get_user_model()
    user_model.objects.bulk_create(user_model(username=f"user{n:02}") for n in range(1, USERS + 1))
    return list(user_model.objects.order_by("pk").values_list("pk", flat=True))


def fill(rows: int, users: list[int]) -> None:
    params: dict[str, Any] = {
        "rows": rows,
        "ready": READY,
        "running": RUNNING,
        "tasks": [path for path, _, _ in TASKS],
        "queues": [queue for _, queue, _ in TASKS],
        "seconds": [seconds for _, _, seconds in TASKS],
        "task_count": len(TASKS),
        "users": users,
        "user_count": len(users),
        "workers": WORKERS,
        "error_classes": [error_class for error_class, _ in ERRORS],
        "error_messages": [message for _, message in ERRORS],
        "error_count": len(ERRORS),
    }
    with connection.cursor() as cursor:
        cursor.execute(WORKERS_SQL, [WORKERS])
        cursor.execute(FILL_SQL, params)
        cursor.execute("ANALYZE")


def main() -> None:
    args = options()
    start = time.monotonic()
    create_database(args.db)
    call_command("migrate", verbosity=0)
    users = make_users()
    migrated = time.monotonic()
    fill(args.rows, users)
    end = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, count(*) FROM jobs_ui_job GROUP BY status ORDER BY 2 DESC")
        counts = ", ".join(f"{status} {n}" for status, n in cursor.fetchall())
    print(f"{args.db}: {args.rows} jobs ({counts})")
    print(f"database and migrations {migrated - start:.1f} s, jobs and ANALYZE {end - migrated:.1f} s")
    print(f"total {end - start:.1f} s")


if __name__ == "__main__":
    main()
