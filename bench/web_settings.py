"""Settings of bench/poll.py's and bench/launch.py's web server: the demo site on the benchmark's database, and reference views.

The database and broker come from the environment as for the other benchmarks (bench/settings.py),
and so do the JOBS_UI settings (worker jobs, no per-user cap);
``BENCH_BARE=1`` drops every middleware, for the bare reference; ``BENCH_SESSIONS=signed_cookies``
keeps sessions in signed cookies instead of the database.
"""

from __future__ import annotations

import os

from bench import settings as bench_settings
from demo.settings import *  # noqa: F403

ROOT_URLCONF = "bench.web_urls"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
DATABASES = bench_settings.DATABASES
JOBS_UI = {**JOBS_UI, **bench_settings.JOBS_UI}  # noqa: F405

DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("BENCH_CONN_MAX_AGE", "60"))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

if os.environ.get("BENCH_BARE") == "1":
    MIDDLEWARE = []

if os.environ.get("BENCH_SESSIONS") == "signed_cookies":
    SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
