"""Settings of the demo site: the embedded default (SQLite, thread executor, database store)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The demo only ever listens on 127.0.0.1; never use this key anywhere else.
SECRET_KEY = "jobs-ui-demo-not-secret"
# Off by default, so the demo shows its own 404 page like a real site; DEMO_DEBUG=1 for Django's debug pages.
DEBUG = os.environ.get("DEMO_DEBUG", "") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ROOT / "db.sqlite3",
        # Thread jobs write progress while requests read it: WAL lets both go on at once.
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"},
        # Every open panel polls: a connection kept between requests spares each poll opening one.
        # (runserver starts a thread per request, so this counts under gunicorn or uvicorn.)
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
}

INSTALLED_APPS = [
    # First: runserver then serves ASGI (demo/asgi.py), websockets included.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "jobs_ui",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "demo.urls"
ASGI_APPLICATION = "demo.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # demo/templates first: it overrides jobs_ui/base.html so the job pages
        # wear the demo's header. The repository's templates/ is what the wheel
        # ships as jobs_ui/templates.
        "DIRS": [ROOT / "demo" / "templates", ROOT / "templates"],
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
    }
}

JOBS_UI = {
    # Every demo job at once can run (the default is 4 threads per process).
    "THREAD_POOL_SIZE": 8,
    # Snappier than the default 1 s, for the show.
    "POLL_INTERVAL": 0.5,
    # Panels follow their job over a websocket (demo/asgi.py), and poll only while it is down.
    "WEBSOCKETS": True,
}

# Seconds each step of a demo task sleeps, standing in for real work.
DEMO_STEP_SECONDS = 0.2

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# runserver prints errors even with DEBUG off.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"handlers": ["console"], "level": "ERROR"},
        "jobs_ui": {"handlers": ["console"], "level": "WARNING"},
    },
}
