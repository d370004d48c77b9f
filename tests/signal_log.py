"""Receivers of Django's task signals for tests: into a list in this process, or into a file in a worker."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.tasks.signals import task_enqueued, task_finished, task_started

from tests.tasks import append

SIGNALS = {"enqueued": task_enqueued, "started": task_started, "finished": task_finished}


@dataclass(frozen=True)
class Sent:
    signal: str
    sender: type[Any]
    result: Any


@contextlib.contextmanager
def recording() -> Iterator[list[Sent]]:
    """The signals sent in this process while in the block, in order."""
    sent: list[Sent] = []
    lock = threading.Lock()

    def receiver(name: str, sender: type[Any], task_result: Any, **kwargs: Any) -> None:
        with lock:
            sent.append(Sent(name, sender, task_result))

    receivers = {name: partial(receiver, name) for name in SIGNALS}
    for name, signal in SIGNALS.items():
        signal.connect(receivers[name], weak=False)
    try:
        yield sent
    finally:
        for name, signal in SIGNALS.items():
            signal.disconnect(receivers[name])


def log_to(path: str) -> None:
    """Append ``<signal> <job id> <status> <sender> <pid> <errors>`` to ``path`` for each signal sent here."""

    def receiver(name: str, sender: type[Any], task_result: Any, **kwargs: Any) -> None:
        append(
            path,
            f"{name} {task_result.id} {task_result.status} {sender.__name__} {os.getpid()} {len(task_result.errors)}",
        )

    for name, signal in SIGNALS.items():
        signal.connect(partial(receiver, name), weak=False)
