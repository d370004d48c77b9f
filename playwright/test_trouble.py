"""When things go wrong around a panel: a stale session, a server error, a sign-in in another tab, a result store down."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import POLL_INTERVAL
from django.utils import timezone
from django.utils.crypto import get_random_string
from playwright.sync_api import Page, Response, Route, expect

from jobs_ui.models import Job, JobStatus

pytestmark = pytest.mark.e2e

PROGRESS = re.compile(r"/jobs/[0-9a-f-]+/progress/")
SESSION_CHANGED = "Your session changed in another tab: reload the page and try again."
SERVER_ERROR_PAGE = (
    "<!doctype html><html><head><title>Server Error (500)</title></head><body><h1>Server Error (500)</h1></body></html>"
)
UNREACHABLE_STORE = {
    "RESULT_STORE": {"BACKEND": "jobs_ui.stores.rabbitmq.RabbitMQResultStore"},
    "AMQP_URL": "amqp://guest:guest@127.0.0.1:1/%2F",
}


def rotate_csrf_cookie(page: Page, demo_site: str) -> None:
    """What a sign-in in another tab does: a new CSRF secret, which this tab's pages do not have."""
    secret = get_random_string(32)
    page.context.add_cookies([{"name": "csrftoken", "value": secret, "url": demo_site}])


def accept_dialogs(page: Page) -> None:
    page.on("dialog", lambda dialog: dialog.accept())


def cancel_on_its_page(page: Page, demo_site: str, job_id: str) -> None:
    """Reload (as the message says) and cancel, so no panel polls when the test ends."""
    page.goto(f"{demo_site}/jobs/{job_id}/")
    panel = page.get_by_test_id("job-panel")
    panel.get_by_role("button", name="Cancel").click()
    expect(panel).to_have_attribute("data-job-status", "CANCELLED")


def waiting_job(owner) -> Job:
    """A job that waits (run_after in an hour), so its panel polls and does not change by itself."""
    return Job.objects.create(
        task_path="demo.tasks.rebuild_index", owner=owner, run_after=timezone.now() + timedelta(hours=1)
    )


def test_stale_csrf_token_on_launch_and_cancel(page: Page, sign_in, demo_site, users, screenshot):
    sign_in(page, "alice")
    accept_dialogs(page)
    rotate_csrf_cookie(page, demo_site)
    card = page.get_by_test_id("demo-fail")
    card.get_by_role("button", name="Import the file").click()
    alert = card.get_by_test_id("launch-error")
    expect(alert).to_have_text(SESSION_CHANGED)
    expect(card).not_to_contain_text("CSRF")
    expect(card.get_by_role("button", name="Import the file")).to_be_enabled()
    screenshot(card, "trouble-launch-stale-csrf")
    assert not Job.objects.exists()

    # A panel that has not changed since the sign-in elsewhere still holds the old token.
    sign_in(page, "alice")
    job = waiting_job(users["alice"])
    page.goto(f"{demo_site}/jobs/{job.pk}/")
    panel = page.get_by_test_id("job-panel")
    expect(panel).to_have_attribute("data-job-status", "READY")
    rotate_csrf_cookie(page, demo_site)
    panel.get_by_role("button", name="Cancel").click()
    note = panel.get_by_test_id("cancel-error")
    expect(note).to_have_text(SESSION_CHANGED)
    expect(panel.get_by_role("button", name="Cancel")).to_be_enabled()
    job.refresh_from_db()
    assert job.status == JobStatus.READY
    assert job.cancel_requested_at is None
    # The panel goes on polling, and a new panel still says why.
    Job.objects.filter(pk=job.pk).update(progress_message="Still waiting", progress_at=timezone.now())
    expect(panel.get_by_test_id("job-message")).to_have_text("Still waiting")
    expect(note).to_have_text(SESSION_CHANGED)
    screenshot(panel, "trouble-cancel-stale-csrf")

    page.reload()
    page.get_by_test_id("job-panel").get_by_role("button", name="Cancel").click()
    expect(page.get_by_test_id("job-panel")).to_have_attribute("data-job-status", "CANCELLED")


def test_server_error_on_launch_and_cancel(page: Page, sign_in, demo_site, screenshot):
    sign_in(page, "alice")
    accept_dialogs(page)
    long_card = page.get_by_test_id("demo-long")
    long_card.get_by_role("button", name="Rebuild the index").click()
    panel = long_card.get_by_test_id("job-panel")
    expect(panel.get_by_test_id("job-message")).to_contain_text("Indexed document")
    job_id = panel.get_attribute("data-job-id") or ""

    def server_error(route: Route) -> None:
        route.fulfill(status=500, content_type="text/html", body=SERVER_ERROR_PAGE)

    page.route("**/jobs/launch/", server_error)
    page.route("**/cancel/", server_error)
    fail_card = page.get_by_test_id("demo-fail")
    fail_card.get_by_role("button", name="Import the file").click()
    expect(fail_card.get_by_test_id("launch-error")).to_have_text("The server hit an error; the job was not started.")
    expect(fail_card).not_to_contain_text("Server Error (500)")
    screenshot(fail_card, "trouble-launch-500")

    panel.get_by_role("button", name="Cancel").click()
    expect(panel.get_by_test_id("cancel-error")).to_have_text("The server hit an error; the job was not cancelled.")
    screenshot(panel, "trouble-cancel-500")

    page.unroute("**/cancel/", server_error)
    panel.get_by_role("button", name="Cancel").click()
    expect(panel).to_have_attribute("data-job-status", "CANCELLED")
    expect(panel.get_by_test_id("cancel-error")).to_have_count(0)
    assert Job.objects.get(pk=job_id).status == JobStatus.CANCELLED


def test_sign_in_in_another_tab_keeps_the_panel(page: Page, sign_in, demo_site):
    sign_in(page, "alice")
    accept_dialogs(page)
    card = page.get_by_test_id("demo-long")
    card.get_by_role("button", name="Rebuild the index").click()
    panel = card.get_by_test_id("job-panel")
    expect(panel.get_by_test_id("job-message")).to_contain_text("Indexed document")
    job_id = panel.get_attribute("data-job-id") or ""
    refused: list[Response] = []
    page.on("response", lambda r: refused.append(r) if PROGRESS.search(r.url) and r.status == 404 else None)

    other_tab = page.context.new_page()
    other_tab.goto(f"{demo_site}/")
    with page.expect_response(lambda r: bool(PROGRESS.search(r.url)) and r.status == 404):
        other_tab.get_by_role("button", name="Sign out").click()
    sign_in(other_tab, "alice")
    other_tab.close()

    before = panel.get_by_test_id("job-message").inner_text()
    expect(panel.get_by_test_id("job-message")).not_to_have_text(before)
    expect(panel).not_to_have_attribute("data-jobs-ui-offline", "gone")
    expect(panel.locator(".jobs-ui-connection")).to_be_hidden()
    assert len(refused) == 1
    cancel_on_its_page(page, demo_site, job_id)


def test_signed_out_for_good_the_panel_gives_up_after_one_retry(page: Page, sign_in, demo_site):
    sign_in(page, "alice")
    card = page.get_by_test_id("demo-long")
    card.get_by_role("button", name="Rebuild the index").click()
    panel = card.get_by_test_id("job-panel")
    expect(panel.get_by_test_id("job-message")).to_contain_text("Indexed document")
    refused: list[Response] = []
    page.on("response", lambda r: refused.append(r) if PROGRESS.search(r.url) and r.status == 404 else None)
    other_tab = page.context.new_page()
    other_tab.goto(f"{demo_site}/")
    other_tab.get_by_role("button", name="Sign out").click()
    other_tab.close()
    expect(panel).to_have_attribute("data-jobs-ui-offline", "gone")
    expect(panel.locator(".jobs-ui-connection")).to_have_text("This job can no longer be shown here. Reload the page.")
    page.wait_for_timeout(int(POLL_INTERVAL * 1000 * 6))
    assert len(refused) == 2


def test_unreadable_result_retries_until_it_can_be_read(page: Page, sign_in, demo_site, settings, users, screenshot):
    now = timezone.now()
    job = Job.objects.create(
        task_path="demo.tasks.count_to",
        owner=users["alice"],
        public=True,
        status=JobStatus.SUCCESSFUL,
        started_at=now - timedelta(seconds=3),
        finished_at=now,
        progress_done=5,
        progress_total=5,
        progress_message="Counted to 5",
        result_store="rabbitmq",
        result_expires_at=now + timedelta(hours=1),
    )
    readable = settings.JOBS_UI
    settings.JOBS_UI = {**readable, **UNREACHABLE_STORE}
    sign_in(page, "alice")
    page.goto(f"{demo_site}/jobs/{job.pk}/")
    panel = page.get_by_test_id("job-panel")
    unavailable = panel.get_by_test_id("job-result-unavailable")
    expect(unavailable).to_have_text("The result cannot be read right now; retrying…")
    expect(panel).not_to_contain_text("127.0.0.1")
    # It keeps asking: one more answer comes, and the panel still says so.
    with page.expect_response(PROGRESS):
        pass
    expect(unavailable).to_be_visible()
    screenshot(panel, "trouble-result-unavailable")

    staff = page.context.browser.new_page()  # type: ignore[union-attr]
    try:
        sign_in(staff, "staff")
        staff.goto(f"{demo_site}/jobs/{job.pk}/")
        staff_panel = staff.get_by_test_id("job-panel")
        expect(staff_panel).to_contain_text("Could not read the result of job")
        screenshot(staff_panel, "trouble-result-unavailable-staff")
    finally:
        staff.close()

    settings.JOBS_UI = readable
    Job.objects.filter(pk=job.pk).update(result_store="database", result=5)
    expect(panel.get_by_test_id("job-result")).to_contain_text("5")
    expect(unavailable).to_have_count(0)
    expect(panel).not_to_have_attribute("hx-trigger", re.compile("."))


def test_extra_is_shown_under_the_message(page: Page, sign_in, settings, screenshot):
    settings.DEMO_STEP_SECONDS = 0.15
    sign_in(page, "alice")
    card = page.get_by_test_id("demo-crawl")
    card.get_by_role("button", name="Start the crawl").click()
    panel = card.get_by_test_id("job-panel")
    extra = panel.get_by_test_id("job-extra")
    expect(extra.locator("dt").first).to_be_visible()
    expect(extra).to_contain_text("broken links")
    expect(extra).to_contain_text("/wiki/page-11")
    screenshot(panel, "panel-extra-running")
    expect(panel).to_have_attribute("data-job-status", "SUCCESSFUL")
    expect(extra).to_contain_text("/wiki/page-22")
    screenshot(panel, "panel-extra-finished")
