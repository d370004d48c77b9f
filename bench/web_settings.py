"""Settings of bench/poll.py's web server: the demo site, its database from the environment, and reference views.

``BENCH_DB`` is ``sqlite`` (``BENCH_SQLITE_PATH``) or ``postgresql`` (``BENCH_PG_NAME``);
``BENCH_BARE=1`` drops every middleware, for the bare reference; ``BENCH_SESSIONS=signed_cookies``
keeps sessions in signed cookies instead of the database.
"""

from __future__ import annotations

import os

from demo.settings import *  # noqa: F403
from demo.settings import DATABASES, ROOT

ROOT_URLCONF = "bench.web_urls"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

if os.environ["BENCH_DB"] == "sqlite":
    DATABASES["default"]["NAME"] = os.environ.get("BENCH_SQLITE_PATH", str(ROOT / "bench-web.sqlite3"))
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("BENCH_PG_NAME", "jobs_ui_bench_web"),
            "HOST": os.environ.get("BENCH_PG_HOST", "127.0.0.1"),
            "USER": os.environ.get("BENCH_PG_USER", "root"),
        }
    }
DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("BENCH_CONN_MAX_AGE", "60"))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

if os.environ.get("BENCH_BARE") == "1":
    MIDDLEWARE = []

if os.environ.get("BENCH_SESSIONS") == "signed_cookies":
    SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
