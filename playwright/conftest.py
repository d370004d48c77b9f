"""Browser journeys through the demo site, served by pytest-django's live_server.

No ``__init__.py`` here: one would shadow the real ``playwright`` package.
The site runs on the test settings (PostgreSQL by default) with the demo's
URLs, templates and static files, and the embedded default: jobs in threads
of this process, results in the database.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

# RabbitMQ settings (amqp_settings), and worker subprocesses against the live server's database (start_worker, lines).
from tests.amqp_fixtures import *  # noqa: F403
from tests.worker_fixtures import *  # noqa: F403

# Fail in seconds, not the default 30 s: every step here takes well under a second.
expect.set_options(timeout=10_000)

# Playwright's sync API runs an event loop in the test thread, where the tests
# also use the ORM (fixtures, checks); Django refuses that unless told.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
FAILURES = ARTIFACTS / "failures"
POLL_INTERVAL = 0.25
PASSWORDS = {"alice": "alice-pass", "bob": "bob-pass", "staff": "staff-pass"}


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    return {
        "executable_path": "/usr/bin/chromium",
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
    }


@pytest.fixture(scope="session")
def base_url(live_server: Any) -> str:
    # Replaces pytest-playwright's fallback fixture, which pytest 9 warns
    # about (an instance-method session fixture), and makes page.goto("/") work.
    return str(live_server.url)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure, keep a screenshot and the HTML of the page under artifacts/failures/."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call" or not report.failed:
        return
    page = getattr(item, "funcargs", {}).get("page")
    if page is None:
        return
    FAILURES.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", item.nodeid)
    try:
        page.screenshot(path=str(FAILURES / f"{name}.png"), full_page=True)
        (FAILURES / f"{name}.html").write_text(page.content(), encoding="utf-8")
    except Exception as e:  # The page may be gone; the test's own error matters more.
        report.sections.append(("artifacts", f"Could not save the page: {e}"))


@pytest.fixture(autouse=True)
def demo_site(settings: Any, live_server: Any, transactional_db: None) -> Iterator[str]:
    """The demo site on the live server; on the way out, no job is left running."""
    settings.ROOT_URLCONF = "demo.urls"
    settings.LOGIN_REDIRECT_URL = "/"
    settings.LOGOUT_REDIRECT_URL = "/"
    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "DIRS": [ROOT / "demo" / "templates", ROOT / "templates", ROOT / "tests" / "templates"],
        }
    ]
    settings.STATICFILES_DIRS = [ROOT / "static", ROOT / "demo" / "static"]
    settings.JOBS_UI = {**settings.JOBS_UI, "POLL_INTERVAL": POLL_INTERVAL, "THREAD_POOL_SIZE": 6}
    settings.DEMO_STEP_SECONDS = 0.05
    yield live_server.url
    from jobs_ui.exceptions import JobNotCancellable
    from jobs_ui.executors import stop_executors
    from jobs_ui.jobs.cancel import cancel
    from jobs_ui.models import Job

    for job in Job.objects.unfinished():
        with contextlib.suppress(JobNotCancellable):
            cancel(job)
    stop_executors()


@pytest.fixture
def asgi_site(demo_site: str, settings: Any) -> Iterator[str]:
    """The demo site with live push, served over ASGI by daphne in a process forked from this one
    (so on the same test database and settings): its URL. Thread jobs launched there run there."""
    from functools import partial

    from channels.testing.live import make_application
    from daphne.testing import DaphneProcess
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
    from django.db import connections

    settings.JOBS_UI = {**settings.JOBS_UI, "WEBSOCKETS": True}
    settings.ASGI_APPLICATION = "demo.asgi.application"
    # The child opens its own connections; none of this process's may cross the fork.
    connections.close_all()
    server = DaphneProcess("127.0.0.1", partial(make_application, static_wrapper=ASGIStaticFilesHandler))
    server.start()
    deadline = time.monotonic() + 30
    while not server.ready.wait(timeout=0.5):
        if not server.is_alive() or time.monotonic() > deadline:
            error = server.errors.get() if not server.errors.empty() else "no error reported"
            pytest.fail(f"daphne did not start: {error}")
    try:
        yield f"http://127.0.0.1:{server.port.value}"
    finally:
        server.terminate()
        server.join(10)


@pytest.fixture
def users(django_user_model: Any) -> dict[str, Any]:
    return {
        name: django_user_model.objects.create_user(name, password=password, is_staff=name == "staff")
        for name, password in PASSWORDS.items()
    }


@pytest.fixture
def sign_in(demo_site: str, users: dict[str, Any], settings: Any) -> Callable[..., None]:
    """``sign_in(page, "alice")``: a session cookie, then the home page.

    ``sign_in(page, "alice", via_form=True)`` types into the login form like a
    person; the cookie is the quick way for journeys about something else.
    """
    from django.test import Client

    def sign_in(page: Any, username: str, *, via_form: bool = False) -> None:
        if via_form:
            page.goto(f"{demo_site}/accounts/login/")
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(PASSWORDS[username])
            page.get_by_role("button", name="Sign in").click()
            expect(page).to_have_url(f"{demo_site}/")
        else:
            client = Client()
            client.force_login(users[username])
            cookie = client.cookies[settings.SESSION_COOKIE_NAME]
            page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": demo_site}])
            page.goto(f"{demo_site}/")
        expect(page.get_by_test_id("signed-in-as")).to_have_text(username)

    return sign_in


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    """``screenshot(page_or_locator, "name")``: saved under artifacts/screenshots/ for people to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(target: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        if hasattr(target, "set_viewport_size"):
            target.screenshot(path=str(path), full_page=True, animations="disabled")
            return path
        # A polling panel is replaced several times a second, so Locator.screenshot
        # can keep waiting for a stable element: cut the region out of one page shot.
        # The panel found may be swapped out before it is measured (then it has no box):
        # measure again, until a deadline.
        page = target.page
        deadline = time.monotonic() + 10
        while True:
            clip = target.evaluate(
                "e => { const r = e.getBoundingClientRect();"
                " return {x: r.x + window.scrollX, y: r.y + window.scrollY, width: r.width, height: r.height}; }"
            )
            if min(clip["width"], clip["height"]) > 0:
                break
            assert time.monotonic() < deadline, f"{name}: the element is not shown"
        page.screenshot(path=str(path), full_page=True, clip=clip, animations="disabled")
        return path

    return take
