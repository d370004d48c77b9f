"""A result store in this process's memory, for tests."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from jobs_ui.exceptions import ResultExpired
from jobs_ui.models import Job
from jobs_ui.stores.base import BaseResultStore


class InMemoryResultStore(BaseResultStore):
    """Keeps results in this process's memory; for tests only."""

    name = "memory"
    supports_cross_process = False

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self._results: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def save(self, job: Job, encoded: str, ttl: int) -> None:
        with self._lock:
            self._results[str(job.pk)] = (encoded, time.monotonic() + ttl)

    def load(self, job: Job) -> Any:
        with self._lock:
            entry = self._results.get(str(job.pk))
        if entry is None or entry[1] <= time.monotonic():
            raise ResultExpired(f"The result of job {job.pk} has expired.")
        return json.loads(entry[0])

    def delete(self, job: Job) -> None:
        with self._lock:
            self._results.pop(str(job.pk), None)
