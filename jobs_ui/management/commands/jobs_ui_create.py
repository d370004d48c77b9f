"""``manage.py jobs_ui_create TASK --args JSON --kwargs JSON --queue Q``: create one job, print its id."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.tasks.exceptions import InvalidTask

from jobs_ui.backend import JobTask
from jobs_ui.exceptions import JobsUiException
from jobs_ui.launching import create_job
from jobs_ui.registry import resolve_task


def _json(option: str, text: str, kind: type) -> Any:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise CommandError(f"{option} is not valid JSON: {e}") from e
    if not isinstance(value, kind):
        raise CommandError(f"{option} must be a JSON {'array' if kind is list else 'object'}, not {text!r}.")
    return value


class Command(BaseCommand):
    help = "Create a job of TASK (its dotted path) with JSON arguments; prints the job's id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("task", help="Dotted path of the task, e.g. myapp.tasks.send_report.")
        # Not dest="args": call_command() takes that name for positional arguments.
        parser.add_argument("--args", dest="job_args", default="[]", help="Positional arguments, a JSON array.")
        parser.add_argument("--kwargs", dest="job_kwargs", default="{}", help="Keyword arguments, a JSON object.")
        parser.add_argument("--queue", help="Queue name (default: the task's).")
        parser.add_argument("--priority", type=int, help="-100 to 100 (default: the task's).")

    def handle(self, *args: Any, **options: Any) -> None:
        job_args = _json("--args", options["job_args"], list)
        job_kwargs = _json("--kwargs", options["job_kwargs"], dict)
        try:
            task = resolve_task(options["task"]).using(queue_name=options["queue"], priority=options["priority"])
            task.get_backend().validate_task(task)
            assert isinstance(task, JobTask)
            job = create_job(task, job_args, job_kwargs)
        except (JobsUiException, InvalidTask) as e:
            raise CommandError(str(e)) from e
        self.stdout.write(str(job.pk))
