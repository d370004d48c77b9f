"""Screenshots for people to look at (artifacts/screenshots/), on a desktop and a phone."""

from __future__ import annotations

import contextlib

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_screenshots(page: Page, sign_in, screenshot, viewport):
    page.set_viewport_size(VIEWPORTS[viewport])
    width = VIEWPORTS[viewport]["width"]
    sign_in(page, "alice")
    screenshot(page, f"home-{width}")
    # Nothing on the page may be wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    long_card = page.get_by_test_id("demo-long")
    running = long_card.get_by_test_id("job-panel")
    finished = page.get_by_test_id("demo-export").get_by_test_id("job-panel")
    failed = page.get_by_test_id("demo-fail").get_by_test_id("job-panel")
    # One launch after the other (each panel shown before the next click), so the
    # jobs are created in this order: "My jobs" below is newest first.
    long_card.get_by_role("button", name="Rebuild the index").click()
    expect(running).to_be_attached()
    page.get_by_test_id("demo-export").get_by_role("button", name="Export 150 customers").click()
    expect(finished).to_be_attached()
    page.get_by_test_id("demo-fail").get_by_role("button", name="Import the file").click()
    # The short jobs end first, so nothing above the running panel moves while it is shot.
    expect(finished).to_have_attribute("data-job-status", "SUCCESSFUL")
    expect(failed).to_have_attribute("data-job-status", "FAILED")
    expect(running).to_have_attribute("data-job-status", "RUNNING")
    expect(running.get_by_test_id("job-eta")).to_be_visible()
    expect(running.get_by_test_id("job-message")).to_contain_text("Indexed document")
    screenshot(running, f"panel-running-{width}")
    screenshot(finished, f"panel-finished-{width}")
    screenshot(failed, f"panel-failed-{width}")

    # The panel is polled every 250 ms here: a poll that swaps it in just as the button is
    # clicked loses that click (no confirm comes), as it would a person's, who clicks again.
    page.on("dialog", lambda dialog: dialog.accept())
    for _ in range(5):
        with contextlib.suppress(PlaywrightError):
            running.get_by_role("button", name="Cancel").click(timeout=2000)
        with contextlib.suppress(AssertionError):
            expect(running).to_have_attribute("data-job-status", "CANCELLED", timeout=3000)
            break
    expect(running).to_have_attribute("data-job-status", "CANCELLED")
    screenshot(running, f"panel-cancelled-{width}")
    screenshot(page, f"home-after-{width}")
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    page.get_by_role("link", name="My jobs").click()
    expect(page.get_by_test_id("job-row")).to_have_count(3)
    screenshot(page, f"my-jobs-{width}")
    # Newest first: the import, launched last.
    page.get_by_test_id("job-row").first.get_by_role("link").click()
    expect(page.get_by_test_id("job-panel")).to_have_attribute("data-job-status", "FAILED")
    screenshot(page, f"job-page-{width}")
