"""``manage.py jobs_ui_prune --hours N --keep N [--dry-run]``: delete old finished jobs and their results."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs_ui.jobs.prune import prune


def _non_negative(kind: type[float] | type[int]) -> Any:
    def parse(value: str) -> float | int:
        try:
            number = kind(value)
        except ValueError:
            number = -1
        if number < 0:
            raise argparse.ArgumentTypeError(f"must be a number >= 0, not {value!r}")
        return number

    return parse


class Command(BaseCommand):
    help = "Delete finished jobs older than --hours, and all but the newest --keep per status (READY/RUNNING are kept)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", type=_non_negative(float), help="Delete jobs finished more than N hours ago.")
        parser.add_argument("--keep", type=_non_negative(int), help="Keep at most N finished jobs per status.")
        parser.add_argument("--dry-run", action="store_true", help="Only say what would be deleted.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["hours"] is None and options["keep"] is None:
            raise CommandError("Nothing to prune by: give --hours, --keep, or both.")
        report = prune(hours=options["hours"], keep=options["keep"], dry_run=options["dry_run"])
        verb = "Would delete" if options["dry_run"] else "Deleted"
        detail = ", ".join(f"{status}: {n}" for status, n in report.deleted.items())
        self.stdout.write(f"{verb} {report.total} finished job(s) ({detail}).")
