from __future__ import annotations

import contextlib
import os
import shutil
from typing import Any

import pytest

from jobs_ui.testing import jobs_ui_run_jobs  # noqa: F401 (a fixture, registered as a project would)
from tests import tasks
from tests.amqp_fixtures import *  # noqa: F403
from tests.worker_fixtures import *  # noqa: F403


@pytest.fixture(autouse=True)
def _isolate_jobs():
    """Fresh gates and standings per test; this process's thread pool stopped after each test."""
    from jobs_ui.views import standing

    standing.reset()
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
def signed_in(django_user_model):
    """``signed_in(client, kind)``: ``client`` signed in as a new user of that kind: "user", "staff" (no
    permission), "staff-reader" (``jobs_ui.view_job``), "staff-actor" (and ``jobs_ui.change_job``), "superuser"."""
    from django.contrib.auth.models import Permission

    def sign_in(client, kind):
        user = django_user_model.objects.create_user(
            kind, password="pw", is_staff=kind != "user", is_superuser=kind == "superuser"
        )
        codenames = {"staff-reader": ["view_job"], "staff-actor": ["view_job", "change_job"]}.get(kind, [])
        user.user_permissions.add(*Permission.objects.filter(content_type__app_label="jobs_ui", codename__in=codenames))
        client.force_login(user)
        return user

    return sign_in


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff", password="pw", is_staff=True)


def pytest_sessionfinish(session, exitstatus):
    """Remove what jobs_ui keeps beside the SQLite test database with it: the writers' lock file, the wake-ups folder."""
    from django.conf import settings

    from jobs_ui.db import socket_wakeups, write_turns

    database: dict[str, Any] = settings.DATABASES["default"]
    name = database.get("TEST", {}).get("NAME")
    if str(database["ENGINE"]).endswith("sqlite3") and name:
        path = os.path.abspath(name)
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + write_turns.SUFFIX)
        shutil.rmtree(path + socket_wakeups.SUFFIX, ignore_errors=True)
