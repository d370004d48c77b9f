"""The staff dashboard's websocket: who may join, the sections it pushes, and forms that still pass CSRF."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import timezone

from jobs_ui import events
from jobs_ui.models import Job, JobStatus
from jobs_ui.push import bridges, hub
from jobs_ui.push.staff import CLOSE_STAFF_ONLY
from tests.helpers import make_job
from tests.websockets import Socket, socket_loop  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("socket_loop")]

SECTIONS = [
    "jobs-ui-staff-workers",
    "jobs-ui-staff-queues",
    "jobs-ui-staff-throughput",
    "jobs-ui-staff-failures",
    "jobs-ui-staff-schedules",
]


@pytest.fixture(autouse=True)
def _push(settings):
    settings.JOBS_UI = {**settings.JOBS_UI, "WEBSOCKETS": True}
    yield
    bridges.stop()
    hub.reset()


def section_ids(html: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)"', html)


@pytest.mark.parametrize("kind", ["staff-reader", "superuser"])
def test_staff_with_view_job_get_every_section_at_once(signed_in, kind):
    user = signed_in(Client(), kind)
    socket = Socket("staff", user)
    assert socket.connect()[0]
    assert section_ids(socket.panel()) == SECTIONS
    socket.close()


@pytest.mark.parametrize("kind", [None, "user", "staff"])
def test_anyone_else_is_closed(signed_in, kind):
    socket = Socket("staff", signed_in(Client(), kind) if kind else None)
    assert socket.connect()[0]
    assert socket.closed_with() == CLOSE_STAFF_ONLY


def test_a_failure_is_pushed_without_waiting_for_the_regular_refresh(signed_in, alice):
    socket = Socket("staff", signed_in(Client(), "staff-reader"))
    assert socket.connect()[0]
    socket.panel()
    job = make_job(alice, status=JobStatus.RUNNING)
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED, finished_at=timezone.now(), error_class="builtins.OSError", error_message="Disk full."
    )
    job.refresh_from_db()
    events.publish(events.JobEvent.for_job(job, "finished"))
    # (A push asked for before, by the bridge's first connection, may come first.)
    while "Disk full." not in (pushed := socket.panel()):
        pass
    # What a change asks for: not the costly last hour, which waits for the regular refresh.
    assert section_ids(pushed) == ["jobs-ui-staff-workers", "jobs-ui-staff-queues", "jobs-ui-staff-failures"]
    socket.close()


def test_the_forms_it_pushes_pass_the_csrf_check(signed_in, alice):
    browser = Client(enforce_csrf_checks=True)
    signed_in(browser, "staff-actor")
    browser.get("/jobs/staff/")  # the page sets the CSRF cookie
    failed = make_job(alice, status=JobStatus.FAILED, finished_at=timezone.now(), error_class="builtins.OSError")
    socket = Socket("staff", client=browser)
    assert socket.connect()[0]
    pushed = socket.panel()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', pushed)
    assert token is not None
    response = browser.post(
        "/jobs/staff/jobs/act/", {"action": "retry", "job": failed.pk, "csrfmiddlewaretoken": token.group(1)}
    )
    assert response.status_code == 200  # the confirmation page, not a CSRF failure
    assert "Retry: 1 job?" in response.content.decode()
    socket.close()


def test_the_page_joins_the_socket_and_its_sections_poll_only_while_it_is_down(client, signed_in, settings):
    signed_in(client, "staff-reader")
    body = client.get("/jobs/staff/").content.decode()
    assert 'ws-connect="/ws/jobs/staff/"' in body
    assert body.count("!this.closest('[data-jobs-ui-push-open]')") == 5
    settings.JOBS_UI = {**settings.JOBS_UI, "WEBSOCKETS": False}
    assert "/ws/jobs/staff/" not in client.get("/jobs/staff/").content.decode()
