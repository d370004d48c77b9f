"""The staff dashboard: who may read and act, what it shows of workers and queues, purging stopped workers."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs_ui.models import Job, JobStatus, Worker, WorkerKind, WorkerState
from tests.helpers import HX, make_job

pytestmark = pytest.mark.django_db

PAGES = [
    "/jobs/staff/",
    "/jobs/staff/workers/",
    "/jobs/staff/queues/",
    "/jobs/staff/throughput/",
    "/jobs/staff/failures/",
    "/jobs/staff/schedules/",
    "/jobs/staff/jobs/",
]
PURGE = "/jobs/staff/workers/purge/"


def worker_row(worker_id: str, *, beat_ago: float = 0.0, **fields: Any) -> Worker:
    return Worker.objects.create(
        id=worker_id,
        label=fields.pop("label", worker_id),
        host="box-1",
        pid=4242,
        kind=fields.pop("kind", WorkerKind.PROCESS),
        queues=fields.pop("queues", ["default"]),
        concurrency=fields.pop("concurrency", 4),
        pool="thread",
        heartbeat_at=timezone.now() - timedelta(seconds=beat_ago),
        **fields,
    )


def rows(body: str, testid: str) -> dict[str, str]:
    """Each row's id and its state, or queue name and text."""
    found = {}
    for match in re.finditer(
        rf'<tr data-testid="{testid}" data-(?:worker-id|queue)="([^"]+)"([^>]*)>(.*?)</tr>', body, re.S
    ):
        found[match.group(1)] = match.group(2) + match.group(3)
    return found


class TestWhoMay:
    @pytest.mark.parametrize("url", PAGES)
    def test_anonymous_goes_to_the_login_page_and_htmx_gets_403(self, client, url):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
        assert client.get(url, headers=HX).status_code == 403

    @pytest.mark.parametrize("url", PAGES)
    @pytest.mark.parametrize(
        ("kind", "answer"),
        [("user", 403), ("staff", 403), ("staff-reader", 200), ("staff-actor", 200), ("superuser", 200)],
    )
    def test_reading_takes_staff_with_view_job(self, client, signed_in, url, kind, answer):
        signed_in(client, kind)
        assert client.get(url).status_code == answer

    @pytest.mark.parametrize(
        ("kind", "answer"),
        [(None, 302), ("user", 403), ("staff", 403), ("staff-reader", 403), ("staff-actor", 302), ("superuser", 302)],
    )
    def test_purging_takes_change_job(self, client, signed_in, kind, answer):
        worker_row("gone", state=WorkerState.STOPPED)
        if kind is not None:
            signed_in(client, kind)
        response = client.post(PURGE)
        assert response.status_code == answer
        assert Worker.objects.filter(pk="gone").exists() == (answer != 302 or kind is None)
        if kind is not None and answer == 302:
            assert response["Location"] == "/jobs/staff/"

    def test_only_an_actor_sees_the_purge_button(self, client, signed_in):
        worker_row("gone", state=WorkerState.STOPPED)
        signed_in(client, "staff-reader")
        assert PURGE not in client.get("/jobs/staff/").content.decode()
        client.logout()
        signed_in(client, "staff-actor")
        assert PURGE in client.get("/jobs/staff/").content.decode()

    def test_reading_is_get_only(self, client, signed_in):
        signed_in(client, "superuser")
        assert client.post("/jobs/staff/").status_code == 405
        assert client.get(PURGE).status_code == 405


class TestWorkers:
    def test_each_worker_with_its_state_heartbeat_and_jobs(self, client, signed_in):
        worker_row("busy", label="reports-1", queues=["default", "reports"])
        worker_row("silent", beat_ago=3600)
        worker_row("crashed", state=WorkerState.CRASHED)
        worker_row("web", kind=WorkerKind.THREAD, queues=[])
        running = make_job(
            task_path="tests.tasks.echo", executor="worker", status=JobStatus.RUNNING, worker_id="busy", attempts=1
        )
        signed_in(client, "staff-reader")
        body = client.get("/jobs/staff/workers/").content.decode()
        found = rows(body, "staff-worker")
        assert set(found) == {"busy", "silent", "crashed", "web"}
        assert 'data-worker-state="online"' in found["busy"]
        assert "1 / 4" in found["busy"]
        assert f'href="/jobs/{running.pk}/" title="{running.pk}"><code>echo</code></a>' in found["busy"]
        assert "default, reports" in found["busy"]
        # A worker silent past HEARTBEAT_TIMEOUT shows as lost, and stands out, as a crashed one does.
        assert 'data-worker-state="lost"' in found["silent"]
        assert 'class="jobs-ui-row-alert"' in found["silent"]
        assert 'class="jobs-ui-row-alert"' in found["crashed"]
        assert "web process" in found["web"]

    def test_the_sections_refresh_every_5_seconds_while_visible(self, client, signed_in):
        signed_in(client, "staff-reader")
        body = client.get("/jobs/staff/").content.decode()
        trigger = "every 5000ms [document.visibilityState === 'visible' && !this.closest('[data-jobs-ui-push-open]')"
        assert body.count(f'hx-trigger="{trigger}') == 5
        assert 'hx-get="/jobs/staff/workers/"' in body
        assert 'hx-get="/jobs/staff/queues/"' in body
        assert 'hx-get="/jobs/staff/throughput/"' in body
        assert 'hx-get="/jobs/staff/failures/"' in body

    def test_purge_deletes_ended_workers_only(self, client, signed_in):
        for state in (WorkerState.STOPPED, WorkerState.CRASHED, WorkerState.LOST):
            worker_row(state, state=state)
        worker_row("on")
        worker_row("silent", beat_ago=3600)
        signed_in(client, "staff-actor")
        response = client.post(PURGE, headers=HX)
        assert response.status_code == 200
        assert "Purged 3 stopped workers." in response.content.decode()
        assert sorted(Worker.objects.values_list("pk", flat=True)) == ["on", "silent"]
        # Without JavaScript: back to the dashboard, which says it.
        worker_row("gone", state=WorkerState.STOPPED)
        page = client.post(PURGE, follow=True)
        assert "Purged 1 stopped worker." in page.content.decode()


class TestQueues:
    def test_each_queue_with_its_jobs_and_workers(self, client, signed_in):
        worker_row("a", queues=["default"])
        earlier = timezone.now() - timedelta(minutes=3)
        for _ in range(2):
            Job.objects.filter(pk=make_job(executor="worker").pk).update(enqueued_at=earlier)
        make_job(executor="worker", run_after=timezone.now() + timedelta(hours=1))
        make_job(executor="worker", status=JobStatus.RUNNING, worker_id="a")
        make_job(executor="worker", queue_name="reports")
        signed_in(client, "staff-reader")
        found = rows(client.get("/jobs/staff/queues/").content.decode(), "staff-queue")
        numbers = {name: re.findall(r'<td class="jobs-ui-number">(\d+)</td>', text) for name, text in found.items()}
        # Ready (due), running, deferred, workers.
        assert numbers["default"] == ["2", "1", "1", "1"]
        assert numbers["reports"] == ["1", "0", "0", "0"]
        assert "3:0" in found["default"]
        assert 'class="jobs-ui-row-alert"' in found["reports"]
        assert 'class="jobs-ui-row-alert"' not in found["default"]


@pytest.mark.parametrize("url", PAGES)
def test_each_page_costs_the_same_few_queries_however_many_workers_and_jobs(client, signed_in, url):
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    signed_in(client, "staff-reader")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    owner = signed_in(Client(), "user")
    worker_row("w0")
    make_job(executor="worker", status=JobStatus.RUNNING, worker_id="w0")
    make_job(status=JobStatus.FAILED, finished_at=timezone.now(), owner=owner, error_class="builtins.ValueError")
    few = queries()
    for i in range(1, 30):
        worker_row(f"w{i}", queues=[f"q{i % 5}"], state=WorkerState.STOPPED if i % 3 == 0 else WorkerState.ONLINE)
        make_job(executor="worker", status=JobStatus.RUNNING, worker_id=f"w{i}", queue_name=f"q{i % 5}")
        make_job(executor="worker", queue_name=f"q{i % 7}")
        make_job(status=JobStatus.SUCCESSFUL, started_at=timezone.now(), finished_at=timezone.now())
        make_job(
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            owner=owner,
            error_class="builtins.ValueError",
            errors=[{"attempt": 1, "class": "builtins.ValueError", "message": "no", "at": timezone.now().isoformat()}],
        )
    assert queries() == few
    assert few <= 14
