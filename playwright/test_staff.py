"""The staff dashboard in a browser: a worker goes from online to lost; a normal user is refused."""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from jobs_ui.models import Job, JobStatus, Worker, WorkerState
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e


def test_staff_watch_a_killed_worker_turn_lost(page: Page, sign_in, demo_site, users, start_worker, screenshot):
    users["staff"].is_superuser = True
    users["staff"].save()
    # An hour of finished jobs for the throughput chart: a few a minute, a failure now and then.
    now = timezone.now()
    for minute in range(0, 60, 3):
        for n in range(minute % 7 + 1):
            done = now - timedelta(minutes=minute, seconds=n)
            status = JobStatus.FAILED if (minute + n) % 11 == 0 else JobStatus.SUCCESSFUL
            task = "demo.tasks.export_customers" if n % 2 else "demo.tasks.count_to"
            started = done - timedelta(seconds=2)
            job = Job.objects.create(task_path=task, status=status, started_at=started, finished_at=done)
            Job.objects.filter(pk=job.pk).update(enqueued_at=started - timedelta(seconds=0.5 + n))
    start_worker("--label", "reports-1", "--queue", "default")
    worker = wait_until(lambda: Worker.objects.filter(state=WorkerState.ONLINE).first(), what="the worker")
    assert worker is not None
    sign_in(page, "staff")
    page.get_by_role("link", name="Workers").click()
    expect(page).to_have_url(f"{demo_site}/jobs/staff/")
    row = page.locator(f'[data-testid="staff-worker"][data-worker-id="{worker.pk}"]')
    expect(row).to_have_attribute("data-worker-state", "online")
    expect(page.get_by_test_id("staff-task")).to_have_count(2)
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
