"""The process pool: each job in a reused child process, killed when the job ignores its timeout or a cancel."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import IO, Any

from django.db import connections

from jobs_ui.db.sql import jobs_alias
from jobs_ui.exceptions import WorkerLost
from jobs_ui.jobs import task_signals
from jobs_ui.jobs.finish import fail, hand_back
from jobs_ui.models import Job
from jobs_ui.worker.pools.base import BasePool

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT = 60.0


def job_to_wire(job: Job) -> dict[str, Any]:
    """The claimed row as JSON for the child, which so need not read it again."""
    wire = {}
    for field in Job._meta.concrete_fields:
        value = field.value_from_object(job)
        wire[field.attname] = value.isoformat() if isinstance(value, datetime) else value
    wire["id"] = str(job.pk)
    return wire


def job_from_wire(wire: dict[str, Any], alias: str) -> Job:
    fields = Job._meta.concrete_fields
    return Job.from_db(alias, [f.attname for f in fields], [f.to_python(wire[f.attname]) for f in fields])


def _send_signal(answer: dict[str, Any]) -> None:
    # What the child relayed (jobs_ui.jobs.task_signals.relay_to): sent here, where this worker's receivers are.
    try:
        if "started" in answer:
            task_signals.started(job_from_wire(answer["started"], jobs_alias()))
        else:
            task_signals.finished(job_from_wire(answer["finished"], jobs_alias()))
    except Exception:
        logger.exception("Could not send the task signal a child process relayed")


class _Child:
    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jobs_ui.worker.process_child", str(write_fd)],
            stdin=subprocess.PIPE,
            pass_fds=[write_fd],
            env=env,
            text=True,
        )
        os.close(write_fd)
        self.answers: IO[str] = os.fdopen(read_fd)
        self.ready = threading.Event()
        self.job: Job | None = None

    @property
    def idle(self) -> bool:
        """Alive and without a job; one still starting reads the job once it is ready."""
        return self.job is None and self.process.poll() is None

    def close_input(self) -> None:
        """No more jobs for it; a job it never read is dropped with the pipe."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()

    def send(self, job: Job) -> None:
        assert self.process.stdin is not None
        self.job = job
        self.process.stdin.write(json.dumps(job_to_wire(job)) + "\n")
        self.process.stdin.flush()


class ProcessPool(BasePool):
    """Each job in a child process (``concurrency`` of them, started once and reused).

    A job that ignores its timeout or a cancel request for ``HARD_STOP_GRACE`` seconds
    is stopped by killing its process, which is then replaced. Claimed jobs beyond the
    children wait here, in claim order, for the next child that is done (``reserves``).
    """

    name = "process"
    supports_hard_stop = True
    reserves = True

    def __init__(self, concurrency: int, on_slot_free: Callable[[], None] = lambda: None) -> None:
        super().__init__(concurrency, on_slot_free)
        self._children: list[_Child] = []
        self._children_lock = threading.Lock()
        self._closing = False
        # Reserved jobs, for the next child that is done (with _children_lock held).
        self._waiting: deque[Job] = deque()

    def start(self) -> None:
        children = [self._spawn() for _ in range(self.concurrency)]
        for child in children:
            if not child.ready.wait(STARTUP_TIMEOUT):
                raise RuntimeError(f"A child process did not start within {STARTUP_TIMEOUT:g} s.")

    def _start(self, job: Job) -> None:
        with self._children_lock:
            self._waiting.append(job)
        self._feed()

    def _feed(self) -> None:
        """Send waiting jobs, oldest first, to the children that are idle."""
        unsent = []
        with self._children_lock:
            for child in self._children:
                while self._waiting and child.idle:
                    job = self._waiting.popleft()
                    if not self._begin(job):
                        continue  # revoked while it waited: handed back
                    try:
                        child.send(job)
                    except OSError as e:
                        # The child died a moment ago; its replacement takes the jobs still waiting.
                        logger.warning("Could not hand job %s to a child process (%s); back to READY", job.pk, e)
                        child.job = None
                        unsent.append(job)
                        break
        for job in unsent:
            hand_back(job)
            self._finished(job)

    def _hard_stop(self, job: Job) -> None:
        with self._children_lock:
            for child in self._children:
                if child.job is not None and child.job.pk == job.pk:
                    child.process.kill()

    def current(self, job: Job) -> Job | None:
        # The child wrote progress and workspace; this process only has the claim.
        return Job.objects.attempt(job).first()

    def stop_now(self) -> list[Job]:
        self._closing = True
        return super().stop_now()

    def kill(self) -> None:
        self._closing = True
        for child in self._children:
            child.process.kill()

    def close(self) -> None:
        self._closing = True
        for child in self._children:
            child.close_input()
        for child in self._children:
            try:
                child.process.wait(5.0)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()

    def _spawn(self) -> _Child:
        child = _Child()
        with self._children_lock:
            self._children.append(child)
        threading.Thread(
            target=self._read, args=(child,), name=f"jobs_ui-child-{child.process.pid}", daemon=True
        ).start()
        return child

    def _read(self, child: _Child) -> None:
        try:
            for line in child.answers:
                answer = json.loads(line)
                if "ready" in answer:
                    child.ready.set()
                elif "started" in answer or "finished" in answer:
                    _send_signal(answer)
                elif "done" in answer and child.job is not None:
                    job, child.job = child.job, None
                    # The next job first: the child does not wait for this process's bookkeeping.
                    self._feed()
                    self._finished(job)
            code = child.process.wait()
            child.answers.close()
            child.close_input()
            with self._children_lock:
                self._children.remove(child)
            # The replacement first, so the slot freed below has a process.
            if not self._closing:
                logger.info("Replacing child process %s (exit code %s)", child.process.pid, code)
                self._spawn()
            if child.job is not None:
                self._child_died(child.job, code)
        finally:
            connections.close_all()

    def _child_died(self, job: Job, code: int) -> None:
        entry = self._entry(job)
        try:
            if entry is not None and entry.stopping in ("timeout", "cancel"):
                self._record_stop(entry)
            elif entry is not None and not entry.stopping and (current := self.current(job)) is not None:
                kind = f"{WorkerLost.__module__}.{WorkerLost.__qualname__}"
                fail(current, error_class=kind, message=f"The job's process died (exit code {code}).")
        except Exception:
            logger.exception("Could not record the end of job %s", job.pk)
        finally:
            self._finished(job)
