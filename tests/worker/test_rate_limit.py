"""jobs_ui_worker --rate-limit: one job at a time, and none starts within N seconds of the last one's end."""

from __future__ import annotations

import pytest

from jobs_ui.models import JobStatus
from tests import tasks
from tests.waiting import wait_for_status

pytestmark = pytest.mark.django_db(transaction=True)


def test_jobs_start_one_at_a_time_apart(worker_mode, start_worker, lines):
    results = [tasks.timed.enqueue(lines.path) for _ in range(3)]
    start_worker("--rate-limit", "0.5", "--concurrency", "4")
    for result in results:
        wait_for_status(result.id, JobStatus.SUCCESSFUL, timeout=30)
    # As the tasks saw it: start, end, start, end... never two at once, each start 0.5 s after the last end.
    kinds = [line.split()[0] for line in lines.read()]
    assert kinds == ["start", "end"] * 3
    stamps = [float(line.split()[1]) for line in lines.read()]
    gaps = [stamps[n + 1] - stamps[n] for n in range(1, len(stamps) - 1, 2)]
    assert all(gap >= 0.45 for gap in gaps), gaps


def test_a_bad_rate_limit_is_refused(start_worker):
    assert start_worker("--rate-limit", "0").wait() != 0
