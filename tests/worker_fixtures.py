"""Worker subprocesses for tests, imported by ``tests/conftest.py``.

``start_worker("--until-done", ...)`` runs ``python -m django jobs_ui_worker`` against
the test database with this test's ``JOBS_UI``; teardown kills what is left and
deletes the RabbitMQ queues the workers declared.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

__all__ = ["Lines", "WorkerProcess", "in_process", "lines", "on_workers", "start_worker", "worker_mode"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def on_workers(settings: Any) -> None:
    """``EXECUTOR: worker``: the jobs this test launches wait as READY rows for a worker instead of running here."""
    settings.JOBS_UI = {**settings.JOBS_UI, "EXECUTOR": "worker"}


@pytest.fixture
def in_process(on_workers: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """For a worker loop run in a thread of this process (``jobs_ui.worker.loop.Worker(...).run()``)."""
    from jobs_ui.jobs import finish

    # Worker.run() changes these for its process; this one is pytest's.
    monkeypatch.setattr(finish, "_batching", False)
    switch = sys.getswitchinterval()
    yield
    sys.setswitchinterval(switch)


class WorkerProcess:
    def __init__(self, args: list[str], jobs_ui: dict[str, Any], log: Path, env: dict[str, str]) -> None:
        env = {
            **os.environ,
            **env,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "JOBS_UI_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
            "JOBS_UI_TEST_OVERRIDES": json.dumps(jobs_ui),
        }
        self.log = log
        with open(log, "ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "django", "jobs_ui_worker", *args],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        """The exit code, once the worker has exited (fails the test after ``timeout``)."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"The worker did not exit within {timeout} s. Its output:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            # A supervisor's children (--processes) are in sessions of their own: killed first.
            for pid in [*_children(self.process.pid), self.process.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
                    os.kill(pid, signal.SIGKILL)
            self.process.wait()


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                # The fields after the command's closing parenthesis: state, then the parent's pid.
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
    return found


class Lines:
    """A file that jobs append to with O_APPEND (tests.tasks.append_line): side effects to count."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def read(self) -> list[str]:
        if not os.path.exists(self.path):
            return []
        with open(self.path) as f:
            return f.read().splitlines()


@pytest.fixture
def lines(tmp_path: Path) -> Lines:
    return Lines(tmp_path / "side-effects")


@pytest.fixture
def start_worker(transactional_db: None, on_workers: None, settings: Any) -> Iterator[Any]:
    """Start worker subprocesses (jobs run as ``executor="worker"``); killed and cleaned up at teardown."""
    workers: list[WorkerProcess] = []
    logs = tempfile.TemporaryDirectory(prefix="jobs_ui_worker_")

    def start(*args: str, env: dict[str, str] | None = None) -> WorkerProcess:
        log = Path(logs.name) / f"worker-{len(workers)}.log"
        worker = WorkerProcess(list(args), dict(settings.JOBS_UI), log, env or {})
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.kill()
    _delete_worker_queues()
    logs.cleanup()


def _delete_worker_queues() -> None:
    if not settings.JOBS_UI.get("AMQP_URL"):
        return
    from jobs_ui.backend import known_queues
    from jobs_ui.broker import amqp
    from jobs_ui.broker.messages import dead_letter_queue, job_queue
    from jobs_ui.exceptions import BrokerError

    for queue in [*(job_queue(name) for name in known_queues() or ["default"]), dead_letter_queue()]:
        with contextlib.suppress(BrokerError):
            amqp.delete_queue(queue)


@pytest.fixture(params=["database", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def worker_mode(request: pytest.FixtureRequest, settings: Any) -> str:
    """Each test runs twice: workers claiming from the database, and fed by RabbitMQ."""
    if request.param == "rabbitmq":
        request.getfixturevalue("amqp_settings")
    return str(request.param)
