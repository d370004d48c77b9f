"""Where a waiting job stands: no worker for it, then a worker comes up and runs it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from jobs_ui.models import Job

pytestmark = pytest.mark.e2e

NO_WORKER = "No worker is running jobs of this kind right now; yours will start when one is back."


def test_a_waiting_user_is_told_no_worker_runs_the_job_then_sees_it_start(
    page: Page, sign_in, demo_site, users, start_worker, lines, screenshot
):
    job = Job.objects.create(
        task_path="tests.tasks.append_line", args=[lines.path, "ran"], executor="worker", owner=users["alice"]
    )
    sign_in(page, "alice")
    page.goto(f"{demo_site}/jobs/{job.pk}/")
    panel = page.get_by_test_id("job-panel")
    expect(panel.get_by_test_id("job-standing")).to_have_text(NO_WORKER)
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"standing-no-worker-{width}")
    start_worker()
    expect(panel).to_have_attribute("data-job-status", "SUCCESSFUL", timeout=20_000)
    expect(panel.get_by_test_id("job-standing")).to_have_count(0)
    assert lines.read() == ["ran"]
