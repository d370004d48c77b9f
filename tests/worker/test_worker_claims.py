"""The claim statements workers use: exactly the rows asked for, in claim order, each once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from jobs_ui.jobs.claim import claim, claim_due, claim_wanted
from jobs_ui.jobs.finish import finish
from jobs_ui.models import Job, JobStatus
from tests.helpers import ready_jobs

pytestmark = pytest.mark.django_db(transaction=True)


def test_claim_due_takes_exactly_the_limit_in_claim_order():
    low = ready_jobs(3)
    high = ready_jobs(2, priority=10)
    ready_jobs(1, run_after=timezone.now() + timedelta(hours=1))
    first = claim_due(executor="worker", worker_id="w", limit=1)
    assert [job.pk for job in first] == [high[0].pk]
    rest = claim_due(executor="worker", worker_id="w", limit=3)
    assert [job.pk for job in rest] == [high[1].pk, low[0].pk, low[1].pk]
    assert Job.objects.filter(status=JobStatus.RUNNING).count() == 4
    job = rest[0]
    assert (job.status, job.attempts, job.worker_id, job.worker_ids) == (JobStatus.RUNNING, 1, "w", ["w"])
    assert job.started_at is not None
    assert job.heartbeat_at is not None


def test_claim_due_filters():
    ready_jobs(1, queue_name="other")
    ready_jobs(1, task_path="tests.tasks.echo")
    ready_jobs(1, executor="thread")
    assert (
        claim_due(executor="worker", worker_id="w", queues=["other"], exclude_tasks=["tests.tasks.add"], limit=5) == []
    )
    claimed = claim_due(executor="worker", worker_id="w", exclude_tasks=["tests.tasks.add"], limit=5)
    assert [job.task_path for job in claimed] == ["tests.tasks.echo"]
    assert [job.queue_name for job in claim_due(executor="worker", worker_id="w", limit=5)] == ["other"]


def test_claim_wanted_needs_the_published_attempt_and_task():
    a, b, c = ready_jobs(3)
    claimed = claim_wanted(
        "w", [(a.pk, 0, "tests.tasks.add"), (b.pk, 1, "tests.tasks.add"), (c.pk, 0, "tests.tasks.echo")]
    )
    assert [job.pk for job in claimed] == [a.pk]
    assert claim_wanted("w", [(a.pk, 0, "tests.tasks.add")]) == []  # no longer READY


def test_a_job_is_claimed_once_by_concurrent_claimers():
    jobs = ready_jobs(40)
    taken: list[list[str]] = [[] for _ in range(4)]

    def claimer(i):
        try:
            while claimed := claim_due(executor="worker", worker_id=f"w{i}", limit=3):
                taken[i].extend(str(job.pk) for job in claimed)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [pk for part in taken for pk in part]
    assert sorted(everything) == sorted(str(job.pk) for job in jobs)


def test_final_write_is_fenced_and_updates_the_instance():
    [job] = ready_jobs(1)
    running = claim(job.pk, "w")
    assert running is not None
    running.progress_message = "last words"
    assert finish(running, JobStatus.SUCCESSFUL, result={"ok": True})
    assert running.status == JobStatus.SUCCESSFUL
    assert running.finished_at is not None
    row = Job.objects.get(pk=job.pk)
    assert (row.status, row.result, row.progress_message) == (JobStatus.SUCCESSFUL, {"ok": True}, "last words")
    assert row.finished_at == running.finished_at
    assert not finish(running, JobStatus.FAILED)
    assert Job.objects.get(pk=job.pk).status == JobStatus.SUCCESSFUL
