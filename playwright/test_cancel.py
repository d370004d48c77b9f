"""Cancelling a long job from its panel."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from jobs_ui.models import Job, JobStatus

pytestmark = pytest.mark.e2e


def test_cancel_a_long_job(page: Page, sign_in):
    sign_in(page, "alice")
    card = page.get_by_test_id("demo-long")
    card.get_by_role("button", name="Rebuild the index").click()
    panel = card.get_by_test_id("job-panel")
    expect(panel.get_by_test_id("job-message")).to_contain_text("Indexed document")
    expect(panel.get_by_test_id("job-eta")).to_be_visible()
    dialogs: list[str] = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    panel.get_by_role("button", name="Cancel").click()
    expect(panel).to_have_attribute("data-job-status", "CANCELLED")
    expect(panel.get_by_test_id("job-status")).to_have_text("Cancelled")
    expect(panel.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(panel.get_by_test_id("job-cancelled")).to_have_text("Cancelled on request.")
    assert dialogs == ["Cancel this job?"]
    job = Job.objects.get()
    assert job.status == JobStatus.CANCELLED
    assert job.progress_done < job.progress_total


def test_dismissing_the_confirm_keeps_the_job_running(page: Page, sign_in):
    sign_in(page, "alice")
    card = page.get_by_test_id("demo-long")
    card.get_by_role("button", name="Rebuild the index").click()
    panel = card.get_by_test_id("job-panel")
    expect(panel).to_have_attribute("data-job-status", "RUNNING")
    page.once("dialog", lambda dialog: dialog.dismiss())
    panel.get_by_role("button", name="Cancel").click()
    expect(panel.get_by_test_id("job-message")).to_contain_text("Indexed document")
    assert Job.objects.get().cancel_requested_at is None
    # End it, and wait for the panel to stop polling before the test ends.
    page.once("dialog", lambda dialog: dialog.accept())
    panel.get_by_role("button", name="Cancel").click()
    expect(panel).to_have_attribute("data-job-status", "CANCELLED")


def test_a_polled_panel_cancels_and_reruns_with_the_csrf_cookie_alone(page: Page, sign_in):
    # A page without hx-headers on <body>: the polled panel's forms carry no token of
    # their own, and jobs_ui.js sends the CSRF cookie's.
    sign_in(page, "alice")
    page.evaluate("document.body.removeAttribute('hx-headers')")
    card = page.get_by_test_id("demo-long")
    card.get_by_role("button", name="Rebuild the index").click()
    panel = card.get_by_test_id("job-panel")
    expect(panel.get_by_test_id("job-message")).to_contain_text("Indexed document")
    expect(panel.locator("form[data-jobs-ui-cancel] input[name=csrfmiddlewaretoken]")).to_have_count(0)
    page.on("dialog", lambda dialog: dialog.accept())
    panel.get_by_role("button", name="Cancel").click()
    expect(panel).to_have_attribute("data-job-status", "CANCELLED")
    assert Job.objects.get().status == JobStatus.CANCELLED
    panel.get_by_role("button", name="Run again").click()
    expect(card.get_by_test_id("job-panel")).to_have_attribute("data-job-status", "RUNNING")
    assert Job.objects.count() == 2
    card.get_by_test_id("job-panel").get_by_role("button", name="Cancel").click()
    expect(card.get_by_test_id("job-panel")).to_have_attribute("data-job-status", "CANCELLED")
