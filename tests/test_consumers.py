"""The panel's websocket (jobs_ui.consumers): who may watch, the snapshot, each change, the final state."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import timezone

from jobs_ui import events
from jobs_ui.consumers import CLOSE_DONE, CLOSE_NOT_FOUND, CLOSE_SIGN_IN
from jobs_ui.models import Job, JobStatus
from jobs_ui.push import bridges, hub
from tests.helpers import make_job
from tests.websockets import RECEIVE, Socket, socket_loop  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("socket_loop")]


@pytest.fixture(autouse=True)
def _push(settings):
    settings.JOBS_UI = {**settings.JOBS_UI, "WEBSOCKETS": True}
    yield
    bridges.stop()
    hub.reset()


def progressed(job: Job, done: int, message: str) -> None:
    """What a running job's progress write does in this process: the row, then the event."""
    Job.objects.filter(pk=job.pk).update(
        progress_done=done, progress_total=10, progress_message=message, progress_at=timezone.now()
    )
    job.refresh_from_db()
    events.publish(events.JobEvent.for_job(job, "progress"))


def finished(job: Job) -> None:
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCESSFUL, finished_at=timezone.now(), result=7, result_store="database"
    )
    job.refresh_from_db()
    events.publish(events.JobEvent.for_job(job, "finished"))


def test_the_owner_gets_the_panel_each_change_and_the_final_state(alice):
    job = make_job(alice, status=JobStatus.RUNNING, started_at=timezone.now())
    socket = Socket(job.pk, alice)
    assert socket.connect()[0]
    first = socket.panel()
    assert f'id="jobs-ui-job-{job.pk}"' in first
    assert 'data-job-status="RUNNING"' in first
    progressed(job, 3, "Read 3 files")
    assert "Read 3 files" in socket.panel()
    finished(job)
    final = socket.panel()
    assert 'data-job-status="SUCCESSFUL"' in final
    assert socket.closed_with() == CLOSE_DONE


def test_a_job_finished_before_the_connect_yields_its_final_state(alice):
    job = make_job(alice, status=JobStatus.FAILED, finished_at=timezone.now(), error_message="The file is empty.")
    socket = Socket(job.pk, alice)
    assert socket.connect()[0]
    assert "The file is empty." in socket.panel()
    assert socket.closed_with() == CLOSE_DONE


@pytest.mark.parametrize(("who", "code"), [("bob", CLOSE_NOT_FOUND), ("anonymous", CLOSE_SIGN_IN)])
def test_anyone_else_is_closed_before_anything_is_sent(alice, bob, who, code):
    job = make_job(alice)
    socket = Socket(job.pk, bob if who == "bob" else None)
    assert socket.connect()[0]
    assert socket.closed_with() == code
    # A job that does not exist gets the same answer.
    missing = Socket("01a25300-0000-7000-8000-000000000000", bob if who == "bob" else None)
    assert missing.connect()[0]
    assert missing.closed_with() == code


def test_a_bad_origin_is_refused(alice, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    job = make_job(alice)
    socket = Socket(job.pk, alice, origin="https://evil.example")
    connected, _code = socket.connect()
    assert not connected
    socket.close()


def test_staff_with_view_job_may_watch(alice, signed_in):
    job = make_job(alice)
    staff = signed_in(Client(), "staff-reader")
    socket = Socket(job.pk, staff)
    assert socket.connect()[0]
    assert 'data-job-status="READY"' in socket.panel()
    socket.close()


def test_a_public_job_is_watched_by_anyone_who_cannot_cancel_it_over_the_socket(alice):
    job = make_job(alice, public=True)
    socket = Socket(job.pk)
    assert socket.connect()[0]
    panel = socket.panel()
    assert 'data-job-status="READY"' in panel
    assert "/cancel/" not in panel
    socket.send(json.dumps({"action": "cancel"}))
    socket.send("cancel")
    while not socket.quiet():
        # Only ever the panel again (its place in the queue, once read), never a change of the job.
        assert 'data-job-status="READY"' in socket.panel()
    assert Job.objects.get().status == JobStatus.READY
    socket.close()


def test_progress_is_coalesced_and_the_last_one_delivered(alice, settings):
    settings.JOBS_UI = {**settings.JOBS_UI, "PUSH_RATE": 2}
    job = make_job(alice, status=JobStatus.RUNNING, started_at=timezone.now())
    socket = Socket(job.pk, alice)
    assert socket.connect()[0]
    socket.panel()
    for done in range(1, 9):
        progressed(job, done, f"Step {done}")
    panels = [socket.panel()]
    while "Step 8" not in panels[-1]:
        panels.append(socket.panel())
    # Eight changes within a moment: the first, then the last (and a bridge's snapshot at most).
    assert len(panels) <= 3
    assert socket.quiet()
    socket.close()


def test_without_a_bridge_the_job_is_read_again_every_poll_interval(alice, settings):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL brings other processes' changes by NOTIFY")
    settings.JOBS_UI = {**settings.JOBS_UI, "POLL_INTERVAL": 0.2}
    job = make_job(alice, status=JobStatus.RUNNING, started_at=timezone.now(), executor="worker")
    socket = Socket(job.pk, alice)
    assert socket.connect()[0]
    socket.panel()
    # As a worker process changes it on SQLite without a broker: no hint reaches this process.
    Job.objects.filter(pk=job.pk).update(progress_message="Seen without a hint", progress_at=timezone.now())
    assert "Seen without a hint" in socket.panel()
    socket.close()


def test_without_websockets_the_panel_has_no_socket(client, alice, settings):
    job = make_job(alice)
    client.force_login(alice)
    assert f'ws-connect="/ws/jobs/{job.pk}/"' in client.get(f"/jobs/{job.pk}/").content.decode()
    settings.JOBS_UI = {**settings.JOBS_UI, "WEBSOCKETS": False}
    assert "ws-connect" not in client.get(f"/jobs/{job.pk}/").content.decode()


def test_a_finished_jobs_page_joins_no_socket(client, alice):
    job = make_job(alice, status=JobStatus.SUCCESSFUL, finished_at=timezone.now())
    client.force_login(alice)
    assert f'ws-connect="/ws/jobs/{job.pk}/"' not in client.get(f"/jobs/{job.pk}/").content.decode()


@pytest.mark.usefixtures("amqp_settings")
@pytest.mark.rabbitmq
def test_events_of_other_processes_arrive_through_rabbitmq(alice):
    job = make_job(alice, status=JobStatus.RUNNING, started_at=timezone.now())
    socket = Socket(job.pk, alice)
    assert socket.connect()[0]
    socket.panel()
    bridge = bridges.start()
    assert bridge is not None
    assert bridge.connected.wait(RECEIVE)
    Job.objects.filter(pk=job.pk).update(
        progress_done=4, progress_total=10, progress_message="From afar", progress_at=timezone.now()
    )
    job.refresh_from_db()
    # As another process publishes it: to the exchange only, with its own origin.
    events.send_batch([events.JobEvent(job_id=str(job.pk), kind="progress", status="RUNNING", origin="elsewhere")])
    while "From afar" not in (panel := socket.panel()):
        pass
    assert "From afar" in panel
    socket.close()


def test_notes_of_other_processes_arrive_through_postgresql(alice):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    job = make_job(alice, status=JobStatus.RUNNING, started_at=timezone.now())
    socket = Socket(job.pk, alice)
    assert socket.connect()[0]
    socket.panel()
    bridge = bridges.start()
    assert bridge is not None
    assert bridge.connected.wait(RECEIVE)
    Job.objects.filter(pk=job.pk).update(
        progress_done=4, progress_total=10, progress_message="Noted", progress_at=timezone.now()
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [events.EVENTS_CHANNEL, str(job.pk)])
        # A forged note names no job: nothing is read for it, nothing breaks.
        cursor.execute("SELECT pg_notify(%s, %s)", [events.EVENTS_CHANNEL, "'; DROP TABLE jobs_ui_job; --"])
    assert "Noted" in socket.panel()
    socket.close()
