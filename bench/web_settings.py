"""Settings of bench/poll.py's web server: the demo site on the benchmark's database, and reference views.

The database comes from the environment as for the other benchmarks (bench/settings.py);
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

DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("BENCH_CONN_MAX_AGE", "60"))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

if os.environ.get("BENCH_BARE") == "1":
    MIDDLEWARE = []

if os.environ.get("BENCH_SESSIONS") == "signed_cookies":
    SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
