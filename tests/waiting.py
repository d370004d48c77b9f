from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from jobs_ui.models import Job


def wait_until[T](predicate: Callable[[], T], timeout: float = 15.0, interval: float = 0.02, what: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


def wait_for_status(job_id: Any, *statuses: str, timeout: float = 15.0) -> Job:
    def check() -> Job | None:
        job = Job.objects.get(pk=job_id)
        return job if job.status in statuses else None

    job = wait_until(check, timeout, what=f"job {job_id} to be {'/'.join(statuses)}")
    assert job is not None
    return job
