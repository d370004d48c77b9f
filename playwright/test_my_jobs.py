""" "My jobs": the user's jobs with their final statuses, filters, links."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def test_my_jobs_lists_final_statuses(page: Page, sign_in, browser):
    sign_in(page, "alice")
    # One launch after the other (each panel shown before the next click), so the
    # jobs are created in this order: the list below is newest first.
    page.get_by_test_id("demo-count").get_by_label("Count to").fill("5")
    page.get_by_test_id("demo-count").get_by_role("button", name="Start counting").click()
    expect(page.get_by_test_id("demo-count").get_by_test_id("job-panel")).to_be_attached()
    page.get_by_test_id("demo-fail").get_by_role("button", name="Import the file").click()
    expect(page.get_by_test_id("demo-fail").get_by_test_id("job-panel")).to_be_attached()
    long_card = page.get_by_test_id("demo-long")
    long_card.get_by_role("button", name="Rebuild the index").click()
    expect(long_card.get_by_test_id("job-panel")).to_have_attribute("data-job-status", "RUNNING")
    page.once("dialog", lambda dialog: dialog.accept())
    long_card.get_by_role("button", name="Cancel").click()
    for name, status in [("demo-count", "SUCCESSFUL"), ("demo-fail", "FAILED"), ("demo-long", "CANCELLED")]:
        expect(page.get_by_test_id(name).get_by_test_id("job-panel")).to_have_attribute("data-job-status", status)

    # Bob's job must not show up in Alice's list.
    other = browser.new_page()
    try:
        sign_in(other, "bob")
        other.get_by_test_id("demo-fail").get_by_role("button", name="Import the file").click()
        expect(other.get_by_test_id("job-panel")).to_have_attribute("data-job-status", "FAILED")
    finally:
        other.close()

    page.get_by_role("link", name="My jobs").click()
    rows = page.get_by_test_id("job-row")
    expect(rows).to_have_count(3)
    # Newest first.
    expect(rows.nth(0)).to_have_attribute("data-job-status", "CANCELLED")
    expect(rows.nth(0)).to_contain_text("Rebuild the search index")
    expect(rows.nth(1)).to_have_attribute("data-job-status", "FAILED")
    expect(rows.nth(1)).to_contain_text("Row 4: 'twelve' is not a number.")
    expect(rows.nth(2)).to_have_attribute("data-job-status", "SUCCESSFUL")
    expect(rows.nth(2)).to_contain_text("Count to N")

    page.get_by_role("link", name="Failed", exact=True).click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Import a broken file")
    rows.first.get_by_role("link").click()
    expect(page.get_by_test_id("job-panel")).to_have_attribute("data-job-status", "FAILED")
    expect(page.get_by_role("navigation", name="Breadcrumb")).to_contain_text("My jobs")


def test_rows_update_live_while_a_job_runs(page: Page, sign_in, settings):
    # Slow enough (3 s) to be still running once "My jobs" has loaded, on a busy machine too.
    settings.DEMO_STEP_SECONDS = 0.2
    sign_in(page, "alice")
    page.get_by_test_id("demo-count").get_by_label("Count to").fill("15")
    page.get_by_test_id("demo-count").get_by_role("button", name="Start counting").click()
    expect(page.get_by_test_id("demo-count").get_by_test_id("job-panel")).to_have_attribute(
        "data-job-status", "RUNNING"
    )
    page.goto("/jobs/")
    row = page.get_by_test_id("job-row")
    expect(row).to_have_attribute("data-job-status", "RUNNING")
    expect(row.locator("progress")).to_be_visible()
    expect(row).to_have_attribute("data-job-status", "SUCCESSFUL")
    expect(row).to_contain_text("Counted to 15")
    assert page.get_by_test_id("job-rows").get_attribute("hx-trigger") is None
