""" "Your job is done" toasts: the socket of a user's tab, the poll that stands in for it, the template tag."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import timezone
from django.utils.http import urlencode

from jobs_ui import events
from jobs_ui.models import Job, JobStatus
from jobs_ui.push import bridges, hub
from jobs_ui.push.notifications import CLOSE_SIGN_IN
from tests.helpers import make_job
from tests.websockets import Socket, socket_loop  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _push(settings):
    settings.JOBS_UI = {**settings.JOBS_UI, "WEBSOCKETS": True}
    yield
    bridges.stop()
    hub.reset()


def finish(job: Job, status: JobStatus = JobStatus.SUCCESSFUL) -> None:
    Job.objects.filter(pk=job.pk).update(status=status, finished_at=timezone.now())
    job.refresh_from_db()
    events.publish(events.JobEvent.for_job(job, "finished"))


def toasts(html: str) -> list[tuple[str, str]]:
    return re.findall(r'class="jobs-ui-toast" data-job-id="([^"]+)" data-job-status="([^"]+)"', html)


@pytest.mark.usefixtures("socket_loop")
class TestSocket:
    def test_a_toast_when_one_of_the_users_jobs_finishes_and_none_for_others(self, alice, bob):
        mine = make_job(alice, task_path="tests.tasks.add", status=JobStatus.RUNNING)
        theirs = make_job(bob, status=JobStatus.RUNNING)
        # The page was shown a moment ago: a job finishing while the socket opens is told too.
        socket = Socket("mine", alice, query=f"?{urlencode({'since': timezone.now().isoformat()})}")
        assert socket.connect()[0]
        finish(theirs)
        finish(mine, JobStatus.FAILED)
        message = socket.panel()
        assert toasts(message) == [(str(mine.pk), "FAILED")]
        assert 'hx-swap-oob="beforeend"' in message
        assert "Add failed" in message
        assert f'href="/jobs/{mine.pk}/"' in message
        assert socket.quiet()
        socket.close()

    def test_a_job_launched_after_the_socket_opened_is_told_too(self, alice, settings):
        settings.JOBS_UI = {**settings.JOBS_UI, "POLL_INTERVAL": 0.2}
        socket = Socket("mine", alice)
        assert socket.connect()[0]
        later = make_job(alice, status=JobStatus.RUNNING)
        # Found by the next read of the user's unfinished jobs, then its end by its event (or a read).
        hub_watched = lambda: str(later.pk) in hub.watched()  # noqa: E731
        deadline = timezone.now() + timedelta(seconds=10)
        while not hub_watched():
            assert timezone.now() < deadline, "the new job was never watched"
            socket.quiet()
        finish(later)
        assert toasts(socket.panel()) == [(str(later.pk), "SUCCESSFUL")]
        socket.close()

    def test_what_finished_before_the_page_was_shown_is_not_told(self, alice):
        since = timezone.now()
        make_job(alice, status=JobStatus.SUCCESSFUL, finished_at=since - timedelta(seconds=1))
        told = make_job(alice, status=JobStatus.SUCCESSFUL, finished_at=since + timedelta(seconds=1))
        socket = Socket("mine", alice, query=f"?{urlencode({'since': since.isoformat()})}")
        assert socket.connect()[0]
        assert toasts(socket.panel()) == [(str(told.pk), "SUCCESSFUL")]
        assert socket.quiet()
        socket.close()

    def test_anonymous_visitors_are_closed(self):
        socket = Socket("mine")
        assert socket.connect()[0]
        assert socket.closed_with() == CLOSE_SIGN_IN


class TestPoll:
    def test_the_users_jobs_finished_since_then_the_poll_from_now(self, client, alice, bob):
        since = timezone.now()
        before = make_job(alice, status=JobStatus.SUCCESSFUL, finished_at=since - timedelta(seconds=1))
        after = make_job(alice, status=JobStatus.CANCELLED, finished_at=since + timedelta(seconds=1))
        make_job(bob, status=JobStatus.SUCCESSFUL, finished_at=since + timedelta(seconds=1))
        client.force_login(alice)
        response = client.get("/jobs/notifications/", {"since": since.isoformat()})
        assert response.status_code == 200
        body = response.content.decode()
        assert toasts(body) == [(str(after.pk), "CANCELLED")]
        assert str(before.pk) not in body
        assert 'id="jobs-ui-notify-poll"' in body
        assert "was cancelled" in body

    @pytest.mark.parametrize(("since", "error"), [("yesterday", "ISO 8601"), ("2026-12-07T10:00:00", "time zone")])
    def test_a_bad_since_is_a_400(self, client, alice, since, error):
        client.force_login(alice)
        response = client.get("/jobs/notifications/", {"since": since})
        assert response.status_code == 400
        assert error in response.content.decode()

    def test_anonymous_visitors_get_403(self, client):
        assert client.get("/jobs/notifications/", {"since": timezone.now().isoformat()}).status_code == 403


class TestTag:
    def render(self, user: Any) -> str:
        request = RequestFactory().get("/")
        request.user = user
        return Template("{% load jobs_ui %}{% jobs_ui_notifications %}").render(Context({"request": request}))

    def test_nothing_for_anonymous_visitors(self):
        from django.contrib.auth.models import AnonymousUser

        assert self.render(AnonymousUser()).strip() == ""

    def test_the_region_its_socket_and_its_poll(self, alice, settings):
        html = self.render(alice)
        assert 'id="jobs-ui-toasts"' in html
        assert 'aria-live="polite"' in html
        assert 'ws-connect="/ws/jobs/mine/?since=' in html
        assert "/jobs/notifications/?since=" in html
        settings.JOBS_UI = {**settings.JOBS_UI, "WEBSOCKETS": False}
        html = self.render(alice)
        assert "ws-connect" not in html
        assert "/jobs/notifications/?since=" in html
