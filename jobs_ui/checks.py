"""System checks for JOBS_UI (ids jobs_ui.E001…); they never open a socket."""

from __future__ import annotations

import sqlite3
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper

from jobs_ui.backend import EXECUTORS
from jobs_ui.conf import REMOVED, get_config, removed_keys, unknown_keys
from jobs_ui.exceptions import InvalidBackend
from jobs_ui.models import Job
from jobs_ui.stores import get_result_store

NUMBERS = (
    "THREAD_POOL_SIZE",
    "THREAD_IDLE_POLL",
    "RESULT_TTL",
    "MAX_ARGUMENTS_BYTES",
    "MAX_RESULT_BYTES",
    "PROGRESS_INTERVAL",
    "HEARTBEAT_INTERVAL",
    "HEARTBEAT_TIMEOUT",
    "POLL_INTERVAL",
    "AMQP_BLOCKED_TIMEOUT",
    "WORKER_IDLE_POLL",
    "DISPATCH_SWEEP_INTERVAL",
    "DISPATCH_GRACE",
    "SHUTDOWN_GRACE",
    "HARD_STOP_GRACE",
)


# The shortest bearer token accepted for the health endpoints.
MIN_HEALTH_TOKEN = 20


@register(Tags.compatibility)
def check_settings(**kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    unknown = unknown_keys()
    if unknown:
        messages.append(
            Error(
                f"Unknown JOBS_UI setting(s): {', '.join(unknown)}.",
                hint="Check the spelling; the settings are listed in jobs_ui.conf.DEFAULTS.",
                id="jobs_ui.E004",
            )
        )
    messages.extend(
        Warning(
            f"JOBS_UI[{key!r}] is no longer used.",
            hint=f"Remove it. {REMOVED[key]}",
            id="jobs_ui.W003",
        )
        for key in removed_keys()
    )
    config = get_config()
    if config["EXECUTOR"] not in EXECUTORS:
        messages.append(
            Error(
                f"JOBS_UI['EXECUTOR'] is {config['EXECUTOR']!r}.",
                hint="Use 'thread', 'worker' or (in tests) 'immediate'.",
                id="jobs_ui.E005",
            )
        )
    for key in NUMBERS:
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            messages.append(
                Error(
                    f"JOBS_UI[{key!r}] must be a number >= 0, not {value!r}.",
                    hint=f"Remove it to use the default, {get_config.__module__}.DEFAULTS[{key!r}].",
                    id="jobs_ui.E006",
                )
            )
    cap = config["MAX_UNFINISHED_JOBS_PER_USER"]
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        messages.append(
            Error(
                f"JOBS_UI['MAX_UNFINISHED_JOBS_PER_USER'] must be None or a whole number >= 1, not {cap!r}.",
                hint="None removes the limit.",
                id="jobs_ui.E006",
            )
        )
    token = config["HEALTH_TOKEN"]
    if token is not None and (not isinstance(token, str) or len(token) < MIN_HEALTH_TOKEN):
        messages.append(
            Error(
                f"JOBS_UI['HEALTH_TOKEN'] must be None or a string of at least {MIN_HEALTH_TOKEN} characters.",
                hint="Use a long random secret (python -c 'import secrets; print(secrets.token_urlsafe())').",
                id="jobs_ui.E006",
            )
        )
    messages.extend(_push_messages(config))
    if config["EMAIL_BACKEND"] == "jobs_ui.mail.QueuedEmailBackend":
        messages.append(
            Error(
                "JOBS_UI['EMAIL_BACKEND'] is the backend that sends the queued messages; it cannot be the queue itself.",
                hint="Name the real backend, e.g. 'django.core.mail.backends.smtp.EmailBackend'.",
                id="jobs_ui.E009",
            )
        )
    messages.extend(_store_messages())
    return messages


def _push_messages(config: dict[str, Any]) -> list[CheckMessage]:
    problems = []
    if not isinstance(config["WEBSOCKETS"], bool):
        problems.append("JOBS_UI['WEBSOCKETS'] must be True or False.")
    url = config["WEBSOCKET_URL"]
    if not isinstance(url, str) or not url.startswith("/") or not url.endswith("/"):
        problems.append("JOBS_UI['WEBSOCKET_URL'] must be a path that starts and ends with '/', like '/ws/jobs/'.")
    rate = config["PUSH_RATE"]
    if isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 0:
        problems.append("JOBS_UI['PUSH_RATE'] must be a number of panels a second, 0 or more (0: no limit).")
    return [Error(problem, id="jobs_ui.E008") for problem in problems]


def _store_messages() -> list[CheckMessage]:
    get_result_store.cache_clear()
    try:
        store = get_result_store()
    except (InvalidBackend, KeyError, TypeError) as e:
        return [
            Error(
                f"JOBS_UI['RESULT_STORE'] cannot be used: {e}",
                hint="Set BACKEND to 'jobs_ui.stores.database.DatabaseResultStore' or 'jobs_ui.stores.rabbitmq.RabbitMQResultStore'.",
                id="jobs_ui.E001",
            )
        ]
    messages = list(store.check())
    if get_config()["EXECUTOR"] == "worker" and not store.supports_cross_process:
        messages.append(
            Warning(
                f"{type(store).__name__} keeps results in one process, but jobs run on worker processes.",
                hint="Use DatabaseResultStore or RabbitMQResultStore with the worker executor.",
                id="jobs_ui.W001",
            )
        )
    return messages


@register(Tags.compatibility)
def check_htmx(**kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if not apps.is_installed("django_htmx"):
        messages.append(
            Error(
                "django_htmx is not in INSTALLED_APPS.",
                hint="Add 'django_htmx' to INSTALLED_APPS; jobs_ui's templates use {% htmx_script %}.",
                id="jobs_ui.E003",
            )
        )
    if "django_htmx.middleware.HtmxMiddleware" not in settings.MIDDLEWARE:
        messages.append(
            Error(
                "django_htmx's HtmxMiddleware is not in MIDDLEWARE.",
                hint="Add 'django_htmx.middleware.HtmxMiddleware' to MIDDLEWARE; jobs_ui's views read request.htmx.",
                id="jobs_ui.E003",
            )
        )
    return messages


@register(Tags.compatibility)
def check_database(**kwargs: Any) -> list[CheckMessage]:
    return database_messages(connections[router.db_for_write(Job)])


def database_messages(connection: BaseDatabaseWrapper) -> list[CheckMessage]:
    """Whether the jobs table's database runs jobs_ui's statements (they need RETURNING); no query is run."""
    vendor = connection.vendor
    if vendor == "postgresql" or (vendor == "sqlite" and sqlite3.sqlite_version_info >= (3, 35)):
        return []
    found = f"SQLite {sqlite3.sqlite_version}" if vendor == "sqlite" else connection.display_name
    return [
        Error(
            f"jobs_ui keeps its jobs in PostgreSQL or SQLite 3.35+; the database {connection.alias!r} is {found}.",
            hint="Route jobs_ui's models to a PostgreSQL or SQLite database (DATABASE_ROUTERS), or use one as 'default'.",
            id="jobs_ui.E007",
        )
    ]
