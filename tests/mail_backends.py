"""E-mail backends for tests/test_mail.py: one that fails on chosen calls, one that writes to a file and can wait."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend

from tests.tasks import append


class FailsOnCalls(LocmemBackend):
    """Raises ConnectionError on the calls numbered in ``failing`` (from 1, across connections), else delivers to the outbox."""

    failing: set[int] = set()
    calls = 0

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        FailsOnCalls.calls += 1
        if FailsOnCalls.calls in FailsOnCalls.failing:
            raise ConnectionError("The mail server did not answer.")
        return super().send_messages(email_messages)


class FileBackend(BaseEmailBackend):
    """Appends "sending <subject>" and "sent <subject>" to ``$JOBS_UI_TEST_MAIL_FILE``; a subject starting
    with "wait" waits between the two until ``$JOBS_UI_TEST_MAIL_GATE`` exists (a worker process's backend)."""

    def send_messages(self, email_messages: Sequence[Any]) -> int:
        path, gate = os.environ["JOBS_UI_TEST_MAIL_FILE"], os.environ["JOBS_UI_TEST_MAIL_GATE"]
        for message in email_messages:
            append(path, f"sending {message.subject}")
            while message.subject.startswith("wait") and not os.path.exists(gate):
                time.sleep(0.02)
            append(path, f"sent {message.subject}")
        return len(email_messages)
