"""The last hour of finished jobs, as the staff dashboard shows it."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs_ui.models import Job, JobStatus
from jobs_ui.monitoring.throughput import read_throughput
from tests.helpers import make_job

pytestmark = pytest.mark.django_db


def finished(
    ago_minutes: float, status: str = JobStatus.SUCCESSFUL, *, wait: float = 1.0, run: float = 2.0, **fields: Any
) -> Job:
    """A job that finished ``ago_minutes`` ago, after waiting ``wait`` and running ``run`` seconds."""
    done = timezone.now() - timedelta(minutes=ago_minutes)
    started = done - timedelta(seconds=run)
    job = make_job(status=status, started_at=started, finished_at=done, **fields)
    job.enqueued_at = started - timedelta(seconds=wait)
    job.save(update_fields=["enqueued_at"])
    return job


class TestReadThroughput:
    def test_each_minute_counts_its_succeeded_and_failed_jobs(self):
        finished(0)
        finished(0, JobStatus.FAILED)
        finished(0, JobStatus.CANCELLED)
        finished(10.5)
        finished(10.5)
        finished(75)  # more than an hour ago
        make_job(status=JobStatus.RUNNING, started_at=timezone.now())
        throughput = read_throughput()
        assert len(throughput.minutes) == 60
        assert (throughput.minutes[-1].succeeded, throughput.minutes[-1].failed) == (1, 1)
        assert [(m.succeeded, m.failed) for m in throughput.minutes].count((2, 0)) == 1
        assert (throughput.succeeded, throughput.failed) == (3, 1)
        assert throughput.minutes[0].start == throughput.minutes[-1].start - timedelta(minutes=59)

    def test_per_task_counts_failures_and_times(self):
        for wait, run in ((1, 10), (2, 20), (3, 30), (4, 40)):
            finished(1, wait=wait, run=run, task_path="tests.tasks.echo")
        finished(1, JobStatus.FAILED, task_path="tests.tasks.explode")
        finished(1, JobStatus.CANCELLED, task_path="tests.tasks.explode")
        echo, explode = read_throughput().tasks
        assert (echo.task_path, echo.finished, echo.failed) == ("tests.tasks.echo", 4, 0)
        assert echo.wait_p50 == pytest.approx(2.5)
        assert echo.run_p50 == pytest.approx(25)
        assert echo.run_p95 == pytest.approx(38.5)
        assert (explode.finished, explode.failed, explode.failure_rate) == (2, 1, 0.5)

    def test_a_job_cancelled_before_it_started_has_no_times(self):
        make_job(status=JobStatus.CANCELLED, finished_at=timezone.now())
        [task] = read_throughput().tasks
        assert (task.wait_p50, task.run_p95) == (None, None)


class TestSection:
    def test_the_chart_and_the_tasks(self, client, signed_in):
        finished(0, task_path="tests.tasks.echo")
        finished(0, JobStatus.FAILED, task_path="tests.tasks.echo")
        signed_in(client, "staff-reader")
        body = client.get("/jobs/staff/throughput/").content.decode()
        assert "1 succeeded, 1 failed" in body
        assert len(re.findall(r'<rect class="jobs-ui-chart-slot"', body)) == 60
        # The last minute's bar fills the chart: one job succeeded below, one failed above.
        assert re.search(r'class="jobs-ui-chart-succeeded" x="590" y="60.0" width="8" height="60.0"', body)
        assert re.search(r'class="jobs-ui-chart-failed" x="590" y="0.0" width="8" height="60.0"', body)
        assert re.search(r"<title>\d\d:\d\d: 1 succeeded, 1 failed</title>", body)
        [row] = re.findall(r'<tr data-testid="staff-task" data-task="tests.tasks.echo">(.*?)</tr>', body, re.S)
        assert "50 %" in row
        assert "2.00 s / 2.00 s" in row

    def test_an_empty_hour_says_so(self, client, signed_in):
        signed_in(client, "staff-reader")
        assert "No job finished in the last hour." in client.get("/jobs/staff/throughput/").content.decode()
