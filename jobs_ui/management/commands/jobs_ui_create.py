"""``manage.py jobs_ui_create TASK --args JSON --kwargs JSON --queue Q``: create one job, print its id.

A thread job runs in this process's pool, and the command waits for it, showing its progress.
"""

from __future__ import annotations

import contextlib
import json
import queue
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.tasks.exceptions import InvalidTask

from jobs_ui.backend import JobTask
from jobs_ui.events import JobEvent, subscribe
from jobs_ui.exceptions import JobsUiException
from jobs_ui.executors import thread_executor
from jobs_ui.executors.thread import sigint_noted
from jobs_ui.jobs.create import create_job
from jobs_ui.jobs.registry import resolve_task
from jobs_ui.models import Job, JobStatus

# Seconds between two reads of the job's row when no event arrives (the job may run elsewhere).
POLL = 1.0
# Exit status when Ctrl-C stops the wait: the job went back as READY.
INTERRUPTED = 130


def _json(option: str, text: str, kind: type) -> Any:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise CommandError(f"{option} is not valid JSON: {e}") from e
    if not isinstance(value, kind):
        raise CommandError(f"{option} must be a JSON {'array' if kind is list else 'object'}, not {text!r}.")
    return value


def _progress(job: Job) -> str:
    if not job.progress_done and not job.progress_message:
        return ""
    done = f"{job.progress_done:g}/{job.progress_total:g}" if job.progress_total else f"{job.progress_done:g}"
    return f"  {done} {job.progress_message}".rstrip()


def follow(
    job: Job, say: Callable[[str], None], wake: queue.SimpleQueue[JobEvent | None], interrupted: Callable[[], bool]
) -> bool:
    """Wait until ``job`` is finished, passing each new progress line to ``say``; False once ``interrupted()``.

    Its events, and anything else put in ``wake``, end each wait for the next look at the row.
    """
    job_id = str(job.pk)

    def receive(event: JobEvent) -> None:
        if event.job_id == job_id:
            wake.put(event)

    unsubscribe = subscribe(receive)
    shown = ""
    try:
        while not interrupted():
            job.refresh_from_db()
            line = _progress(job)
            if line and line != shown:
                say(line)
                shown = line
            if job.is_finished:
                return True
            with contextlib.suppress(queue.Empty):
                wake.get(timeout=POLL)
        return False
    finally:
        unsubscribe()


class Command(BaseCommand):
    help = (
        "Create a job of TASK (its dotted path) with JSON arguments; prints the job's id. "
        "A thread job runs in this process, which waits for it: exit status 1 if it FAILED or was CANCELLED."
    )

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
        wake: queue.SimpleQueue[JobEvent | None] = queue.SimpleQueue()
        # From before the job exists: a Ctrl-C at any moment after hands it back.
        with sigint_noted(wake=lambda: wake.put(None)) as interrupted:
            try:
                task = resolve_task(options["task"]).using(queue_name=options["queue"], priority=options["priority"])
                task.get_backend().validate_task(task)
                assert isinstance(task, JobTask)
                job = create_job(task, job_args, job_kwargs)
            except (JobsUiException, InvalidTask) as e:
                raise CommandError(str(e)) from e
            self.stdout.write(str(job.pk))
            if job.executor != thread_executor().name:
                self._say(f"Job {job.pk} waits on queue {job.queue_name!r} for a jobs_ui_worker process.")
                return
            self._say(
                f"Job {job.pk} runs in the thread pool of this process; waiting for it to finish "
                "(Ctrl-C hands it back as READY for a web process)."
            )
            finished = follow(job, self._say, wake, interrupted)
        if not finished:
            thread_executor().interrupt()
            job.refresh_from_db()
            raise CommandError(f"Interrupted; job {job.pk} is {job.status}.", returncode=INTERRUPTED)
        if job.status != JobStatus.SUCCESSFUL:
            raise CommandError(f"Job {job.pk} {job.status}: {job.error_message or job.error_class}")
        self._say(f"Job {job.pk} SUCCESSFUL.")

    def _say(self, line: str) -> None:
        # Where the job runs and how it goes, apart from the id on stdout, and not in error red.
        self.stderr.write(line, style_func=str)
