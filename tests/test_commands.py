"""jobs_ui_create, jobs_ui_prune, jobs_ui_queues, and the worker command's checks of its options."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from jobs_ui.models import Job, JobStatus
from tests.helpers import make_job
from tests.waiting import wait_for_status

ROOT = Path(__file__).resolve().parent.parent

# Created jobs wait as READY rows instead of running in this process.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("on_workers")]


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


class TestCreate:
    def test_creates_a_job_and_prints_its_id(self):
        out = run("jobs_ui_create", "tests.tasks.add", "--args", "[2]", "--kwargs", '{"b": 3}', "--queue", "other")
        job = Job.objects.get()
        assert out.strip() == str(job.pk)
        assert (job.task_path, job.args, job.kwargs, job.queue_name) == ("tests.tasks.add", [2], {"b": 3}, "other")
        assert (job.status, job.executor, job.owner) == (JobStatus.READY, "worker", None)

    def test_priority(self):
        run("jobs_ui_create", "tests.tasks.add", "--args", "[1]", "--priority", "7")
        assert Job.objects.get().priority == 7

    def test_worker_job_says_where_it_waits(self):
        err = StringIO()
        call_command("jobs_ui_create", "tests.tasks.add", "--args", "[1]", stdout=StringIO(), stderr=err)
        job = Job.objects.get()
        assert err.getvalue() == f"Job {job.pk} waits on queue 'default' for a jobs_ui_worker process.\n"

    @pytest.mark.parametrize(
        ("args", "error"),
        [
            (["tests.tasks.add", "--args", "[1,"], "--args is not valid JSON"),
            (["tests.tasks.add", "--kwargs", "{b: 1}"], "--kwargs is not valid JSON"),
            (["tests.tasks.add", "--args", '{"a": 1}'], "--args must be a JSON array"),
            (["tests.tasks.add", "--kwargs", "[1]"], "--kwargs must be a JSON object"),
            (["tests.tasks.nope"], "No task at 'tests.tasks.nope'"),
            (["tests.tasks.append"], "is not a task"),
            (["tests.tasks.add", "--args", "[1]", "--queue", "nosuch"], "Queue 'nosuch' is not valid"),
            (["tests.tasks.add", "--args", "[1]", "--priority", "101"], "priority"),
            (["tests.tasks.add", "--args", "[1, 2, 3]"], "Arguments do not match add()"),
        ],
    )
    def test_bad_input_changes_nothing(self, args, error):
        with pytest.raises(CommandError, match=error):
            run("jobs_ui_create", *args)
        assert not Job.objects.exists()


def create_command(*args):
    """``python -m django jobs_ui_create ARGS`` on the test database, with thread jobs."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "JOBS_UI_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
        "JOBS_UI_TEST_OVERRIDES": json.dumps({**settings.JOBS_UI, "EXECUTOR": "thread"}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "django", "jobs_ui_create", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.django_db(transaction=True)
class TestCreateThreadJob:
    def test_runs_in_this_process_which_waits_for_it(self):
        command = create_command("tests.tasks.count", "--kwargs", '{"n": 3}')
        out, err = command.communicate(timeout=60)
        assert command.returncode == 0, err
        job = Job.objects.get()
        assert out == f"{job.pk}\n"
        first, *progress, last = err.splitlines()
        assert first == (
            f"Job {job.pk} runs in the thread pool of this process; waiting for it to finish"
            " (Ctrl-C hands it back as READY for a web process)."
        )
        # Progress lines as the command saw them: the last one at least.
        assert progress[-1] == "  3/3 Counted 3"
        assert set(progress) <= {"  1/3 Counted 1", "  2/3 Counted 2", "  3/3 Counted 3"}
        assert last == f"Job {job.pk} SUCCESSFUL."
        assert (job.status, job.result) == (JobStatus.SUCCESSFUL, 3)

    def test_failed_job_exits_1(self):
        command = create_command("tests.tasks.explode", "--args", '["boom"]')
        out, err = command.communicate(timeout=60)
        job = Job.objects.get()
        assert command.returncode == 1
        assert err.splitlines()[-1] == f"CommandError: Job {job.pk} FAILED: boom"
        assert job.status == JobStatus.FAILED

    def test_ctrl_c_hands_the_job_back(self, tmp_path):
        command = create_command(
            "tests.tasks.append_when_file_exists",
            "--args",
            json.dumps([str(tmp_path / "out"), "done", str(tmp_path / "gate")]),
        )
        try:
            assert command.stdout is not None
            job_id = command.stdout.readline().strip()
            wait_for_status(job_id, JobStatus.RUNNING)
            command.send_signal(signal.SIGINT)
            _, err = command.communicate(timeout=60)
        finally:
            if command.poll() is None:
                command.kill()
                command.communicate()
        assert command.returncode == 130, err
        assert err.splitlines()[-1] == f"CommandError: Interrupted; job {job_id} is READY.", err
        job = Job.objects.get(pk=job_id)
        assert (job.status, job.attempts, job.max_attempts) == (JobStatus.READY, 1, 2)


def finished(status, hours_ago, **fields):
    return make_job(status=status, finished_at=timezone.now() - timedelta(hours=hours_ago), **fields)


class TestPrune:
    @pytest.fixture
    def history(self):
        return {
            "old": [
                finished(JobStatus.SUCCESSFUL, 50),
                finished(JobStatus.FAILED, 49),
                finished(JobStatus.CANCELLED, 48),
            ],
            "new": [
                finished(JobStatus.SUCCESSFUL, 1),
                finished(JobStatus.SUCCESSFUL, 2),
                finished(JobStatus.FAILED, 3),
            ],
            "unfinished": [
                Job.objects.create(task_path="tests.tasks.add", status=JobStatus.READY),
                Job.objects.create(task_path="tests.tasks.add", status=JobStatus.RUNNING),
            ],
        }

    def test_older_than_hours(self, history):
        out = run("jobs_ui_prune", "--hours", "24")
        assert out == "Deleted 3 finished job(s) (SUCCESSFUL: 1, FAILED: 1, CANCELLED: 1).\n"
        assert set(Job.objects.values_list("pk", flat=True)) == {j.pk for j in history["new"] + history["unfinished"]}

    def test_keep_per_status(self, history):
        run("jobs_ui_prune", "--keep", "1")
        kept = set(Job.objects.finished().values_list("pk", flat=True))
        assert kept == {history["new"][0].pk, history["new"][2].pk, history["old"][2].pk}
        assert Job.objects.unfinished().count() == 2

    def test_both_and_dry_run(self, history):
        out = run("jobs_ui_prune", "--hours", "24", "--keep", "1", "--dry-run")
        assert out.startswith("Would delete 4 finished job(s) (SUCCESSFUL: 2, FAILED: 1, CANCELLED: 1)")
        assert Job.objects.count() == 8
        run("jobs_ui_prune", "--hours", "24", "--keep", "1")
        assert Job.objects.count() == 4

    @pytest.mark.parametrize(("args", "error"), [([], "give --hours, --keep"), (["--hours", "-1"], "must be a number")])
    def test_bad_input_changes_nothing(self, history, args, error):
        with pytest.raises(CommandError, match=error):
            run("jobs_ui_prune", *args)
        assert Job.objects.count() == 8

    @pytest.mark.rabbitmq
    def test_deletes_results_in_rabbitmq(self, amqp_settings):
        from jobs_ui.broker import amqp
        from jobs_ui.exceptions import QueueNotFound
        from jobs_ui.stores.rabbitmq import RabbitMQResultStore, queue_name

        amqp_settings.JOBS_UI = {
            **amqp_settings.JOBS_UI,
            "RESULT_STORE": {"BACKEND": "jobs_ui.stores.rabbitmq.RabbitMQResultStore"},
        }
        old = finished(JobStatus.SUCCESSFUL, 30, result_store="rabbitmq")
        kept = finished(JobStatus.SUCCESSFUL, 1, result_store="rabbitmq")
        store = RabbitMQResultStore({})
        for job in (old, kept):
            store.save(job, '{"rows": 1}', 3600)
        run("jobs_ui_prune", "--hours", "24")
        with pytest.raises(QueueNotFound):
            amqp.queue_info(queue_name(old))
        assert amqp.queue_info(queue_name(kept))[0] == 1


class TestQueues:
    def test_table_and_json(self):
        old = timezone.now() - timedelta(minutes=10)
        Job.objects.create(task_path="tests.tasks.add", enqueued_at=old)
        Job.objects.create(task_path="tests.tasks.add", run_after=timezone.now() + timedelta(hours=1))
        Job.objects.create(task_path="tests.tasks.add", queue_name="other", status=JobStatus.RUNNING)
        finished(JobStatus.SUCCESSFUL, 1)
        data = json.loads(run("jobs_ui_queues", "--json"))
        by_name = {queue["name"]: queue for queue in data["queues"]}
        assert set(by_name) == {"default", "other"}
        assert (by_name["default"]["ready"], by_name["default"]["due"], by_name["default"]["running"]) == (2, 1, 0)
        assert 590 < by_name["default"]["oldest_ready_age"] < 700
        assert (by_name["other"]["ready"], by_name["other"]["running"]) == (0, 1)
        assert by_name["other"]["oldest_ready_age"] is None
        assert by_name["default"]["messages"] is None
        assert data["dead_letters"] is None
        table = run("jobs_ui_queues").splitlines()
        assert table[0].split() == ["queue", "ready", "due", "oldest", "ready", "running", "messages", "consumers"]
        assert table[1].split() == ["default", "2", "1", "10m", "0", "-", "-"]
        assert table[2].split() == ["other", "0", "0", "-", "1", "-", "-"]

    @pytest.mark.rabbitmq
    @pytest.mark.django_db(transaction=True)
    def test_counts_messages_in_rabbitmq(self, amqp_settings):
        from jobs_ui.broker import publisher
        from tests import tasks

        for _ in range(3):
            tasks.append_line.enqueue("/dev/null", "x")
        assert publisher.flush()
        data = json.loads(run("jobs_ui_queues", "--json"))
        default = next(queue for queue in data["queues"] if queue["name"] == "default")
        assert (default["ready"], default["messages"], default["consumers"]) == (3, 3, 0)
        assert data["dead_letters"] == 0


class TestWorkerOptions:
    @pytest.mark.parametrize(
        ("args", "error"),
        [
            (["--queue", "nosuch"], "Unknown queue 'nosuch'; the task backends have default, other."),
            (["--exclude-queue", "nosuch"], "Unknown queue 'nosuch'"),
            (["--queue", "other", "--exclude-queue", "other"], "both served and excluded: other"),
            (["--exclude-queue", "default", "--exclude-queue", "other"], "Every queue is excluded"),
            (["--exclude-task", "tests.tasks.nope"], "Cannot exclude 'tests.tasks.nope': No task at"),
            (["--concurrency", "0"], "must be a whole number >= 1"),
            (["--max-jobs", "x"], "must be a whole number >= 1"),
            (["--heartbeat", "0"], "must be a number of seconds > 0"),
            (["--pool", "fork"], "invalid choice: 'fork'"),
            (["--reload"], "--reload restarts the worker when code changes; it needs DEBUG = True."),
            (["--processes", "0"], "must be a whole number >= 1"),
            (["--processes", "2", "--once"], "--once runs one job; it cannot be shared by --processes."),
            (["--processes", "2", "--queue", "nosuch"], "Unknown queue 'nosuch'"),
        ],
    )
    def test_bad_option_is_refused_before_starting(self, args, error):
        with pytest.raises(CommandError, match=error.replace("(", r"\(").replace(")", r"\)")):
            run("jobs_ui_worker", *args)
        assert not Job.objects.exists()
        from jobs_ui.models import Worker

        assert not Worker.objects.exists()
