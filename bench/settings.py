"""Django settings for the benchmark: the database and broker come from the environment (bench/run.py)."""

from __future__ import annotations

import json
import os
from typing import Any

SECRET_KEY = "jobs-ui-bench-not-secret"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "django_htmx", "jobs_ui"]
MIDDLEWARE = ["django_htmx.middleware.HtmxMiddleware"]

DATABASES: dict[str, dict[str, Any]]
if os.environ["BENCH_DB"] == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ["BENCH_SQLITE_PATH"],
            # What a production SQLite setup uses: WAL, so readers never wait for the writer.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("BENCH_PG_NAME", "jobs_ui_bench"),
            "HOST": os.environ.get("BENCH_PG_HOST", "127.0.0.1"),
            "USER": os.environ.get("BENCH_PG_USER", "root"),
            # psycopg prepares a statement after 5 runs; Django turns that off by default.
            # It applies to jobs_ui's job INSERT, claims and final writes only (sent with server-side
            # binding); Django's own queries bind on the client and are never prepared.
            "OPTIONS": {"prepare_threshold": 5},
        }
    }

TASKS = {"default": {"BACKEND": "jobs_ui.backend.JobsBackend"}}

JOBS_UI = {
    "EXECUTOR": "worker",
    "AMQP_URL": os.environ.get("BENCH_AMQP_URL") or None,
    "AMQP_PREFIX": "jobs_ui_bench",
    "MAX_UNFINISHED_JOBS_PER_USER": None,
    **json.loads(os.environ.get("BENCH_JOBS_UI", "{}")),
}
