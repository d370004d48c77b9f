"""What polling costs and how it behaves: it stops, pauses, skips, and survives a lost connection."""

from __future__ import annotations

import re

import pytest
from conftest import POLL_INTERVAL
from playwright.sync_api import Page, Request, Route, expect

pytestmark = pytest.mark.e2e

PROGRESS = re.compile(r"/jobs/[0-9a-f-]+/progress/")
# Long enough for several polls to have happened, had polling gone on.
QUIET_MS = int(POLL_INTERVAL * 1000 * 6)


def count_polls(page: Page) -> list[Request]:
    polls: list[Request] = []
    page.on("request", lambda request: polls.append(request) if PROGRESS.search(request.url) else None)
    return polls


def test_no_poll_after_the_job_finished(page: Page, sign_in):
    sign_in(page, "alice")
    polls = count_polls(page)
    statuses: list[int] = []
    page.on("response", lambda response: statuses.append(response.status) if PROGRESS.search(response.url) else None)
    page.get_by_test_id("demo-count").get_by_label("Count to").fill("10")
    page.get_by_test_id("demo-count").get_by_role("button", name="Start counting").click()
    panel = page.get_by_test_id("demo-count").get_by_test_id("job-panel")
    expect(panel).to_have_attribute("data-job-status", "SUCCESSFUL")
    assert polls, "the panel never polled"
    assert panel.get_attribute("hx-trigger") is None
    seen = len(polls)
    # Asserting that nothing happens takes a wait: six poll intervals of silence.
    page.wait_for_timeout(QUIET_MS)
    assert len(polls) == seen
    assert statuses[-1] == 286
    assert all(status in (200, 286, 304) for status in statuses)


def test_unchanged_polls_are_304_and_keep_the_panel(page: Page, sign_in, settings):
    # Each step takes a few poll intervals, so most polls find nothing new.
    settings.DEMO_STEP_SECONDS = POLL_INTERVAL * 3
    sign_in(page, "alice")
    statuses: list[int] = []
    page.on("response", lambda response: statuses.append(response.status) if PROGRESS.search(response.url) else None)
    card = page.get_by_test_id("demo-count")
    card.get_by_label("Count to").fill("3")
    card.get_by_role("button", name="Start counting").click()
    panel = card.get_by_test_id("job-panel")
    expect(panel.get_by_test_id("job-message")).to_have_text("Counted to 1")
    expect(panel.get_by_test_id("job-message")).to_have_text("Counted to 2")
    expect(panel).to_have_attribute("data-job-status", "SUCCESSFUL")
    assert 304 in statuses
    expect(panel.get_by_test_id("job-result")).to_contain_text("3")


def test_polling_pauses_while_the_tab_is_hidden(page: Page, sign_in):
    sign_in(page, "alice")
    polls = count_polls(page)
    card = page.get_by_test_id("demo-long")
    card.get_by_role("button", name="Rebuild the index").click()
    panel = card.get_by_test_id("job-panel")
    expect(panel.get_by_test_id("job-message")).to_contain_text("Indexed document")
    page.evaluate(
        """() => {
            Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
            Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
            document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    # A poll already on its way may still land.
    page.wait_for_timeout(int(POLL_INTERVAL * 1000 * 2))
    while_hidden = len(polls)
    page.wait_for_timeout(QUIET_MS)
    assert len(polls) == while_hidden
    # Shown again: a poll goes out at once.
    with page.expect_request(PROGRESS):
        page.evaluate(
            """() => {
                delete document.hidden;
                delete document.visibilityState;
                document.dispatchEvent(new Event("visibilitychange"));
            }"""
        )
    page.once("dialog", lambda dialog: dialog.accept())
    panel.get_by_role("button", name="Cancel").click()
    expect(panel).to_have_attribute("data-job-status", "CANCELLED")
    assert len(polls) > while_hidden


def test_lost_connection_shows_and_recovers(page: Page, sign_in):
    sign_in(page, "alice")
    card = page.get_by_test_id("demo-long")
    card.get_by_role("button", name="Rebuild the index").click()
    panel = card.get_by_test_id("job-panel")
    expect(panel.get_by_test_id("job-message")).to_contain_text("Indexed document")
    failures: list[str] = []

    def fail(route: Route) -> None:
        failures.append(route.request.url)
        route.fulfill(status=502, body="Bad gateway")

    page.route(PROGRESS, fail)
    notice = panel.get_by_text("Connection lost, retrying…")
    expect(notice).to_be_visible()
    expect(panel).to_have_attribute("data-jobs-ui-offline", "lost")
    before = panel.get_by_test_id("job-message").inner_text()
    page.unroute(PROGRESS, fail)
    # Back-off: the next try comes later than the poll interval, then the panel moves on.
    expect(panel.get_by_test_id("job-message")).not_to_have_text(before)
    expect(notice).to_be_hidden()
    page.once("dialog", lambda dialog: dialog.accept())
    panel.get_by_role("button", name="Cancel").click()
    expect(panel).to_have_attribute("data-job-status", "CANCELLED")
    assert failures


def test_refused_launch_says_why(page: Page, sign_in, settings):
    settings.JOBS_UI = {**settings.JOBS_UI, "MAX_UNFINISHED_JOBS_PER_USER": 1}
    sign_in(page, "alice")
    card = page.get_by_test_id("demo-long")
    card.get_by_role("button", name="Rebuild the index").click()
    expect(card.get_by_test_id("job-panel")).to_have_attribute("data-job-status", "RUNNING")
    other = page.get_by_test_id("demo-fail")
    other.get_by_role("button", name="Import the file").click()
    alert = other.get_by_test_id("launch-error")
    expect(alert).to_contain_text("You already have 1 unfinished jobs")
    expect(alert).to_have_attribute("role", "alert")
    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Cancel").click()
    expect(card.get_by_test_id("job-panel")).to_have_attribute("data-job-status", "CANCELLED")
