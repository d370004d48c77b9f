"""The worker executor: a committed job is handed to worker processes (a message, a note, or the row alone)."""

from __future__ import annotations

import logging

from django.db import connections

from jobs_ui.broker.dispatch import dispatch
from jobs_ui.conf import get_config
from jobs_ui.db import assignment, wakeups
from jobs_ui.db.sql import jobs_alias
from jobs_ui.executors.base import BaseExecutor
from jobs_ui.models import Job

logger = logging.getLogger(__name__)


class WorkerExecutor(BaseExecutor):
    """Runs jobs on ``jobs_ui_worker`` processes, on any number of machines.

    With ``AMQP_URL``, each committed job is published to RabbitMQ (durable queue
    per ``queue_name``, persistent message, publisher confirms); without it,
    workers claim READY rows from the database themselves (woken by ``NOTIFY``
    on PostgreSQL and by a datagram on SQLite, see ``jobs_ui.db.wakeups``).
    """

    name = "worker"
    supports_cross_process = True

    def dispatch(self, job: Job) -> None:
        if get_config()["AMQP_URL"] and not self.insert_notification(jobs_alias()):
            # What the INSERT sends on PostgreSQL (a datagram on SQLite); the message follows.
            wakeups.notify_job(job.queue_name, job.pk)
        self.dispatch_many([job])

    def insert_notification(self, alias: str) -> str:
        # Without a broker on PostgreSQL, dispatching is only the notification; with
        # one, it tells idle workers to claim at once (jobs_ui.worker.broker_feed.BrokerFeed).
        return wakeups.CHANNEL if connections[alias].vendor == "postgresql" else ""

    def assigns(self, alias: str, job: Job) -> bool:
        # A delayed job waits for its time in the queue, not in a worker.
        return job.run_after is None and assignment.enabled(alias)

    def dispatch_after_notification(self) -> bool:
        # The message still carries the job: a notification reaches only the workers
        # listening at that moment.
        return bool(get_config()["AMQP_URL"])

    def dispatch_many(self, jobs: list[Job]) -> None:
        """Hand over several committed READY jobs (bulk creation). Never raises."""
        if not get_config()["AMQP_URL"]:
            # Workers find committed READY rows themselves; on PostgreSQL, idle ones are woken now.
            wakeups.notify(job.queue_name for job in jobs)
            return
        try:
            dispatch(jobs)
        except Exception:
            # The row is committed: the sweep of a worker publishes it later.
            logger.exception("Could not dispatch %d job(s); they wait as READY", len(jobs))

    def stop(self, timeout: float = 10.0) -> None:
        return None
