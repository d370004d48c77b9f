from __future__ import annotations

import threading
from typing import Any

from django.tasks import task

from jobs_ui.context import JobContext

# Tests wait on these instead of sleeping; ``shutdown`` ends every waiting task.
gates: dict[str, threading.Event] = {}
calls: list[str] = []
shutdown = threading.Event()


def gate(name: str) -> threading.Event:
    return gates.setdefault(name, threading.Event())


@task()
def echo(value: Any) -> Any:
    return value


@task()
def add(a: int, b: int = 0) -> int:
    return a + b


@task()
def explode(message: str) -> None:
    raise ValueError(message)


@task()
def not_json() -> object:
    return object()


@task()
def large_result(size: int) -> str:
    return "x" * size


@task(takes_context=True)
def count(context: JobContext, n: int) -> int:
    for i in range(1, n + 1):
        context.progress(i, n, f"Counted {i}")
    return n


@task(takes_context=True)
def wait_for_gate(context: JobContext, name: str) -> str:
    """Reports progress, then waits for the test to open the gate, checking for cancel."""
    context.progress(1, 10, "waiting")
    context.extra["waiting"] = True
    context.flush()
    while not gate(name).wait(0.02) and not shutdown.is_set():
        context.check_cancelled()
    return name


@task(takes_context=True)
def wait_forever(context: JobContext) -> None:
    """Until cancelled; polls the database flag (no in-process shortcut is assumed)."""
    context.progress(0, None, "started")
    while not shutdown.wait(0.02):
        context.check_cancelled()


@task(retries=2, retry_delay=0.05)
def flaky(key: str) -> int:
    calls.append(key)
    if calls.count(key) < 3:
        raise RuntimeError(f"attempt {calls.count(key)} fails")
    return calls.count(key)


@task(unique=True)
def unique_job(value: int) -> int:
    return value


@task(public=True)
def public_job() -> str:
    return "for everyone"


@task(result_ttl=1)
def short_lived() -> dict[str, int]:
    return {"ok": 1}


@task()
async def async_add(a: int, b: int) -> int:
    return a + b


@task(executor="worker")
def on_worker() -> str:
    return "worker"


@task(takes_context=True, timeout=0.2)
def slow_with_timeout(context: JobContext) -> None:
    while not shutdown.wait(0.02):
        context.check_cancelled()


@task()
def record(label: str) -> str:
    """Appends ``label`` to ``calls``: order of execution, and that a job ran at all."""
    calls.append(label)
    return label


@task(takes_context=True)
def progress_in_transaction(context: JobContext, name: str) -> str:
    """Reports progress from inside its own transaction, then waits."""
    from django.db import transaction

    with transaction.atomic():
        context.progress(3, 4, "inside a transaction")
        while not gate(name).wait(0.02) and not shutdown.is_set():
            pass
    return name


@task(retries=1, takes_context=True)
def wait_with_retry(context: JobContext, name: str) -> int:
    """Like wait_for_gate, with one retry left: returns the attempt that finished."""
    while not gate(name).wait(0.02) and not shutdown.is_set():
        context.check_cancelled()
    return context.attempt
