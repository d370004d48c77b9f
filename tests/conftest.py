from __future__ import annotations

import contextlib
import os
from typing import Any

import pytest

from tests import tasks
from tests.amqp_fixtures import *  # noqa: F403
from tests.worker_fixtures import *  # noqa: F403


@pytest.fixture(autouse=True)
def _isolate_jobs():
    """Fresh gates per test; this process's thread pool stopped after each test."""
    tasks.gates.clear()
    tasks.calls.clear()
    tasks.shutdown.clear()
    yield
    tasks.shutdown.set()
    from jobs_ui.executors import stop_executors

    stop_executors()


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="pw")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff", password="pw", is_staff=True)


def pytest_sessionfinish(session, exitstatus):
    """Remove the writers' lock file of the SQLite test database (jobs_ui.write_turns) with the database."""
    from django.conf import settings

    from jobs_ui.write_turns import SUFFIX

    database: dict[str, Any] = settings.DATABASES["default"]
    name = database.get("TEST", {}).get("NAME")
    if str(database["ENGINE"]).endswith("sqlite3") and name:
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{os.path.abspath(name)}{SUFFIX}")
