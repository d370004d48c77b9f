"""Health for operators: ``jobs_ui_health``, ``/jobs/health.json`` and ``/jobs/metrics``."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from jobs_ui.models import Job, JobStatus, Worker, WorkerKind, WorkerState
from jobs_ui.monitoring.health import problems, read_health
from tests.helpers import make_job

pytestmark = pytest.mark.django_db

TOKEN = "a-long-enough-health-token-for-tests"
EARLIER = timezone.now() - timedelta(minutes=10)


def worker_row(
    worker_id: str, *, queues: tuple[str, ...] = ("default",), beat_ago: float = 0.0, **fields: Any
) -> Worker:
    return Worker.objects.create(
        id=worker_id,
        label=worker_id,
        host="host",
        pid=1,
        kind=fields.pop("kind", WorkerKind.PROCESS),
        queues=list(queues),
        heartbeat_at=timezone.now() - timedelta(seconds=beat_ago),
        **fields,
    )


def waiting(queue: str = "default", executor: str = "worker", **fields: Any) -> Job:
    job = make_job(executor=executor, queue_name=queue, **fields)
    Job.objects.filter(pk=job.pk).update(enqueued_at=EARLIER)
    return job


def run_health(*args: str) -> tuple[int, str]:
    """Exit code and what the command said."""
    out, err = StringIO(), StringIO()
    try:
        call_command("jobs_ui_health", *args, stdout=out, stderr=err)
    except SystemExit as e:
        return int(e.code or 0), err.getvalue().strip()
    return 0, out.getvalue().strip()


class TestReadHealth:
    def test_workers_by_state_with_silent_ones_lost(self):
        worker_row("on")
        worker_row("silent", beat_ago=3600)
        worker_row("gone", state=WorkerState.STOPPED)
        worker_row("web", kind=WorkerKind.THREAD, queues=())
        health = read_health()
        assert health.workers == {"online": 2, "stopping": 0, "stopped": 1, "crashed": 0, "lost": 1}
        assert health.thread_pools == 1

    def test_each_queue_counts_its_jobs_and_the_workers_serving_it(self):
        worker_row("a", queues=("default", "reports"))
        worker_row("b", queues=("reports",))
        worker_row("late", queues=("reports",), beat_ago=3600)
        waiting()
        waiting(run_after=timezone.now() + timedelta(hours=1))
        waiting("reports", executor="thread")
        make_job(executor="worker", status=JobStatus.RUNNING)
        make_job(executor="worker", status=JobStatus.SUCCESSFUL)
        queues = {queue.name: queue for queue in read_health().queues}
        default, reports = queues["default"], queues["reports"]
        assert (default.ready, default.due, default.running, default.workers) == (2, 1, 1, 1)
        assert (default.waiting_worker_jobs, default.waiting_thread_jobs) == (1, 0)
        assert default.oldest_due_age is not None
        assert default.oldest_due_age >= 599
        assert (reports.ready, reports.workers, reports.waiting_thread_jobs) == (1, 2, 1)

    def test_problems_name_each_queue_left_waiting(self):
        waiting("nobody")
        waiting("threads", executor="thread")
        worker_row("a", queues=("slow",))
        waiting("slow")
        found = problems(read_health(), max_age=60)
        assert "queue nobody: no worker serves it" in found
        assert "queue threads: 1 thread job(s) wait and no web process runs them" in found
        assert any(line.startswith("queue slow: its oldest job has waited 6") for line in found)
        assert problems(read_health(["slow"]), max_age=3600) == []


class TestCommand:
    def test_healthy_exits_0_and_says_so(self):
        worker_row("a")
        waiting()
        code, said = run_health("--max-age", "3600")
        assert code == 0
        assert said.startswith("OK: ")

    def test_jobs_waiting_for_no_worker_exit_1_with_one_line(self):
        waiting("reports")
        waiting("exports")
        code, said = run_health()
        assert code == 1
        assert said == "UNHEALTHY: queue exports: no worker serves it (and 1 more)"

    def test_a_job_older_than_max_age_exits_1(self):
        worker_row("a")
        waiting()
        code, said = run_health("--max-age", "60")
        assert code == 1
        assert "its oldest job has waited" in said

    def test_a_named_queue_needs_a_worker_even_when_empty(self):
        worker_row("a", queues=("default",))
        assert run_health("--queue", "default")[0] == 0
        code, said = run_health("--queue", "default", "--queue", "reports")
        assert (code, said) == (1, "UNHEALTHY: queue reports: no worker serves it")

    def test_thread_jobs_need_a_web_process(self):
        waiting(executor="thread")
        assert run_health() == (1, "UNHEALTHY: queue default: 1 thread job(s) wait and no web process runs them")
        worker_row("web", kind=WorkerKind.THREAD, queues=())
        assert run_health()[0] == 0

    @pytest.mark.parametrize("value", ["0", "-5", "soon"])
    def test_a_bad_max_age_is_refused(self, value):
        with pytest.raises(CommandError, match="must be a number of seconds > 0"):
            call_command("jobs_ui_health", "--max-age", value)


class TestEndpoints:
    @pytest.mark.parametrize("url", ["/jobs/health.json", "/jobs/metrics"])
    @pytest.mark.parametrize(
        ("kind", "answer"),
        [(None, 401), ("user", 403), ("staff", 403), ("staff-reader", 200), ("superuser", 200)],
    )
    def test_who_may_read(self, client, signed_in, url, kind, answer):
        worker_row("a")
        if kind is not None:
            signed_in(client, kind)
        assert client.get(url).status_code == answer

    @pytest.mark.parametrize("url", ["/jobs/health.json", "/jobs/metrics"])
    def test_the_token_from_settings_lets_monitoring_in(self, client, settings, url):
        worker_row("a")
        assert client.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 401
        settings.JOBS_UI = {**settings.JOBS_UI, "HEALTH_TOKEN": TOKEN}
        assert client.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        wrong = client.get(url, headers={"Authorization": f"Bearer {TOKEN}x"})
        assert wrong.status_code == 401
        assert wrong["WWW-Authenticate"] == 'Bearer realm="jobs_ui"'

    def test_health_json_is_503_with_its_problems(self, client, signed_in):
        signed_in(client, "superuser")
        waiting("reports")
        response = client.get("/jobs/health.json")
        assert response.status_code == 503
        body = response.json()
        assert body["ok"] is False
        assert body["problems"] == ["queue reports: no worker serves it"]
        [reports] = [queue for queue in body["queues"] if queue["name"] == "reports"]
        assert (reports["due"], reports["workers"]) == (1, 0)
        worker_row("a", queues=("reports",))
        assert client.get("/jobs/health.json").json()["ok"] is True
        assert client.get("/jobs/health.json?max_age=60").status_code == 503
        assert client.get("/jobs/health.json?queue=other").json()["problems"] == ["queue other: no worker serves it"]

    @pytest.mark.parametrize("value", ["0", "-1", "x", "inf"])
    def test_a_bad_max_age_is_400(self, client, signed_in, value):
        signed_in(client, "superuser")
        response = client.get(f"/jobs/health.json?max_age={value}")
        assert response.status_code == 400
        assert "max_age must be a number of seconds > 0" in response.json()["error"]["message"]

    def test_only_get_and_head(self, client, signed_in):
        signed_in(client, "superuser")
        assert client.post("/jobs/health.json").status_code == 405
        assert client.post("/jobs/metrics").status_code == 405

    def test_metrics_parse_as_prometheus_reads_them(self, client, signed_in):
        signed_in(client, "superuser")
        worker_row("a", queues=('odd "queue"\\name',))
        waiting('odd "queue"\\name')
        make_job(task_path="tests.tasks.echo", status=JobStatus.SUCCESSFUL, finished_at=timezone.now())
        make_job(task_path="tests.tasks.echo", status=JobStatus.FAILED, finished_at=timezone.now())
        response = client.get("/jobs/metrics")
        assert response["Content-Type"].startswith("text/plain; version=0.0.4")
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.content.decode())
            for sample in family.samples
        }
        assert samples[("jobs_ui_workers", (("state", "online"),))] == 1
        assert samples[("jobs_ui_queue_due_jobs", (("queue", 'odd "queue"\\name'),))] == 1
        assert samples[("jobs_ui_queue_workers", (("queue", 'odd "queue"\\name'),))] == 1
        assert samples[("jobs_ui_queue_oldest_due_age_seconds", (("queue", 'odd "queue"\\name'),))] >= 599
        assert samples[("jobs_ui_finished_jobs", (("status", "FAILED"), ("task", "tests.tasks.echo")))] == 1
        assert samples[("jobs_ui_finished_jobs", (("status", "SUCCESSFUL"), ("task", "tests.tasks.echo")))] == 1
