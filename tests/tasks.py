from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from typing import Any

from django.tasks import task

from jobs_ui import schedule
from jobs_ui.context import JobContext
from jobs_ui.exceptions import InvalidProgress, JobCancelled, Retry

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


@task(retries=3, retry_delay=0.01, retry_on=(ConnectionError,))
def retried_on_connection_errors(key: str, error: str) -> int:
    """Raises ``error`` (ConnectionError or ValueError) on the first attempt; then succeeds."""
    calls.append(key)
    if calls.count(key) == 1:
        raise ConnectionError("The service did not answer.") if error == "ConnectionError" else ValueError("Bad row.")
    return calls.count(key)


@task(retries=1, retry_delay=60)
def asks_to_retry(key: str, delay: float | None) -> int:
    """Asks to be tried again (after ``delay``) on its first attempt; then succeeds."""
    calls.append(key)
    if calls.count(key) == 1:
        raise Retry("Not ready yet.", delay=delay)
    return calls.count(key)


@task()
def asks_to_retry_once(key: str, delay: float | None) -> int:
    """``asks_to_retry`` with no retry left."""
    result: int = asks_to_retry.func(key, delay)
    return result


@task(retries=5, retry_delay=100, retry_max_delay=0.05)
def capped_backoff(key: str) -> int:
    calls.append(key)
    if calls.count(key) < 3:
        raise RuntimeError("again")
    return calls.count(key)


@task(expires=30)
def expiring(value: int) -> int:
    return value


@task(executor="worker")
def timed(path: str) -> None:
    """Appends when it started and when it ended (``time.time()``)."""
    append(path, f"start {time.time()}")
    append(path, f"end {time.time()}")


@task()
def scheduled_tick(at: str | None = None) -> str | None:
    """What a schedule runs: returns the occurrence it was given."""
    return at


@schedule(cron="manual")
@task()
def every_night() -> None:
    return None


@task(unique=True)
def unique_job(value: int) -> int:
    return value


@task(unique="global")
def unique_global_job(value: int) -> int:
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


@task(executor="worker", takes_context=True)
def queues_another(context: JobContext, n: int) -> int:
    """Keeps ``n`` in its workspace, reports progress, and queues ``on_worker``."""
    context.workspace["n"] = n
    context.progress(1, 2, "Queued the next one")
    on_worker.enqueue()
    return n


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


@task(result_template="tests/result.html", label="Templated result")
def templated_result(name: str) -> dict[str, str]:
    """A task that names its own result template (tests/templates/tests/result.html)."""
    return {"greeting": f"Hello {name}"}


# Tasks for worker processes (tests/worker/test_worker*.py): their side effects are lines
# appended to a file with O_APPEND, so a test counts executions, not statuses.


def append(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


@task()
def append_line(path: str, line: str) -> str:
    append(path, line)
    return line


@task(takes_context=True)
def append_when_file_exists(context: JobContext, path: str, line: str, gate: str) -> int:
    """Appends ``start <attempt> <pid>``, waits (checking for cancel) until ``gate`` exists, appends ``line``."""
    append(path, f"start {context.attempt} {os.getpid()}")
    context.progress(1, 2, f"attempt {context.attempt} waiting")
    while not os.path.exists(gate) and not shutdown.wait(0.02):
        context.check_cancelled()
    append(path, line)
    return context.attempt


@task(retries=1, retry_delay=0.1, takes_context=True)
def append_when_file_exists_retried(context: JobContext, path: str, line: str, gate: str) -> int:
    """``append_when_file_exists`` with one retry."""
    result: int = append_when_file_exists.func(context, path, line, gate)
    return result


@task(retries=1, retry_delay=0.1, takes_context=True)
def first_attempt_stalls(context: JobContext, path: str, seconds: float, check: bool = False) -> str:
    """Attempt 1 appends, reports progress and stalls ``seconds``; later attempts finish at once.

    With ``check``, attempt 1 asks whether to stop once awake, and appends why it stops.
    """
    mine = f"attempt {context.attempt} pid {os.getpid()}"
    # Written before "start" is appended: a test that freezes the worker once it sees
    # "start" freezes it in the stall, not inside progress() (which would stop it there).
    context.progress(1, 3, f"{mine} started")
    append(path, f"start {mine}")
    if context.attempt == 1:
        threading.Event().wait(seconds)
        if check:
            try:
                context.check_cancelled()
            except JobCancelled as e:
                append(path, f"stopped {mine}: {e}")
                raise
        context.progress(2, 3, f"{mine} woke up")
    append(path, f"end {mine}")
    return mine


@task(takes_context=True)
def checks_after_gate(context: JobContext, path: str, name: str) -> str:
    """Reports progress, waits for gate ``name``, then asks whether to stop, appending why."""
    context.progress(0, 1, "waiting")
    gate(name).wait(10)
    try:
        context.check_cancelled()
    except JobCancelled as e:
        append(path, f"stopped: {e}")
        raise
    append(path, "went on")
    return "went on"


@task(retries=2, retry_delay=0.3)
def fails_twice(path: str) -> int:
    """Appends the time of each attempt; the first two fail."""
    append(path, repr(time.time()))
    with open(path) as f:
        attempts = len(f.read().splitlines())
    if attempts < 3:
        raise RuntimeError(f"attempt {attempts} fails")
    return attempts


@task(unique=True)
def unique_append(path: str, line: str) -> str:
    append(path, line)
    return line


@task(timeout=0.3)
def ignores_timeout(path: str) -> None:
    """Never looks at its context: only a hard stop ends it."""
    append(path, "started")
    threading.Event().wait(30)
    append(path, "not stopped")


@task(takes_context=True)
def ignores_cancel(context: JobContext, path: str) -> None:
    """Reports progress (so cancel is requested while it runs), then never checks for cancel."""
    context.progress(1, 2, "running")
    append(path, "started")
    threading.Event().wait(30)
    append(path, "not stopped")


@task()
async def sleep_async(seconds: float) -> list[float]:
    """Returns when it started and ended: many of these overlap on one event loop."""
    started = time.time()
    await asyncio.sleep(seconds)
    return [started, time.time()]


@task(takes_context=True)
async def async_progress(context: JobContext, gate: str) -> str:
    """Reports half way, waits until ``gate`` exists, then reports done."""
    await context.aprogress(1, 2, "half way")
    while not os.path.exists(gate):
        await asyncio.sleep(0.02)
    await context.aprogress(2, 2, "done")
    return "ok"


@task(takes_context=True)
async def async_sync_progress(context: JobContext) -> None:
    context.progress(1, 2, "blocks the loop")


# SystemExit, KeyboardInterrupt, cancel and timeout at progress(), capped progress,
# the history of failed attempts (tests/jobs/test_run.py, tests/test_context.py, tests/jobs/test_finish.py).


@task()
def exits(code: int) -> None:
    sys.exit(code)


@task()
def interrupts() -> None:
    raise KeyboardInterrupt


@task()
async def async_exits(code: int) -> None:
    await asyncio.sleep(0)
    sys.exit(code)


@task(takes_context=True)
def progress_until_stopped(context: JobContext, path: str = "") -> None:
    """Only calls progress(), never check_cancelled(); appends why it stopped to ``path``."""
    i = 0
    try:
        while not shutdown.wait(0.02):
            i += 1
            context.progress(i, None, "running")
    except Exception as e:
        if path:
            append(path, f"stopped: {type(e).__name__}")
        raise


@task(takes_context=True, timeout=0.3)
def progress_past_timeout(context: JobContext) -> None:
    progress_until_stopped.func(context)


@task(timeout=0.3)
def overruns_timeout() -> str:
    """Never looks at its context, and returns after its timeout has passed."""
    threading.Event().wait(0.6)
    return "too late"


@task(timeout=0.3)
async def async_overruns_timeout() -> str:
    # Past its timeout, short of the hard stop (timeout + HARD_STOP_GRACE in tests).
    await asyncio.sleep(0.45)
    return "too late"


@task(takes_context=True)
def long_message(context: JobContext, size: int) -> None:
    context.progress(1, 2, "x" * size)
    context.progress(2, 2, "y" * size)


@task(takes_context=True)
def large_extra(context: JobContext, size: int, catch: bool = False) -> str:
    context.extra["small"] = 1
    context.flush()
    context.extra["blob"] = "x" * size
    try:
        context.progress(1, 2, "too large")
    except InvalidProgress:
        if not catch:
            raise
        # Again, never written by progress(): the final write must not keep it either.
        context.extra["blob"] = "x" * size
    return "went on"


@task(retries=11, retry_delay=0)
def fails_every_time(label: str) -> None:
    raise RuntimeError(f"{label} failed")


@task()
def named_like_launch(task: str = "", request: str = "", public: str = "") -> dict[str, str]:
    """Parameters named like launch()'s own (and the button's ``public`` option)."""
    return {"task": task, "request": request, "public": public}
