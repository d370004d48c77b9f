"""``manage.py jobs_ui_worker``: parse the options, then ``jobs_ui.worker.loop.Worker(...).run()``."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import autoreload

from jobs_ui.management.arguments import positive_float, positive_int
from jobs_ui.worker.loop import Worker
from jobs_ui.worker.options import InvalidWorkerOptions, WorkerOptions
from jobs_ui.worker.pools import POOLS
from jobs_ui.worker.supervisor import Supervisor, watch_supervisor


class Command(BaseCommand):
    help = "Run jobs of tasks with executor='worker', taken from RabbitMQ (AMQP_URL) or the database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queue", action="append", default=[], help="Serve this queue (repeatable); default: all.")
        parser.add_argument("--exclude-queue", action="append", default=[], help="Never serve this queue (repeatable).")
        parser.add_argument(
            "--exclude-task", action="append", default=[], help="Never run this task (dotted path, repeatable)."
        )
        parser.add_argument(
            "--concurrency",
            type=positive_int,
            help="Jobs at once (default: CPUs+4 threads, CPUs processes, 100 async).",
        )
        parser.add_argument("--pool", choices=POOLS, default="thread", help="thread (default), process or async.")
        parser.add_argument("--once", action="store_true", help="Run at most one due job, then exit.")
        parser.add_argument(
            "--until-done", action="store_true", help="Exit once no due READY job and no waiting retry is left."
        )
        parser.add_argument("--max-jobs", type=positive_int, help="Exit after this many jobs.")
        parser.add_argument("--label", default="", help="Name shown to staff; {pid} and {host} are replaced.")
        parser.add_argument("--heartbeat", type=positive_float, help="Seconds between heartbeats.")
        parser.add_argument(
            "--rate-limit",
            type=positive_float,
            metavar="SECONDS",
            help="Run one job at a time, and start none within SECONDS of the last one's end.",
        )
        parser.add_argument(
            "--no-schedules", action="store_true", help="Run no cron schedules here (other workers do)."
        )
        parser.add_argument(
            "--timeout",
            type=positive_float,
            help="Stop after this many seconds, as on SIGTERM (running jobs get SHUTDOWN_GRACE); for cron.",
        )
        parser.add_argument("--reload", action="store_true", help="Restart when code changes (DEBUG only).")
        parser.add_argument(
            "--processes",
            type=positive_int,
            default=1,
            help="Run this many worker processes, each with these options (default 1); one per CPU uses them all.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            worker_options = WorkerOptions(
                queues=tuple(options["queue"]),
                exclude_queues=tuple(options["exclude_queue"]),
                exclude_tasks=tuple(options["exclude_task"]),
                concurrency=options["concurrency"],
                pool=options["pool"],
                max_jobs=1 if options["once"] else options["max_jobs"],
                until_done=options["once"] or options["until_done"],
                label=options["label"],
                heartbeat=options["heartbeat"],
                timeout=options["timeout"],
                schedules=not options["no_schedules"],
                rate_limit=options["rate_limit"],
            )
        except InvalidWorkerOptions as e:
            raise CommandError(str(e)) from e
        if options["reload"] and not settings.DEBUG:
            raise CommandError("--reload restarts the worker when code changes; it needs DEBUG = True.")
        processes = options["processes"]
        if processes > 1 and options["once"]:
            raise CommandError("--once runs one job; it cannot be shared by --processes.")
        if processes > 1 and options["reload"]:
            raise CommandError("--reload runs one worker process; leave out --processes.")
        _log_to_stderr(options["verbosity"])
        if processes > 1:
            code = Supervisor(_child_arguments(options), processes).run()
        elif options["reload"]:
            code = _run_reloading(worker_options)
        else:
            code = _run(worker_options)
        if code:
            sys.exit(code)


def _run(worker_options: WorkerOptions) -> int:
    worker = Worker(worker_options)
    watch_supervisor(worker.stop)
    return worker.run()


def _child_arguments(options: dict[str, Any]) -> list[str]:
    """The options of one worker process under ``--processes``, checked already."""
    arguments = [f"-v{options['verbosity']}", "--pool", options["pool"]]
    for flag in ("queue", "exclude_queue", "exclude_task"):
        for value in options[flag]:
            arguments += [f"--{flag.replace('_', '-')}", value]
    for flag in ("concurrency", "max_jobs", "heartbeat", "timeout", "rate_limit"):
        if options[flag] is not None:
            arguments += [f"--{flag.replace('_', '-')}", str(options[flag])]
    if options["until_done"]:
        arguments.append("--until-done")
    if options["no_schedules"]:
        arguments.append("--no-schedules")
    if options["label"]:
        # Staff tell the processes apart by their labels.
        label = options["label"] if "{pid}" in options["label"] else options["label"] + " {pid}"
        arguments += ["--label", label]
    return arguments


def _run_reloading(worker_options: WorkerOptions) -> int:
    # Not autoreload.run_with_reloader(): it runs the command in a side thread,
    # where the worker could not handle signals, and never exits by itself.
    if os.environ.get(autoreload.DJANGO_AUTORELOAD_ENV) != "true":
        # This process restarts the real worker each time it exits with code 3.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return int(autoreload.restart_with_reloader())
    worker = Worker(worker_options)
    restart = threading.Event()

    def changed(sender: object, file_path: object, **kwargs: object) -> bool:
        logging.getLogger("jobs_ui.worker").warning("%s changed: restarting the worker", file_path)
        restart.set()
        worker.stop()
        return True  # handled: no reload from the watcher's own thread

    autoreload.file_changed.connect(changed)
    reloader = autoreload.get_reloader()
    threading.Thread(target=reloader.run, args=[threading.main_thread()], name="jobs_ui-reloader", daemon=True).start()
    code = worker.run()
    return 3 if restart.is_set() else code


def _log_to_stderr(verbosity: int) -> None:
    # Unless the project configured jobs_ui's logger, say what the worker does.
    logger = logging.getLogger("jobs_ui")
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if verbosity > 2 else logging.INFO if verbosity > 0 else logging.WARNING)
