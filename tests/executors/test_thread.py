"""What a process's exit does with the thread jobs of its pool, in real subprocesses (tests/exit_child.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from jobs_ui.models import Job, JobStatus, Worker, WorkerState
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent.parent


class ExitingProcess:
    def __init__(self, mode: str, jobs: list[tuple[str, list[object]]], jobs_ui: dict[str, object]) -> None:
        env = {
            **os.environ,
            "JOBS_UI_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
            "JOBS_UI_TEST_OVERRIDES": json.dumps({**settings.JOBS_UI, **jobs_ui}),
        }
        specs = [part for name, args in jobs for part in (name, json.dumps(args))]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.exit_child", mode, *specs],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.ids = []
        for line in self.process.stdout:
            if line.strip() == "exiting":
                break
            self.ids.append(line.strip())
        assert len(self.ids) == len(jobs), self.finish()
        self.exiting_at = time.monotonic()

    def worker(self) -> Worker:
        return Worker.objects.get(pk=Job.objects.get(pk=self.ids[0]).worker_id)

    def wait_until_stopping(self) -> None:
        """Until the child's exit has begun: its pool's worker row says STOPPING."""
        wait_until(lambda: self.worker().state == WorkerState.STOPPING, what="the child to begin its exit")

    def finish(self, timeout: float = 30.0) -> str:
        """Wait for the child to exit; its stderr."""
        try:
            _, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
            pytest.fail(f"The child did not exit within {timeout} s. Its stderr:\n{err}")
        return err

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()


@pytest.fixture
def exiting(tmp_path):
    children: list[ExitingProcess] = []

    def start(mode: str, *jobs: tuple[str, list[object]], **jobs_ui: object) -> ExitingProcess:
        child = ExitingProcess(mode, list(jobs), jobs_ui)
        children.append(child)
        return child

    yield start
    for child in children:
        child.kill()


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


class TestScriptExit:
    def test_waits_for_its_running_job_to_end(self, exiting, tmp_path):
        out, gate = tmp_path / "out", tmp_path / "gate"
        child = exiting("script", ("append_when_file_exists", [str(out), "done", str(gate)]))
        gate.touch()
        err = child.finish()
        assert child.process.returncode == 0, err
        job = Job.objects.get(pk=child.ids[0])
        assert job.status == JobStatus.SUCCESSFUL, err
        assert (job.attempts, len(job.worker_ids)) == (1, 1)
        assert lines(out)[-1] == "done"

    def test_runs_its_ready_jobs_and_starts_no_other(self, exiting, tmp_path):
        out, gate = tmp_path / "out", tmp_path / "gate"
        child = exiting(
            "script",
            ("append_when_file_exists", [str(out), "first", str(gate)]),
            # Fails twice, and is retried each time.
            ("flaky", ["second"]),
            ("append_line@3600", [str(out), "later"]),
            THREAD_POOL_SIZE=1,
        )
        child.wait_until_stopping()
        # The pool's one thread is busy: the second job waits as READY.
        assert Job.objects.get(pk=child.ids[1]).status == JobStatus.READY
        other = Job.objects.create(task_path="tests.tasks.append_line", args=[str(out), "other"], executor="thread")
        gate.touch()
        err = child.finish()
        first, second, later = (Job.objects.get(pk=job_id) for job_id in child.ids)
        assert (first.status, second.status) == (JobStatus.SUCCESSFUL, JobStatus.SUCCESSFUL), err
        assert (second.attempts, second.result) == (3, 3)
        assert set(second.worker_ids) == set(first.worker_ids)
        # Delayed by run_after: left for a web process.
        assert (later.status, later.attempts) == (JobStatus.READY, 0)
        other.refresh_from_db()
        assert (other.status, other.attempts) == (JobStatus.READY, 0)
        assert "other" not in lines(out)
        assert Worker.objects.get(pk=first.worker_id).state == WorkerState.STOPPED

    def test_gives_a_job_of_another_process_the_grace(self, exiting, tmp_path):
        out, gate = tmp_path / "out", tmp_path / "gate"
        other = Job.objects.create(
            task_path="tests.tasks.append_when_file_exists",
            args=[str(out), "other", str(tmp_path / "never")],
            executor="thread",
        )
        child = exiting(
            "script", ("append_when_file_exists", [str(out), "mine", str(gate)]), THREAD_POOL_SIZE=2, SHUTDOWN_GRACE=1.0
        )
        mine = Job.objects.get(pk=child.ids[0])
        wait_until(
            lambda: Job.objects.filter(pk=other.pk, worker_id=mine.worker_id).exists(), what="the child to run it"
        )
        child.wait_until_stopping()
        # Handed back after the grace while the child still waits for its own job.
        wait_until(lambda: Job.objects.get(pk=other.pk).status == JobStatus.READY, what="the hand-back")
        assert child.process.poll() is None
        gate.touch()
        err = child.finish()
        assert Job.objects.get(pk=mine.pk).status == JobStatus.SUCCESSFUL, err
        other.refresh_from_db()
        assert (other.status, other.attempts, other.max_attempts) == (JobStatus.READY, 1, 2)
        assert "other" not in lines(out)

    def test_interrupted_wait_hands_its_jobs_back(self, exiting, tmp_path):
        out, gate = tmp_path / "out", tmp_path / "gate"
        child = exiting(
            "script",
            ("append_when_file_exists", [str(out), "done", str(gate)]),
            ("append_line", [str(out), "second"]),
            THREAD_POOL_SIZE=1,
        )
        child.wait_until_stopping()
        child.process.send_signal(signal.SIGINT)
        err = child.finish()
        first, second = (Job.objects.get(pk=job_id) for job_id in child.ids)
        assert (first.status, first.attempts, first.max_attempts, first.worker_id) == (JobStatus.READY, 1, 2, ""), err
        assert (second.status, second.attempts) == (JobStatus.READY, 0)
        assert "second" not in lines(out)


class TestWebExit:
    def test_hands_back_a_job_still_running_after_the_grace(self, exiting, tmp_path):
        out, gate = tmp_path / "out", tmp_path / "gate"
        child = exiting("web", ("append_when_file_exists", [str(out), "done", str(gate)]), SHUTDOWN_GRACE=1.0)
        err = child.finish()
        assert time.monotonic() - child.exiting_at >= 1.0
        job = Job.objects.get(pk=child.ids[0])
        assert (job.status, job.attempts, job.max_attempts, job.worker_id) == (JobStatus.READY, 1, 2, ""), err
        assert "done" not in lines(out)

    def test_waits_for_a_job_that_ends_within_the_grace(self, exiting, tmp_path):
        out, gate = tmp_path / "out", tmp_path / "gate"
        child = exiting("web", ("append_when_file_exists", [str(out), "done", str(gate)]), SHUTDOWN_GRACE=20.0)
        child.wait_until_stopping()
        gate.touch()
        err = child.finish()
        assert Job.objects.get(pk=child.ids[0]).status == JobStatus.SUCCESSFUL, err
