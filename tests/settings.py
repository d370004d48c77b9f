from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SECRET_KEY = "jobs-ui-tests-not-secret"
# A worker started by a test with JOBS_UI_TEST_DEBUG=1 may use --reload.
DEBUG = os.environ.get("JOBS_UI_TEST_DEBUG") == "1"
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"

# JOBS_UI_TEST_DB=sqlite runs the suite on SQLite; PostgreSQL otherwise.
if os.environ.get("JOBS_UI_TEST_DB", "postgres") == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(ROOT / "tests.sqlite3"),
            # A file, not :memory:, so threads and subprocesses share it.
            "TEST": {"NAME": str(ROOT / f"test-{os.getpid()}.sqlite3")},
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("JOBS_UI_TEST_PG_NAME", "jobs_ui"),
            "HOST": os.environ.get("JOBS_UI_TEST_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("JOBS_UI_TEST_PG_PORT", "5432"),
            "USER": os.environ.get("JOBS_UI_TEST_PG_USER", "root"),
        }
    }

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "jobs_ui",
    "tests",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [ROOT / "templates", ROOT / "tests" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

STATIC_URL = "/static/"
STATICFILES_DIRS = [ROOT / "static"]

TASKS = {
    "default": {
        "BACKEND": "jobs_ui.backend.JobsBackend",
        "QUEUES": ["default", "other"],
    }
}

JOBS_UI = {
    "THREAD_POOL_SIZE": 2,
    "THREAD_AUTOSTART": False,
    "THREAD_IDLE_POLL": 0.2,
    "PROGRESS_INTERVAL": 0.0,
    "HEARTBEAT_INTERVAL": 0.5,
    "HEARTBEAT_TIMEOUT": 3.0,
    "WORKER_IDLE_POLL": 0.05,
    "DISPATCH_SWEEP_INTERVAL": 0.2,
    "DISPATCH_GRACE": 0.2,
    "SHUTDOWN_GRACE": 5.0,
    "HARD_STOP_GRACE": 0.3,
}

# A worker started by a test gets that test's JOBS_UI (tests/worker_fixtures.py).
if os.environ.get("JOBS_UI_TEST_OVERRIDES"):
    JOBS_UI = json.loads(os.environ["JOBS_UI_TEST_OVERRIDES"])

# A worker started by a test that sends queued mail gets that test's MAILERS (tests/test_mail.py).
if os.environ.get("JOBS_UI_TEST_MAILERS"):
    MAILERS = json.loads(os.environ["JOBS_UI_TEST_MAILERS"])

# A subprocess started by a test (tests/crash_child.py) joins the test database.
if os.environ.get("JOBS_UI_TEST_DB_NAME"):
    DATABASES["default"]["NAME"] = os.environ["JOBS_UI_TEST_DB_NAME"]

LOGIN_URL = "/accounts/login/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
