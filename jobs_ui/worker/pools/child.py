"""What a child of the process pool does once Django is set up: run the jobs its worker sends, one at a time."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

from django.db import connections

from jobs_ui.conf import get_config
from jobs_ui.db.sql import jobs_alias
from jobs_ui.jobs import task_signals
from jobs_ui.jobs.finish import batch_outcome_counts, flush_outcome_counts
from jobs_ui.jobs.recover import still_held
from jobs_ui.jobs.run import run_claimed
from jobs_ui.worker.pools.processes import job_from_wire, job_to_wire
from jobs_ui.worker.pools.threads import drop_broken_connections


# Reads one JSON line per job on stdin (the claimed row, see processes.job_to_wire),
# runs the job, and answers: {"ready": pid} once, then {"done": job_id} per job.
def serve(answers: IO[str]) -> None:
    """Run each job read from stdin; answer on ``answers`` (see ``jobs_ui.worker.process_child``)."""
    batch_outcome_counts()
    threading.Thread(target=_flush_counts, args=(flush_outcome_counts,), name="jobs_ui-counts", daemon=True).start()
    threading.Thread(target=_renew_lease, name="jobs_ui-lease", daemon=True).start()
    alias = jobs_alias()

    def relay(kind: str, job: Any) -> None:
        # The worker sends the task signals: its receivers are there. Answered before
        # "done", from this thread, so the worker sends them in order.
        answers.write(json.dumps({kind: job_to_wire(job)}) + "\n")

    task_signals.relay_to(relay)
    try:
        answers.write(json.dumps({"ready": os.getpid()}) + "\n")
        for line in sys.stdin:
            job = job_from_wire(json.loads(line), alias)
            _current[:] = [job]
            try:
                run_claimed(job)
            finally:
                _current.clear()
            drop_broken_connections()
            answers.write(json.dumps({"done": str(job.pk)}) + "\n")
    except BrokenPipeError:
        # The worker is gone (killed): nobody reads the answers, and its jobs are recovered
        # once their leases expire.
        os._exit(1)
    flush_outcome_counts()


# The job running here, for _renew_lease().
_current: list[Any] = []


def _renew_lease() -> None:
    # The job's lease, renewed from here too: a worker frozen while this process runs
    # the job (SIGSTOP of the worker alone) must not make the job look lost while it
    # still runs, or a second attempt would repeat its work.
    interval = get_config()["HEARTBEAT_INTERVAL"]
    while not threading.Event().wait(interval):
        for job in list(_current):
            try:
                still_held(job, job.worker_id)
            except Exception:
                logging.getLogger(__name__).exception("Could not renew the lease of job %s", job.pk)
                connections.close_all()


def _flush_counts(flush: Callable[[], None]) -> None:
    while not threading.Event().wait(0.5):
        try:
            flush()
        except Exception:
            logging.getLogger(__name__).exception("Could not write the worker's job counts")
