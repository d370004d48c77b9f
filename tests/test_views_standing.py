"""Where a waiting or running job stands, as its panel and status.json tell the person waiting."""

from __future__ import annotations

import os
import signal
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from jobs_ui.models import Job, JobStatus, Worker, WorkerKind, WorkerState
from jobs_ui.views import standing
from tests import tasks
from tests.helpers import HX, make_job
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db

NO_WORKER = "No worker is running jobs of this kind right now; yours will start when one is back."
STOPPED_ANSWERING = "The worker running this job stopped answering"


def worker_row(worker_id="w1", *, queues=("default",), kind=WorkerKind.PROCESS, beat_ago=0.0, **fields):
    return Worker.objects.create(
        id=worker_id,
        label=fields.pop("label", f"{worker_id} on host"),
        host="host",
        pid=1,
        kind=kind,
        queues=list(queues),
        heartbeat_at=timezone.now() - timedelta(seconds=beat_ago),
        **fields,
    )


def waiting(owner, **fields):
    return make_job(owner, executor="worker", **fields)


def panel(client: Client, job: Job) -> str:
    """The panel a poll brings after the job's page (which reads where the job stands, kept for the polls)."""
    client.get(f"/jobs/{job.pk}/")
    return str(client.get(f"/jobs/{job.pk}/progress/", headers=HX).content.decode())


def status(client: Client, job: Job) -> dict[str, Any]:
    payload: dict[str, Any] = client.get(f"/jobs/{job.pk}/status.json").json()
    return payload


class TestWaiting:
    def test_no_worker_for_its_queue_is_said_in_the_panel_and_status_json(self, client, alice):
        worker_row(queues=["reports"])
        job = waiting(alice)
        client.force_login(alice)
        assert NO_WORKER in panel(client, job)
        said = status(client, job)["standing"]
        assert said["worker_available"] is False
        assert NO_WORKER in said["note"]

    def test_a_worker_serving_its_queue_takes_the_warning_away(self, client, alice):
        worker_row(queues=["default", "reports"])
        job = waiting(alice)
        client.force_login(alice)
        body = panel(client, job)
        assert NO_WORKER not in body
        assert "Yours is next in line." in body
        assert status(client, job)["standing"]["worker_available"] is True

    @pytest.mark.parametrize(
        "fields",
        [
            {"state": WorkerState.STOPPING},
            {"state": WorkerState.STOPPED},
            {"beat_ago": 60.0},
            {"kind": WorkerKind.THREAD, "queues": ()},
        ],
        ids=["stopping", "stopped", "silent", "a web process"],
    )
    def test_a_worker_that_does_not_take_jobs_now_does_not_count(self, client, alice, fields):
        worker_row(**fields)
        job = waiting(alice)
        client.force_login(alice)
        assert NO_WORKER in panel(client, job)

    def test_thread_jobs_wait_for_a_web_process(self, client, alice):
        job = make_job(alice, executor="thread")
        client.force_login(alice)
        assert NO_WORKER in panel(client, job)
        standing.reset()
        worker_row("web", kind=WorkerKind.THREAD, queues=())
        assert NO_WORKER not in panel(client, job)

    def test_its_place_counts_the_jobs_claimed_before_it(self, client, alice, bob):
        worker_row()
        earlier = timezone.now() - timedelta(minutes=5)
        job = waiting(alice, priority=0)
        # Ahead: older at the same priority (anyone's), and higher priority whenever launched.
        waiting(bob, priority=0)
        Job.objects.filter(pk=waiting(bob, priority=0).pk).update(enqueued_at=earlier)
        Job.objects.filter(pk=waiting(None, priority=5).pk).update(enqueued_at=timezone.now() + timedelta(minutes=1))
        # Not ahead: lower priority, another queue, a thread job, a delayed or running job.
        Job.objects.filter(pk=waiting(bob, priority=-1).pk).update(enqueued_at=earlier)
        Job.objects.filter(pk=waiting(bob, queue_name="reports").pk).update(enqueued_at=earlier)
        Job.objects.filter(pk=make_job(bob, executor="thread").pk).update(enqueued_at=earlier)
        Job.objects.filter(pk=waiting(bob, run_after=timezone.now() + timedelta(hours=1)).pk).update(
            enqueued_at=earlier
        )
        Job.objects.filter(pk=waiting(bob).pk).update(enqueued_at=earlier, status=JobStatus.RUNNING)
        client.force_login(alice)
        assert "2 jobs are ahead of yours in the queue “default”." in panel(client, job)
        assert status(client, job)["standing"]["ahead"] == 2

    def test_a_delayed_job_shows_no_place(self, client, alice):
        worker_row()
        job = waiting(alice, run_after=timezone.now() + timedelta(hours=1))
        client.force_login(alice)
        assert 'data-testid="job-standing"' not in panel(client, job)
        assert status(client, job)["standing"]["ahead"] is None

    def test_the_panel_changes_when_its_place_does(self, client, alice, bob):
        worker_row()
        before = waiting(bob)
        job = waiting(alice)
        client.force_login(alice)
        client.get(f"/jobs/{job.pk}/")
        first = client.get(f"/jobs/{job.pk}/progress/", headers=HX)
        assert "1 job is ahead of yours" in first.content.decode()
        Job.objects.filter(pk=before.pk).update(status=JobStatus.RUNNING)
        # What a few seconds later reads again: the page of the job (in another tab) reads it at once.
        standing.reset()
        client.get(f"/jobs/{job.pk}/")
        again = client.get(f"/jobs/{job.pk}/progress/", headers={**HX, "If-None-Match": first["ETag"]})
        assert again.status_code == 200
        assert "Yours is next in line." in again.content.decode()

    def test_a_poll_costs_at_most_one_query_more_and_none_while_it_is_fresh(
        self, client, alice, django_assert_max_num_queries, django_assert_num_queries
    ):
        worker_row()
        job = waiting(alice)
        client.force_login(alice)
        # Both read anew: the workers this time, the place on the next poll.
        with django_assert_max_num_queries(2):
            first = client.get(f"/jobs/{job.pk}/progress/", headers=HX)
        assert 'data-testid="job-standing"' not in first.content.decode()
        with django_assert_max_num_queries(2):
            second = client.get(f"/jobs/{job.pk}/progress/", headers={**HX, "If-None-Match": first["ETag"]})
        assert second.status_code == 200
        assert "Yours is next in line." in second.content.decode()
        with django_assert_num_queries(1):
            unchanged = client.get(f"/jobs/{job.pk}/progress/", headers={**HX, "If-None-Match": second["ETag"]})
        assert unchanged.status_code == 304

    def test_the_launch_answer_says_whether_a_worker_is_there(self, client, alice):
        from tests.test_views_launch import payload_for

        client.force_login(alice)
        body = client.post(
            "/jobs/launch/", {"payload": payload_for(alice, "tests.tasks.on_worker", (), {})}, headers=HX
        ).content.decode()
        assert NO_WORKER in body


class TestRunning:
    def test_the_panel_names_its_worker(self, client, alice):
        worker_row(label="reports-1 (host 42)")
        job = waiting(alice, status=JobStatus.RUNNING, attempts=1, worker_id="w1", started_at=timezone.now())
        client.force_login(alice)
        body = panel(client, job)
        assert "reports-1 (host 42)" in body
        assert STOPPED_ANSWERING not in body
        assert status(client, job)["standing"] == {
            "worker": "reports-1 (host 42)",
            "worker_silent": False,
            "will_retry": None,
            "note": "",
        }

    @pytest.mark.parametrize(
        ("max_attempts", "said"),
        [(2, "it will be retried."), (1, "the job will be marked failed.")],
        ids=["attempts left", "last attempt"],
    )
    def test_a_worker_late_with_its_heartbeat_is_said_before_recovery(self, client, alice, max_attempts, said):
        worker_row(beat_ago=2.0)  # tests: a heartbeat every 0.5 s, recovery after 3 s
        job = waiting(
            alice,
            status=JobStatus.RUNNING,
            attempts=1,
            max_attempts=max_attempts,
            worker_id="w1",
            started_at=timezone.now(),
        )
        client.force_login(alice)
        assert f"{STOPPED_ANSWERING}; {said}" in panel(client, job)
        payload = status(client, job)["standing"]
        assert payload["worker_silent"] is True
        assert payload["will_retry"] is (max_attempts == 2)

    def test_a_worker_that_came_up_after_the_workers_were_read_is_not_taken_for_silent(self, client, alice):
        job = waiting(alice)
        client.force_login(alice)
        assert NO_WORKER in panel(client, job)  # the workers are read now, and kept for a few seconds
        worker_row("new", label="fresh worker")
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.RUNNING, attempts=1, worker_id="new", started_at=timezone.now()
        )
        body = client.get(f"/jobs/{job.pk}/progress/", headers=HX).content.decode()
        assert STOPPED_ANSWERING not in body
        assert "fresh worker" in body

    def test_a_worker_no_longer_online_is_silent(self, client, alice):
        worker_row(state=WorkerState.CRASHED)
        job = waiting(alice, status=JobStatus.RUNNING, attempts=1, worker_id="w1", started_at=timezone.now())
        client.force_login(alice)
        assert STOPPED_ANSWERING in panel(client, job)

    def test_a_running_job_without_a_worker_id_says_nothing_of_workers(self, client, alice):
        job = waiting(alice, status=JobStatus.RUNNING, attempts=1, started_at=timezone.now() - timedelta(minutes=1))
        client.force_login(alice)
        assert 'data-testid="job-standing"' not in panel(client, job)

    def test_a_finished_job_says_nothing_of_workers(self, client, alice):
        job = waiting(alice, status=JobStatus.FAILED, attempts=1, worker_id="w1", finished_at=timezone.now())
        client.force_login(alice)
        assert 'data-testid="job-standing"' not in panel(client, job)
        assert "standing" not in status(client, job)


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_is_said_to_have_stopped_answering_then_its_job_is_retried(
    client, alice, start_worker, lines, tmp_path
):
    gate = str(tmp_path / "gate")
    client.force_login(alice)
    start_worker("--label", "first")
    first = wait_until(lambda: Worker.objects.filter(state=WorkerState.ONLINE).first(), what="the worker")
    assert first is not None
    job = Job.objects.get(pk=tasks.append_when_file_exists_retried.enqueue(lines.path, "done", gate).id)
    Job.objects.filter(pk=job.pk).update(owner=alice)
    wait_until(lambda: lines.read(), what="the first attempt to begin")
    assert first.label in panel(client, job)
    os.kill(first.pid, signal.SIGKILL)
    wait_until(
        lambda: f"{STOPPED_ANSWERING}; it will be retried." in panel(client, job),
        what="the panel to say the worker stopped answering",
    )
    open(gate, "w").close()
    start_worker("--label", "second")
    wait_until(lambda: Job.objects.get(pk=job.pk).status == JobStatus.SUCCESSFUL, timeout=30, what="the retry")
    assert Job.objects.get(pk=job.pk).attempts == 2
    assert Worker.objects.get(pk=first.pk).state == WorkerState.LOST
