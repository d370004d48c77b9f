"""The staff dashboard in a browser: a worker goes from online to lost; a normal user is refused."""

from __future__ import annotations

import os
import signal

import pytest
from playwright.sync_api import Page, expect

from jobs_ui.models import Worker, WorkerState
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e


def test_staff_watch_a_killed_worker_turn_lost(page: Page, sign_in, demo_site, users, start_worker, screenshot):
    users["staff"].is_superuser = True
    users["staff"].save()
    start_worker("--label", "reports-1", "--queue", "default")
    worker = wait_until(lambda: Worker.objects.filter(state=WorkerState.ONLINE).first(), what="the worker")
    assert worker is not None
    sign_in(page, "staff")
    page.get_by_role("link", name="Workers").click()
    expect(page).to_have_url(f"{demo_site}/jobs/staff/")
    row = page.locator(f'[data-testid="staff-worker"][data-worker-id="{worker.pk}"]')
    expect(row).to_have_attribute("data-worker-state", "online")
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"staff-online-{width}")
    os.kill(worker.pid, signal.SIGKILL)
    # Lost once its heartbeat is HEARTBEAT_TIMEOUT old (3 s in the tests); the section refreshes every 5 s.
    expect(row).to_have_attribute("data-worker-state", "lost", timeout=15_000)
    expect(row).to_have_class("jobs-ui-row-alert")
    page.set_viewport_size({"width": 1280, "height": 800})
    screenshot(page, "staff-lost-1280")


def test_a_normal_user_gets_403(page: Page, sign_in, demo_site):
    sign_in(page, "alice")
    expect(page.get_by_role("link", name="Workers")).to_have_count(0)
    response = page.goto(f"{demo_site}/jobs/staff/")
    assert response is not None
    assert response.status == 403
