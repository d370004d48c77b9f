"""Launching from the demo home page: progress, results, errors, sharing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def test_count_shows_moving_progress_then_the_result(page: Page, sign_in, settings):
    # Slow enough for several polls to catch the count on its way.
    settings.DEMO_STEP_SECONDS = 0.1
    sign_in(page, "alice", via_form=True)
    card = page.get_by_test_id("demo-count")
    card.get_by_label("Count to").fill("25")
    card.get_by_role("button", name="Start counting").click()
    panel = card.get_by_test_id("job-panel")
    expect(panel).to_have_attribute("data-job-status", "RUNNING")
    message = panel.get_by_test_id("job-message")
    expect(message).to_have_text(re.compile(r"Counted to \d+"))
    first_message = message.inner_text()
    first_value = float(panel.locator("progress").get_attribute("value") or 0)
    # The bar moves and the message changes while the job runs.
    expect(message).not_to_have_text(first_message)
    expect(panel.locator("progress")).not_to_have_attribute("value", f"{first_value:.1f}")
    expect(panel).to_have_attribute("data-job-status", "SUCCESSFUL")
    expect(panel.locator("progress")).to_have_attribute("value", "100.0")
    expect(message).to_have_text("Counted to 25")
    expect(panel.get_by_test_id("job-result")).to_contain_text("25")
    expect(panel.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(panel.get_by_role("button", name="Run again")).to_be_visible()


def test_export_result_renders_its_template_and_downloads(page: Page, sign_in):
    sign_in(page, "alice")
    card = page.get_by_test_id("demo-export")
    card.get_by_role("button", name="Export 150 customers").click()
    panel = card.get_by_test_id("job-panel")
    expect(panel).to_have_attribute("data-job-status", "SUCCESSFUL")
    expect(panel).to_contain_text("150 customers exported.")
    expect(panel.locator("table tbody tr")).to_have_count(5)
    with page.expect_download() as download_info:
        panel.get_by_test_id("download-csv").click()
    download = download_info.value
    assert download.suggested_filename == "customers.csv"
    lines = Path(download.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,name,city,orders,revenue"
    assert len(lines) == 151


def test_failing_task_shows_its_error(page: Page, sign_in):
    sign_in(page, "alice")
    card = page.get_by_test_id("demo-fail")
    card.get_by_role("button", name="Import the file").click()
    panel = card.get_by_test_id("job-panel")
    expect(panel).to_have_attribute("data-job-status", "FAILED")
    error = panel.get_by_test_id("job-error")
    expect(error).to_have_text("Row 4: 'twelve' is not a number. Fix the file, then import it again.")
    expect(error).to_have_attribute("role", "alert")
    expect(panel.locator(".jobs-ui-traceback")).to_have_count(0)
    expect(panel.get_by_role("button", name="Cancel")).to_have_count(0)


def test_staff_sees_the_traceback(page: Page, sign_in):
    sign_in(page, "staff")
    card = page.get_by_test_id("demo-fail")
    card.get_by_role("button", name="Import the file").click()
    panel = card.get_by_test_id("job-panel")
    expect(panel).to_have_attribute("data-job-status", "FAILED")
    panel.locator("summary", has_text="Traceback").click()
    expect(panel.locator(".jobs-ui-traceback pre")).to_contain_text("ValueError")


def test_no_total_is_indeterminate(page: Page, sign_in):
    sign_in(page, "alice")
    card = page.get_by_test_id("demo-crawl")
    card.get_by_role("button", name="Start the crawl").click()
    panel = card.get_by_test_id("job-panel")
    expect(panel.get_by_test_id("job-message")).to_contain_text("Visited /wiki/page-")
    assert panel.locator("progress").evaluate("bar => bar.matches(':indeterminate')")
    expect(panel).to_have_attribute("data-job-status", "SUCCESSFUL")
    expect(panel).to_contain_text("found 2 broken links")


def test_public_job_link_works_for_anyone_read_only(page: Page, sign_in, browser):
    sign_in(page, "alice")
    card = page.get_by_test_id("demo-public")
    card.get_by_role("button", name="Build the report").click()
    panel = card.get_by_test_id("job-panel")
    link = panel.get_by_test_id("share-link").input_value()
    expect(panel).to_have_attribute("data-job-status", "SUCCESSFUL")
    visitor = browser.new_page()
    try:
        visitor.goto(link)
        shared = visitor.get_by_test_id("job-panel")
        expect(shared).to_have_attribute("data-job-status", "SUCCESSFUL")
        expect(shared).to_contain_text("All systems operational except search")
        expect(shared.get_by_role("button", name="Cancel")).to_have_count(0)
        expect(shared.get_by_role("button", name="Run again")).to_have_count(0)
    finally:
        visitor.close()


def test_run_again_starts_a_new_job(page: Page, sign_in):
    sign_in(page, "alice")
    card = page.get_by_test_id("demo-fail")
    card.get_by_role("button", name="Import the file").click()
    panel = card.get_by_test_id("job-panel")
    expect(panel).to_have_attribute("data-job-status", "FAILED")
    first_id = panel.get_attribute("data-job-id")
    panel.get_by_role("button", name="Run again").click()
    expect(card.get_by_test_id("job-panel")).not_to_have_attribute("data-job-id", first_id or "")
    expect(card.get_by_test_id("job-panel")).to_have_attribute("data-job-status", "FAILED")


def test_signed_out_visitor_is_invited_to_sign_in(page: Page, demo_site):
    page.goto(demo_site + "/")
    expect(page.get_by_role("link", name="Sign in to try it")).to_be_visible()
    expect(page.get_by_role("button", name="Import the file")).to_have_count(0)
