"""``manage.py jobs_ui_queues [--json] [--dead-letters [--limit N] | --purge-dead-letters]``.

Depth per queue, oldest READY age, running count; or the messages workers put aside.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs_ui.broker.queues import DeadLetter, browse_dead_letters, dead_letters, purge_dead_letters, queue_stats
from jobs_ui.exceptions import BrokerError, NoBroker
from jobs_ui.management.arguments import positive_int

# How much of a dead letter's body the table shows.
BODY_PREVIEW = 120
DEFAULT_LIMIT = 20


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


class Command(BaseCommand):
    help = (
        "Show each queue: READY jobs (and how many are due), the oldest READY job's age, RUNNING jobs. "
        "With --dead-letters, the messages workers could not use, oldest first, left in place."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
        group = parser.add_mutually_exclusive_group()
        group.add_argument(
            "--dead-letters", action="store_true", help="List the dead letters (RabbitMQ) instead of the queues."
        )
        group.add_argument(
            "--purge-dead-letters", action="store_true", help="Delete every dead letter and say how many there were."
        )
        parser.add_argument(
            "--limit", type=positive_int, help=f"How many dead letters to list (default {DEFAULT_LIMIT})."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["limit"] is not None and not options["dead_letters"]:
            raise CommandError("--limit goes with --dead-letters.")
        limit = DEFAULT_LIMIT if options["limit"] is None else options["limit"]
        try:
            if options["dead_letters"]:
                self._dead_letters(*browse_dead_letters(limit), as_json=options["json"])
            elif options["purge_dead_letters"]:
                purged = purge_dead_letters()
                if options["json"]:
                    self.stdout.write(json.dumps({"purged": purged}))
                else:
                    self.stdout.write(f"Deleted {purged} dead letter{'' if purged == 1 else 's'}.")
            else:
                self._queues(as_json=options["json"])
        except (NoBroker, BrokerError) as e:
            raise CommandError(str(e)) from e

    def _queues(self, *, as_json: bool) -> None:
        stats = queue_stats()
        dead = dead_letters()
        if as_json:
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

    def _dead_letters(self, letters: list[DeadLetter], total: int, *, as_json: bool) -> None:
        if as_json:
            listed = [asdict(letter) | {"at": letter.at and letter.at.isoformat()} for letter in letters]
            self.stdout.write(json.dumps({"dead_letters": listed, "total": total}))
            return
        if not letters:
            self.stdout.write("No dead letters.")
            return
        for letter in letters:
            at = letter.at.isoformat(timespec="seconds") if letter.at else "-"
            body = letter.body if len(letter.body) <= BODY_PREVIEW else letter.body[: BODY_PREVIEW - 1] + "…"
            self.stdout.write(f"{at}  {letter.queue}  {letter.worker}")
            self.stdout.write(f"  reason: {letter.reason}")
            self.stdout.write(f"  body:   {body}")
        self.stdout.write(f"Showing {len(letters)} of {total} dead letter{'' if total == 1 else 's'}, oldest first.")
