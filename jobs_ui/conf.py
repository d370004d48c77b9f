"""The ``JOBS_UI`` setting: its defaults, read at call time and cached until the setting changes."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Where a task runs unless it says otherwise: "thread" or "worker".
    "EXECUTOR": "thread",
    # Threads per web process for thread jobs; more jobs wait as READY.
    "THREAD_POOL_SIZE": 4,
    # How long an idle thread of the pool waits before looking at the
    # database again (jobs launched by other processes, run_after).
    "THREAD_IDLE_POLL": 1.0,
    # Start the pool with the web process's first request, so jobs left
    # behind by a previous process are picked up without a new launch.
    "THREAD_AUTOSTART": True,
    "RESULT_STORE": {
        "BACKEND": "jobs_ui.stores.database.DatabaseResultStore",
        "OPTIONS": {},
    },
    # amqp://user:password@host:port/vhost; enables the RabbitMQ event bus,
    # the RabbitMQ result store and dispatch to workers.
    "AMQP_URL": None,
    # First part of every exchange and queue name jobs_ui declares.
    "AMQP_PREFIX": "jobs_ui",
    # Seconds pika waits on a broker that blocks publishers (memory alarm).
    "AMQP_BLOCKED_TIMEOUT": 10.0,
    # Seconds a finished job's result is kept.
    "RESULT_TTL": 24 * 60 * 60,
    "MAX_ARGUMENTS_BYTES": 64 * 1024,
    "MAX_RESULT_BYTES": 1024 * 1024,
    # Unfinished (READY or RUNNING) jobs one user may have; None for no limit.
    "MAX_UNFINISHED_JOBS_PER_USER": 20,
    # Minimum seconds between two progress writes of one job.
    "PROGRESS_INTERVAL": 0.25,
    # Seconds between heartbeats of a worker (or web process running threads).
    "HEARTBEAT_INTERVAL": 5.0,
    # A worker silent this long is lost, and its running jobs recovered.
    "HEARTBEAT_TIMEOUT": 30.0,
    # Seconds between two polls of the progress panel.
    "POLL_INTERVAL": 1.0,
    # Without AMQP_URL: how long an idle jobs_ui_worker waits before it asks
    # the database for work again (never between two jobs, only when idle).
    "WORKER_IDLE_POLL": 0.5,
    # With AMQP_URL: seconds between two sweeps that publish READY worker jobs
    # without a message in RabbitMQ (broker down at launch, run_after due, retries).
    "DISPATCH_SWEEP_INTERVAL": 1.0,
    # With AMQP_URL: seconds a new job gets for its own publish (and its confirm)
    # before a sweep publishes it; shorter, and a burst of launches still being
    # confirmed is published twice (each duplicate is dropped, at a cost).
    "DISPATCH_GRACE": 10.0,
    # Seconds running jobs get to finish after SIGINT/SIGTERM before the
    # worker hands them back as READY.
    "SHUTDOWN_GRACE": 30.0,
    # Seconds a job in the process pool gets, after its timeout or a cancel
    # request, to stop by itself before its process is killed.
    "HARD_STOP_GRACE": 5.0,
    # A secret that monitoring sends as "Authorization: Bearer <token>" to read
    # /jobs/health.json and /jobs/metrics; None: staff only.
    "HEALTH_TOKEN": None,
    # Cron schedules by name: {"name": {"task": "app.tasks.x", "cron": "0 3 * * *", ...}} (jobs_ui.jobs.schedules).
    "SCHEDULES": {},
    # Where jobs_ui.mail.QueuedEmailBackend's jobs send the messages.
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    # Panels join a websocket (jobs_ui.routing in the project's asgi.py) and poll only while it is down.
    "WEBSOCKETS": False,
    # Where the websocket of job <uuid> is: WEBSOCKET_URL + "<uuid>/".
    "WEBSOCKET_URL": "/ws/jobs/",
    # At most this many panels a second pushed to one socket (the final one always); 0: no limit.
    "PUSH_RATE": 10,
}


# Keys jobs_ui no longer reads, and what happens instead (a warning, jobs_ui.W003).
REMOVED: dict[str, str] = {
    "ASSIGN_IDLE_WORKERS": (
        "On PostgreSQL, a new worker job always takes a free slot offered by an idle worker in its own INSERT, "
        "when one is offered."
    ),
    "NOTIFY_IDLE_WORKERS": (
        "A new worker job always wakes idle workers (NOTIFY on PostgreSQL, a datagram on SQLite); with AMQP_URL, "
        "a worker with a free slot claims it at once instead of waiting for its message."
    ),
}


@cache
def get_config() -> dict[str, Any]:
    user = getattr(settings, "JOBS_UI", {}) or {}
    config = {**DEFAULTS, **user}
    store = config["RESULT_STORE"]
    if isinstance(store, dict):
        config["RESULT_STORE"] = {"OPTIONS": {}, **store}
    return config


def unknown_keys() -> list[str]:
    user = getattr(settings, "JOBS_UI", {}) or {}
    return sorted(set(user) - set(DEFAULTS) - set(REMOVED))


def removed_keys() -> list[str]:
    user = getattr(settings, "JOBS_UI", {}) or {}
    return sorted(set(user) & set(REMOVED))
