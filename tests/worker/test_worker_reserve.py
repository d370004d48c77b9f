"""Thread and process pools of short jobs reserve claimed jobs; one that waits behind a long job goes back to READY."""

from __future__ import annotations

import os
import threading

import pytest
from django.db import connection, transaction

from jobs_ui.jobs.claim import claim_due
from jobs_ui.jobs.finish import hand_back
from jobs_ui.models import Job, JobStatus
from jobs_ui.worker.loop import Worker as WorkerLoop
from jobs_ui.worker.options import WorkerOptions
from jobs_ui.worker.pools import base
from jobs_ui.worker.pools.base import BasePool
from jobs_ui.worker.pools.processes import ProcessPool
from jobs_ui.worker.pools.threads import ThreadPool
from tests import tasks
from tests.waiting import wait_for_status, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def in_process(in_process, monkeypatch):
    # Short enough for a loaded test machine (each job here writes its outcome itself),
    # and below RESERVE_WAIT, which the long job always outlasts.
    monkeypatch.setattr(base, "SHORT_JOB", 0.15)


@pytest.fixture
def pool(in_process):
    pool = ThreadPool(1)
    pool.start()
    yield pool
    pool.close()


@pytest.fixture
def process_pool(in_process, monkeypatch):
    # The children run jobs against the test database, as a worker's children do.
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "tests.settings")
    monkeypatch.setenv("JOBS_UI_TEST_DB_NAME", str(connection.settings_dict["NAME"]))
    pool = ProcessPool(1)
    pool.start()
    yield pool
    pool.close()


def _open_reserve(pool: BasePool) -> None:
    def opened() -> bool:
        tasks.echo.enqueue("short")
        assert len(_claim_and_submit(pool, 1)) == 1
        assert pool.wait_idle(10)
        return bool(pool.free == 1 + base.RESERVE)

    wait_until(opened, what="short jobs to open the reserve")


def _claim_and_submit(pool: BasePool, limit: int) -> list[Job]:
    jobs = claim_due(executor="worker", worker_id="reserve-test", limit=limit)
    for job in jobs:
        pool.submit(job)
    return jobs


def test_the_reserve_opens_after_short_jobs_and_closes_after_a_long_one(pool, lines):
    assert pool.free == 1
    _open_reserve(pool)

    gated = tasks.wait_for_gate.enqueue("reserve")
    waiting = [tasks.append_line.enqueue(lines.path, name).id for name in ("a", "b")]
    claimed = _claim_and_submit(pool, 3)
    assert [str(job.pk) for job in claimed] == [str(gated.id), *map(str, waiting)]
    wait_until(lambda: Job.objects.filter(pk=gated.id, extra__waiting=True).exists(), what="the long job to run")
    # Once it has run longer than a short job, nothing more is claimed behind it.
    wait_until(lambda: pool.free == 0, what="the long job to close the reserve")

    # The two claimed behind the long job have not begun: enforce() hands them back.
    def handed_back() -> bool:
        pool.enforce()
        return Job.objects.filter(pk__in=waiting, status=JobStatus.READY).count() == 2

    wait_until(handed_back, what="the reserved jobs to go back to READY")
    for job in Job.objects.filter(pk__in=waiting):
        assert (job.attempts, job.max_attempts, job.worker_id) == (1, 2, "")
    # Running longer than a short job, it keeps the reserve closed: no room behind it.
    assert pool.free == 0

    tasks.gate("reserve").set()
    wait_for_status(gated.id, JobStatus.SUCCESSFUL)
    assert pool.wait_idle(10)
    # They never ran here, and the long job closed the reserve.
    assert lines.read() == []
    assert pool.free == 1


def test_jobs_reserved_behind_one_that_waited_too_long_go_back_with_it(pool, lines):
    _open_reserve(pool)
    gated = tasks.wait_for_gate.enqueue("behind")
    waiting = [tasks.append_line.enqueue(lines.path, name).id for name in ("a", "b")]
    claimed = _claim_and_submit(pool, 3)
    assert [str(job.pk) for job in claimed] == [str(gated.id), *map(str, waiting)]
    wait_until(lambda: Job.objects.filter(pk=gated.id, extra__waiting=True).exists(), what="the long job to run")
    # The first one waiting was reserved a minute ago, the second just now: it would run
    # before the first, claimed ahead of it, if it stayed.
    entry = pool._entry(claimed[1])
    assert entry is not None
    entry.started -= 60
    revoked = pool.revoke_waiting(30)
    assert [str(job.pk) for job in revoked] == list(map(str, waiting))
    assert all(hand_back(job) for job in revoked)
    tasks.gate("behind").set()
    wait_for_status(gated.id, JobStatus.SUCCESSFUL)
    assert pool.wait_idle(10)
    assert lines.read() == []
    assert set(Job.objects.filter(pk__in=waiting).values_list("status", flat=True)) == {JobStatus.READY}


def test_a_stopping_worker_hands_back_its_reserved_jobs_at_once(in_process, monkeypatch, lines):
    # Only the shutdown hands them back here, not the wait limit.
    monkeypatch.setattr(base, "RESERVE_WAIT", 600.0)
    # The long job does not close the reserve: the two behind it are claimed into the
    # reserve however late the feed gets to them (a busy machine, a job given to the worker
    # and started before the feed's claim).
    monkeypatch.setattr(base, "SHORT_JOB", 600.0)
    worker = WorkerLoop(WorkerOptions(concurrency=1))
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(worker.run()))
    thread.start()
    try:
        first = tasks.echo.enqueue("short")
        wait_for_status(first.id, JobStatus.SUCCESSFUL)
        wait_until(lambda: worker.pool.free == 1 + base.RESERVE, what="the reserve to open")
        with transaction.atomic():
            # First in claim order by its priority, before the two behind it.
            gated = tasks.wait_for_gate.using(priority=1).enqueue("stop-reserve")
            waiting = [tasks.append_line.enqueue(lines.path, name).id for name in ("a", "b")]
        wait_until(lambda: Job.objects.filter(pk=gated.id, extra__waiting=True).exists(), what="the long job to run")
        wait_until(
            lambda: Job.objects.filter(pk__in=waiting, status=JobStatus.RUNNING).count() == 2,
            what="both jobs reserved behind the long one",
        )
        worker.stop()
        wait_until(
            lambda: Job.objects.filter(pk__in=waiting, status=JobStatus.READY).count() == 2,
            what="the reserved jobs to go back to READY",
        )
        assert Job.objects.get(pk=gated.id).status == JobStatus.RUNNING
    finally:
        # A failed check must not leave the worker running into the next tests.
        worker.stop()
        tasks.gate("stop-reserve").set()
        thread.join(30)
    assert codes == [0]
    assert Job.objects.get(pk=gated.id).status == JobStatus.SUCCESSFUL
    assert lines.read() == []


def test_the_process_pool_runs_reserved_jobs_in_claim_order(process_pool, lines):
    assert process_pool.free == 1
    _open_reserve(process_pool)
    names = ["a", "b", "c", "d"]
    jobs = [tasks.append_line.enqueue(lines.path, name).id for name in names]
    # One child: one job runs, three wait in the pool for it.
    assert [str(job.pk) for job in _claim_and_submit(process_pool, 4)] == [str(job_id) for job_id in jobs]
    assert process_pool.wait_idle(10)
    assert lines.read()[-4:] == names
    assert set(Job.objects.filter(pk__in=jobs).values_list("status", "attempts")) == {(JobStatus.SUCCESSFUL, 1)}


def test_the_process_pool_hands_back_jobs_reserved_behind_a_long_one(process_pool, lines, tmp_path):
    gate = str(tmp_path / "gate")
    _open_reserve(process_pool)
    before = len(lines.read())
    long = tasks.append_when_file_exists.enqueue(lines.path, "long", gate)
    waiting = [tasks.append_line.enqueue(lines.path, name).id for name in ("a", "b")]
    assert len(_claim_and_submit(process_pool, 3)) == 3
    wait_until(lambda: len(lines.read()) > before, what="the long job to start")
    started, pid = lines.read()[before].rsplit(" ", 1)
    assert (started, pid != str(os.getpid())) == ("start 1", True)  # in the child

    def handed_back() -> bool:
        process_pool.enforce()
        return Job.objects.filter(pk__in=waiting, status=JobStatus.READY).count() == 2

    wait_until(handed_back, what="the reserved jobs to go back to READY")
    wait_until(lambda: process_pool.free == 0, what="the long job to close the reserve")
    open(gate, "w").close()
    wait_for_status(long.id, JobStatus.SUCCESSFUL)
    assert process_pool.wait_idle(10)
    # The two handed back never ran here.
    assert lines.read()[before + 1 :] == ["long"]
