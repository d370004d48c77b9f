"""Helpers shared by both sides of the benchmark (plain Python, no Django, no Celery)."""

from __future__ import annotations

import os
import statistics
import subprocess
import time


def wait_for_lines(path: str, n: int, timeout: float, worker: subprocess.Popen[bytes] | None = None) -> list[float]:
    """The ``n`` timestamps written to ``path`` (one a line), once they are all there."""
    deadline = time.monotonic() + timeout
    while True:
        if worker is not None and worker.poll() is not None and worker.returncode != 0:
            raise RuntimeError(f"The worker exited with code {worker.returncode}")
        if os.path.exists(path):
            with open(path) as f:
                lines = f.read().split()
            if len(lines) >= n:
                return sorted(float(line) for line in lines)
        if time.monotonic() > deadline:
            raise TimeoutError(f"Only some of {n} jobs finished within {timeout} s")
        time.sleep(0.05)


def drain_rate(marks: list[float]) -> float:
    """Jobs per second between the first and the last job to finish (startup excluded)."""
    return (len(marks) - 1) / (marks[-1] - marks[0])


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50 and p95 in milliseconds."""
    cuts = statistics.quantiles(samples, n=100)
    return {"p50": statistics.median(samples) * 1000, "p95": cuts[94] * 1000}
