"""Live push in a browser: the demo over ASGI (daphne), panels that follow their job over a websocket.

With the socket up the panel changes and polls nothing; with the socket blocked it polls; once the
socket is back the polling stops. Worker jobs reach the socket through PostgreSQL's NOTIFY and
through RabbitMQ, across a restart of the broker.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from jobs_ui.models import Job, JobStatus

pytestmark = pytest.mark.e2e


class Traffic:
    """The panel's polls, and its websockets and the frames they received."""

    def __init__(self, page: Page) -> None:
        self.polls: list[str] = []
        self.frames = 0
        self.sockets = 0
        page.on("request", lambda request: self.polls.append(request.url) if "/progress/" in request.url else None)
        page.on("websocket", self._socket)

    def _socket(self, socket: Any) -> None:
        if socket.url.endswith(("/mine/", "/staff/")) or "/mine/?" in socket.url:
            return  # the toasts' and the dashboard's sockets: not a panel's
        self.sockets += 1
        socket.on("framereceived", self._frame)

    def _frame(self, _payload: Any) -> None:
        self.frames += 1


def wait_for(page: Page, predicate: Any, what: str, timeout: float = 15.0) -> None:
    """Wait until ``predicate()``, letting the page's events (requests, frames) arrive meanwhile."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout} s waiting for {what}")
        page.wait_for_timeout(50)


def sign_in(page: Page, site: str, user: Any, settings: Any) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": site}])
    page.goto(f"{site}/")
    expect(page.get_by_test_id("signed-in-as")).to_have_text(user.get_username())


def test_the_panel_follows_its_job_over_the_websocket_and_polls_nothing(
    page: Page, asgi_site, users, settings, screenshot
):
    traffic = Traffic(page)
    sign_in(page, asgi_site, users["alice"], settings)
    card = page.get_by_test_id("demo-export")
    card.get_by_role("button", name="Export 150 customers").click()
    panel = card.get_by_test_id("job-panel")
    expect(panel).to_have_attribute("data-job-status", "SUCCESSFUL", timeout=20_000)
    screenshot(page, "push-finished-1280")
    assert traffic.sockets == 1
    assert traffic.frames >= 2  # the panel at once, then at least the final one
    assert traffic.polls == []


def test_a_blocked_socket_falls_back_to_polling_and_push_resumes_when_it_is_back(
    page: Page, asgi_site, users, settings
):
    traffic = Traffic(page)
    blocked = {"on": True}

    def route(socket: Any) -> None:
        if blocked["on"]:
            socket.close(code=1011, reason="blocked by the test")  # the extension tries again later
        else:
            socket.connect_to_server()

    page.route_web_socket("**/ws/jobs/**", route)
    sign_in(page, asgi_site, users["alice"], settings)
    card = page.get_by_test_id("demo-long")
    card.get_by_role("button", name="Rebuild the index").click()
    panel = card.get_by_test_id("job-panel")
    expect(panel).to_have_attribute("data-job-status", "RUNNING", timeout=10_000)
    # Blocked: the panel polls, and moves.
    wait_for(page, lambda: len(traffic.polls) >= 3, "three polls while the socket is blocked")
    first = panel.locator("progress").get_attribute("value")
    wait_for(page, lambda: panel.locator("progress").get_attribute("value") != first, "the bar to move by polling")
    blocked["on"] = False
    # Back: once the extension has reconnected, no more polls.
    wait_for(page, lambda: traffic.frames >= 1, "the socket to be back", timeout=30)
    polls = len(traffic.polls)
    before = panel.locator("progress").get_attribute("value")
    wait_for(page, lambda: panel.locator("progress").get_attribute("value") != before, "the bar to move by push")
    page.wait_for_timeout(1_500)  # six poll intervals (0.25 s): none may happen now
    assert len(traffic.polls) <= polls + 1  # one may have been on its way when the socket opened


def _worker_job(users: dict[str, Any], gate: Path, lines: Any) -> Job:
    return Job.objects.create(
        task_path="tests.tasks.append_when_file_exists",
        args=[lines.path, "done", str(gate)],
        executor="worker",
        owner=users["alice"],
    )


def test_a_worker_job_is_pushed_through_postgresql_notify(
    page: Page, asgi_site, users, settings, start_worker, lines, tmp_path
):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("NOTIFY is PostgreSQL's")
    start_worker()
    gate = tmp_path / "gate"
    job = _worker_job(users, gate, lines)
    traffic = Traffic(page)
    sign_in(page, asgi_site, users["alice"], settings)
    page.goto(f"{asgi_site}/jobs/{job.pk}/")
    panel = page.get_by_test_id("job-panel")
    expect(panel).to_contain_text("attempt 1 waiting", timeout=20_000)
    gate.touch()
    expect(panel).to_have_attribute("data-job-status", "SUCCESSFUL", timeout=20_000)
    assert traffic.polls == []


@pytest.mark.rabbitmq
@pytest.mark.usefixtures("amqp_settings")
def test_a_worker_job_is_pushed_through_rabbitmq_and_after_the_broker_restarts(
    page: Page, asgi_site, users, settings, start_worker, lines, tmp_path
):
    start_worker()
    gate = tmp_path / "gate"
    job = _worker_job(users, gate, lines)
    traffic = Traffic(page)
    sign_in(page, asgi_site, users["alice"], settings)
    page.goto(f"{asgi_site}/jobs/{job.pk}/")
    panel = page.get_by_test_id("job-panel")
    expect(panel).to_contain_text("attempt 1 waiting", timeout=20_000)
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True)
    try:
        # A change no event will tell: only the snapshot after the bridge reconnects can show it.
        Job.objects.filter(pk=job.pk).update(
            progress_message="Changed while the broker was down", progress_at=timezone.now()
        )
    finally:
        subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True)
        subprocess.run(["rabbitmqctl", "await_startup"], check=True, capture_output=True)
    expect(panel).to_contain_text("Changed while the broker was down", timeout=30_000)
    gate.touch()
    expect(panel).to_have_attribute("data-job-status", "SUCCESSFUL", timeout=30_000)
    assert traffic.polls == []
    assert Job.objects.get(pk=job.pk).status == JobStatus.SUCCESSFUL


def _launch_count_then_leave(page: Page, site: str, n: int) -> None:
    card = page.get_by_test_id("demo-count")
    card.get_by_label("Count to").fill(str(n))
    card.get_by_role("button", name="Start counting").click()
    expect(card.get_by_test_id("job-panel")).to_have_attribute("data-job-status", "RUNNING", timeout=10_000)
    page.goto(f"{site}/jobs/")  # "My jobs": rows, no panel


def test_a_toast_says_a_job_finished_while_the_user_is_on_another_page(
    page: Page, asgi_site, users, settings, screenshot
):
    notification_polls: list[str] = []
    page.on("request", lambda r: notification_polls.append(r.url) if "/jobs/notifications/" in r.url else None)
    sign_in(page, asgi_site, users["alice"], settings)
    # A job whose panel is on screen gets no toast.
    export = page.get_by_test_id("demo-export")
    export.get_by_role("button", name="Export 150 customers").click()
    expect(export.get_by_test_id("job-panel")).to_have_attribute("data-job-status", "SUCCESSFUL", timeout=20_000)
    page.wait_for_timeout(500)
    expect(page.get_by_test_id("job-toast")).to_have_count(0)
    _launch_count_then_leave(page, asgi_site, 30)
    toast = page.get_by_test_id("job-toast")
    expect(toast).to_have_count(1, timeout=20_000)
    expect(toast).to_contain_text("Count to N finished: open")
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"toast-{width}")
    assert notification_polls == []
    toast.get_by_role("link", name="open").click()
    expect(page.get_by_test_id("job-panel")).to_have_attribute("data-job-status", "SUCCESSFUL")
    # On the job's own page, its panel is there: no toast for it again.
    expect(page.get_by_test_id("job-toast")).to_have_count(0)


def test_without_its_socket_the_toast_comes_by_polling(page: Page, asgi_site, users, settings):
    notification_polls: list[str] = []
    page.on("request", lambda r: notification_polls.append(r.url) if "/jobs/notifications/" in r.url else None)
    page.route_web_socket("**/ws/jobs/mine/**", lambda socket: socket.close(code=1000))
    sign_in(page, asgi_site, users["alice"], settings)
    _launch_count_then_leave(page, asgi_site, 20)
    toast = page.get_by_test_id("job-toast")
    expect(toast).to_contain_text("Count to N finished: open", timeout=20_000)
    assert notification_polls


def test_the_staff_dashboard_is_pushed_and_its_sections_poll_nothing(
    page: Page, asgi_site, users, settings, screenshot
):
    from jobs_ui import events

    users["staff"].is_superuser = True
    users["staff"].save()
    section_polls: list[str] = []
    page.on(
        "request", lambda r: section_polls.append(r.url) if "/jobs/staff/" in r.url and r.url.count("/") > 5 else None
    )
    sign_in(page, asgi_site, users["staff"], settings)
    page.goto(f"{asgi_site}/jobs/staff/")
    expect(page.get_by_test_id("staff-failures")).to_contain_text("No job has failed.")
    job = Job.objects.create(
        task_path="demo.tasks.count_to",
        owner=users["alice"],
        status=JobStatus.FAILED,
        finished_at=timezone.now(),
        error_class="builtins.OSError",
        error_message="The disk is full.",
    )
    events.publish(events.JobEvent.for_job(job, "finished"))  # what the process that failed it sends
    expect(page.get_by_test_id("staff-failure")).to_contain_text("The disk is full.", timeout=10_000)
    page.wait_for_timeout(6_000)  # past a regular refresh: pushed too
    screenshot(page, "staff-pushed-1280")
    assert section_polls == []
