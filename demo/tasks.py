"""Demo tasks: plain ``django.tasks`` code, run by jobs_ui."""

from __future__ import annotations

import time

from django.tasks import task

from jobs_ui.context import JobContext


# django-stubs types the context parameter as TaskContext; jobs_ui passes its subclass.
@task(takes_context=True)
def count_to(context: JobContext, n: int = 10, delay: float = 0.5) -> int:
    """Count to ``n``, one step every ``delay`` seconds (to make progress visible); stops when cancelled."""
    for i in range(1, n + 1):
        context.check_cancelled()
        # Stands in for real work, so the demo's progress bar has time to move.
        time.sleep(delay)
        context.progress(i, n, f"Counted {i}")
    return n


@task()
def add(a: int, b: int) -> int:
    return a + b


@task()
def fail(message: str = "Something went wrong") -> None:
    raise ValueError(message)
