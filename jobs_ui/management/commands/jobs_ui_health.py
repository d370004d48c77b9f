"""``manage.py jobs_ui_health [--max-age S] [--queue Q ...]``: exit 0 when healthy, else 1 with a line saying why.

For cron and Kubernetes probes.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError

from jobs_ui.conf import get_config
from jobs_ui.management.arguments import positive_float
from jobs_ui.monitoring.health import problems, read_health

UNHEALTHY = 1


class Command(BaseCommand):
    help = (
        "Check the job queues: exit 0 when healthy; else exit 1 and say why in one line (a queue "
        "whose jobs wait with no worker serving it, thread jobs no web process runs, or, with "
        "--max-age, a job waiting longer than that)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--max-age", type=positive_float, help="Seconds a due job may wait before the check fails.")
        parser.add_argument(
            "--queue",
            action="append",
            dest="queues",
            metavar="QUEUE",
            help="Check this queue only (repeatable); it must have a worker serving it.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        queues = options["queues"]
        try:
            health = read_health(queues)
        except DatabaseError as e:
            self._unhealthy(f"the jobs table cannot be read: {e}".splitlines()[0])
            return
        # Workers are expected on a named queue, and on every queue where workers run jobs by default.
        need_workers = bool(queues) or get_config()["EXECUTOR"] == "worker"
        found = problems(health, max_age=options["max_age"], need_workers=need_workers)
        if found:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            self._unhealthy(found[0] + more)
            return
        online = health.workers["online"]
        waiting = sum(queue.due for queue in health.queues)
        self.stdout.write(
            f"OK: {len(health.queues)} queue(s), {waiting} job(s) waiting, "
            f"{online} worker(s) online, {health.thread_pools} web process(es) running thread jobs"
        )

    def _unhealthy(self, reason: str) -> None:
        self.stderr.write(f"UNHEALTHY: {reason}")
        sys.exit(UNHEALTHY)
