"""Someone else's job is a 404, in the browser too."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def test_second_user_gets_404_for_the_first_users_job(page: Page, sign_in, browser, demo_site):
    sign_in(page, "alice")
    card = page.get_by_test_id("demo-fail")
    card.get_by_role("button", name="Import the file").click()
    panel = card.get_by_test_id("job-panel")
    expect(panel).to_have_attribute("data-job-status", "FAILED")
    job_url = f"{demo_site}/jobs/{panel.get_attribute('data-job-id')}/"
    page.goto(job_url)
    expect(page.get_by_test_id("job-panel")).to_have_attribute("data-job-status", "FAILED")

    other = browser.new_page()
    try:
        sign_in(other, "bob", via_form=True)
        response = other.goto(job_url)
        assert response is not None
        assert response.status == 404
        expect(other.get_by_test_id("not-found")).to_be_visible()
        expect(other.get_by_role("heading", name="Page not found")).to_be_visible()
        expect(other.get_by_test_id("job-panel")).to_have_count(0)
        expect(other.get_by_text("twelve")).to_have_count(0)
    finally:
        other.close()


def test_signed_out_visitor_gets_404_too(page: Page, sign_in, browser, demo_site):
    sign_in(page, "alice")
    card = page.get_by_test_id("demo-fail")
    card.get_by_role("button", name="Import the file").click()
    panel = card.get_by_test_id("job-panel")
    expect(panel).to_have_attribute("data-job-status", "FAILED")
    visitor = browser.new_page()
    try:
        response = visitor.goto(f"{demo_site}/jobs/{panel.get_attribute('data-job-id')}/")
        assert response is not None
        assert response.status == 404
    finally:
        visitor.close()
