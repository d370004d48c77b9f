from __future__ import annotations

import pytest
from django.core.checks import Error, Warning
from django.db.backends.dummy.base import DatabaseWrapper as DummyDatabaseWrapper
from django.test import SimpleTestCase, override_settings

from jobs_ui.checks import check_database, check_htmx, check_settings, database_messages
from tests.settings import JOBS_UI, MIDDLEWARE

STORE_HINT = (
    "Set BACKEND to 'jobs_ui.stores.database.DatabaseResultStore' or 'jobs_ui.stores.rabbitmq.RabbitMQResultStore'."
)


class CheckSettingsTests(SimpleTestCase):
    def test_defaults_pass(self):
        assert check_settings() == []
        assert check_htmx() == []

    @override_settings(JOBS_UI={"RESULT_STORE": {"BACKEND": "nowhere.Store"}})
    def test_e001_store_not_importable(self):
        assert check_settings() == [
            Error(
                "JOBS_UI['RESULT_STORE'] cannot be used: Could not import result store 'nowhere.Store': No module named 'nowhere'",
                hint=STORE_HINT,
                id="jobs_ui.E001",
            )
        ]

    @override_settings(JOBS_UI={"RESULT_STORE": {"BACKEND": "jobs_ui.stores.rabbitmq.RabbitMQResultStore"}})
    def test_e002_rabbitmq_store_without_amqp_url(self):
        assert check_settings() == [
            Error(
                "RabbitMQResultStore needs JOBS_UI['AMQP_URL'].",
                hint=(
                    "Set JOBS_UI['AMQP_URL'] to amqp://user:password@host:5672/vhost, "
                    "or use jobs_ui.stores.database.DatabaseResultStore."
                ),
                id="jobs_ui.E002",
            )
        ]

    @override_settings(INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "jobs_ui"])
    def test_e003_htmx_app_missing(self):
        assert check_htmx() == [
            Error(
                "django_htmx is not in INSTALLED_APPS.",
                hint="Add 'django_htmx' to INSTALLED_APPS; jobs_ui's templates use {% htmx_script %}.",
                id="jobs_ui.E003",
            )
        ]

    @override_settings(MIDDLEWARE=[m for m in MIDDLEWARE if "htmx" not in m])
    def test_e003_htmx_middleware_missing(self):
        assert check_htmx() == [
            Error(
                "django_htmx's HtmxMiddleware is not in MIDDLEWARE.",
                hint="Add 'django_htmx.middleware.HtmxMiddleware' to MIDDLEWARE; jobs_ui's views read request.htmx.",
                id="jobs_ui.E003",
            )
        ]

    @override_settings(JOBS_UI={**JOBS_UI, "POLL_INTERVALL": 2, "AMQP": "x"})
    def test_e004_unknown_keys(self):
        assert check_settings() == [
            Error(
                "Unknown JOBS_UI setting(s): AMQP, POLL_INTERVALL.",
                hint="Check the spelling; the settings are listed in jobs_ui.conf.DEFAULTS.",
                id="jobs_ui.E004",
            )
        ]

    @override_settings(JOBS_UI={"EXECUTOR": "cloud"})
    def test_e005_unknown_executor(self):
        assert check_settings() == [
            Error(
                "JOBS_UI['EXECUTOR'] is 'cloud'.",
                hint="Use 'thread', 'worker' or (in tests) 'immediate'.",
                id="jobs_ui.E005",
            )
        ]

    @override_settings(JOBS_UI={"POLL_INTERVAL": "1s", "MAX_UNFINISHED_JOBS_PER_USER": 0})
    def test_e006_bad_numbers(self):
        assert check_settings() == [
            Error(
                "JOBS_UI['POLL_INTERVAL'] must be a number >= 0, not '1s'.",
                hint="Remove it to use the default, jobs_ui.conf.DEFAULTS['POLL_INTERVAL'].",
                id="jobs_ui.E006",
            ),
            Error(
                "JOBS_UI['MAX_UNFINISHED_JOBS_PER_USER'] must be None or a whole number >= 1, not 0.",
                hint="None removes the limit.",
                id="jobs_ui.E006",
            ),
        ]

    @override_settings(JOBS_UI={"WORKER_IDLE_POLL": -1, "SHUTDOWN_GRACE": None, "HARD_STOP_GRACE": True})
    def test_e006_bad_worker_numbers(self):
        assert check_settings() == [
            Error(
                f"JOBS_UI[{key!r}] must be a number >= 0, not {value!r}.",
                hint=f"Remove it to use the default, jobs_ui.conf.DEFAULTS[{key!r}].",
                id="jobs_ui.E006",
            )
            for key, value in (("WORKER_IDLE_POLL", -1), ("SHUTDOWN_GRACE", None), ("HARD_STOP_GRACE", True))
        ]

    @override_settings(
        JOBS_UI={"EXECUTOR": "worker", "RESULT_STORE": {"BACKEND": "jobs_ui.stores.memory.InMemoryResultStore"}}
    )
    def test_w001_process_local_store_with_workers(self):
        assert check_settings() == [
            Warning(
                "InMemoryResultStore keeps results in one process, but jobs run on worker processes.",
                hint="Use DatabaseResultStore or RabbitMQResultStore with the worker executor.",
                id="jobs_ui.W001",
            )
        ]

    @override_settings(JOBS_UI={**JOBS_UI, "NOTIFY_IDLE_WORKERS": False, "ASSIGN_IDLE_WORKERS": False})
    def test_w003_removed_keys(self):
        assert check_settings() == [
            Warning(
                "JOBS_UI['ASSIGN_IDLE_WORKERS'] is no longer used.",
                hint=(
                    "Remove it. On PostgreSQL, a new worker job always takes a free slot offered by an idle worker "
                    "in its own INSERT, when one is offered."
                ),
                id="jobs_ui.W003",
            ),
            Warning(
                "JOBS_UI['NOTIFY_IDLE_WORKERS'] is no longer used.",
                hint=(
                    "Remove it. A new worker job always wakes idle workers (NOTIFY on PostgreSQL, a datagram on "
                    "SQLite); with AMQP_URL, a worker with a free slot claims it at once instead of waiting for its "
                    "message."
                ),
                id="jobs_ui.W003",
            ),
        ]


def test_e007_the_jobs_database_must_be_postgresql_or_sqlite():
    assert check_database() == []
    elsewhere = DummyDatabaseWrapper({"ENGINE": "django.db.backends.dummy", "NAME": ""}, alias="elsewhere")
    assert database_messages(elsewhere) == [
        Error(
            "jobs_ui keeps its jobs in PostgreSQL or SQLite 3.35+; the database 'elsewhere' is unknown.",
            hint="Route jobs_ui's models to a PostgreSQL or SQLite database (DATABASE_ROUTERS), or use one as 'default'.",
            id="jobs_ui.E007",
        )
    ]


@pytest.mark.parametrize("token", ["short", 12345678901234567890123, ""])
def test_e006_a_health_token_too_short_or_not_text(settings, token):
    settings.JOBS_UI = {"HEALTH_TOKEN": token}
    [error] = check_settings()
    assert error.id == "jobs_ui.E006"
    assert "HEALTH_TOKEN" in error.msg


def test_a_long_health_token_passes(settings):
    settings.JOBS_UI = {"HEALTH_TOKEN": "x" * 20}
    assert check_settings() == []
