from __future__ import annotations

import os

from django.apps import AppConfig


class TestsConfig(AppConfig):
    name = "tests"

    def ready(self) -> None:
        # A worker subprocess started with this variable logs Django's task signals
        # to that file (tests/jobs/test_task_signals.py).
        path = os.environ.get("JOBS_UI_TEST_SIGNAL_LOG")
        if path:
            from tests import signal_log

            signal_log.log_to(path)
