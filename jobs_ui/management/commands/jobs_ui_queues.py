"""``manage.py jobs_ui_queues [--json]``: depth per queue, oldest READY age, running count."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jobs_ui.queues import dead_letters, queue_stats


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


class Command(BaseCommand):
    help = "Show each queue: READY jobs (and how many are due), the oldest READY job's age, RUNNING jobs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")

    def handle(self, *args: Any, **options: Any) -> None:
        stats = queue_stats()
        dead = dead_letters()
        if options["json"]:
            self.stdout.write(json.dumps({"queues": [asdict(s) for s in stats], "dead_letters": dead}))
            return
        header = ("queue", "ready", "due", "oldest ready", "running", "messages", "consumers")
        lines = [header] + [
            (
                s.name,
                str(s.ready),
                str(s.due),
                _age(s.oldest_ready_age),
                str(s.running),
                "-" if s.messages is None else str(s.messages),
                "-" if s.consumers is None else str(s.consumers),
            )
            for s in stats
        ]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        for line in lines:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if dead is not None:
            self.stdout.write(f"dead letters: {dead}")
