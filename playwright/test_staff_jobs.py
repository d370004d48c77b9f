"""Staff act on jobs in a browser: retry a failed job from the dashboard, bulk-cancel READY jobs by filter."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from jobs_ui.models import Job, JobStatus, StaffAction

pytestmark = pytest.mark.e2e

SIZES = ((1280, 800), (390, 844))


@pytest.fixture
def staff_actor(users):
    users["staff"].is_superuser = True
    users["staff"].save()
    return users["staff"]


def test_staff_retry_a_failed_job_from_the_dashboard_and_see_the_new_job_succeed(
    page: Page, sign_in, demo_site, users, staff_actor, screenshot
):
    at = timezone.now()
    old = Job.objects.create(
        task_path="demo.tasks.count_to",
        kwargs={"n": 3},
        owner=users["alice"],
        status=JobStatus.FAILED,
        attempts=2,
        max_attempts=2,
        started_at=at,
        finished_at=at,
        error_class="builtins.ConnectionError",
        error_message="The counting service did not answer.",
        errors=[
            {"attempt": n, "at": at.isoformat(), "class": "builtins.ConnectionError", "message": "No answer."}
            for n in (1, 2)
        ],
    )
    sign_in(page, "staff")
    page.goto(f"{demo_site}/jobs/staff/")
    failure = page.locator(f'[data-testid="staff-failure"][data-job-id="{old.pk}"]')
    expect(failure).to_contain_text("The counting service did not answer.")
    expect(failure).to_contain_text("2 failed attempts")
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        failure.scroll_into_view_if_needed()
        screenshot(page, f"staff-failures-{width}")
    page.set_viewport_size({"width": 1280, "height": 800})
    failure.get_by_test_id("staff-retry").click()
    expect(page.get_by_test_id("staff-confirm")).to_contain_text("Retry: 1 job?")
    screenshot(page, "staff-confirm-retry-1280")
    page.get_by_test_id("staff-confirm-button").click()
    new = Job.objects.get(retry_of=old)
    expect(page).to_have_url(f"{demo_site}/jobs/{new.pk}/")
    expect(page.get_by_test_id("job-panel")).to_have_attribute("data-job-status", "SUCCESSFUL", timeout=20_000)
    expect(page.get_by_test_id("job-retry-of")).to_contain_text(str(old.pk))
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"staff-retried-job-{width}")
    page.get_by_test_id("job-retry-of").get_by_role("link").click()
    expect(page).to_have_url(f"{demo_site}/jobs/{old.pk}/")
    expect(page.get_by_test_id("job-retries")).to_contain_text(str(new.pk))
    assert StaffAction.objects.get().new_job_ids == [str(new.pk)]


def test_staff_bulk_cancel_ready_jobs_by_filter(page: Page, sign_in, demo_site, users, staff_actor, screenshot):
    # Jobs for workers, and no worker: they wait as READY.
    reports = [
        Job.objects.create(
            task_path="demo.tasks.render_monthly_report",
            executor="worker",
            queue_name="reports",
            owner=users["alice" if n % 2 else "bob"],
        )
        for n in range(5)
    ]
    other = Job.objects.create(task_path="demo.tasks.render_monthly_report", executor="worker", owner=users["bob"])
    sign_in(page, "staff")
    page.goto(f"{demo_site}/jobs/staff/")
    page.get_by_role("link", name="All jobs").click()
    expect(page).to_have_url(f"{demo_site}/jobs/staff/jobs/")
    expect(page.get_by_test_id("staff-job")).to_have_count(6)
    page.get_by_label("Status", exact=True).select_option("READY")
    page.get_by_label("Queue", exact=True).fill("reports")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("staff-job")).to_have_count(5)
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"staff-jobs-filtered-{width}")
    page.set_viewport_size({"width": 1280, "height": 800})
    bulk = page.get_by_test_id("staff-bulk")
    bulk.get_by_role("combobox").select_option("cancel")
    bulk.get_by_label("every job of this filter").check()
    bulk.get_by_test_id("staff-bulk-apply").click()
    expect(page.get_by_test_id("staff-confirm")).to_contain_text("Cancel: 5 jobs?")
    page.get_by_test_id("staff-confirm-button").click()
    expect(page.locator(".jobs-ui-messages")).to_contain_text("Cancel: 5 jobs.")
    expect(page.get_by_test_id("staff-job")).to_have_count(0)
    screenshot(page, "staff-jobs-cancelled-1280")
    assert {job.status for job in Job.objects.filter(pk__in=[job.pk for job in reports])} == {JobStatus.CANCELLED}
    other.refresh_from_db()
    assert other.status == JobStatus.READY
