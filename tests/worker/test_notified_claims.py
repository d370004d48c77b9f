"""With RabbitMQ: an idle worker claims a new job on its notification (NOTIFY, or a datagram on SQLite), and drops the message that follows.

On PostgreSQL, those are the new jobs that took no free slot of an idle worker in their INSERT
(tests/db/test_assignment.py): here, jobs delayed by run_after, which never do.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone

from jobs_ui.broker import publisher
from jobs_ui.broker.messages import JobMessage
from jobs_ui.db import wakeups
from jobs_ui.jobs import claim
from jobs_ui.models import Job, JobStatus, Worker, WorkerSlot, WorkerState
from jobs_ui.worker import broker_feed, message_claims
from jobs_ui.worker.loop import Worker as WorkerLoop
from jobs_ui.worker.options import WorkerOptions
from tests import tasks
from tests.waiting import wait_for_status, wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.rabbitmq,
    pytest.mark.skipif(
        connection.vendor not in ("postgresql", "sqlite"), reason="Only PostgreSQL and SQLite notify workers"
    ),
]


class Seen:
    """What the worker's broker feed did: each claim's (job id, attempts, task path), the messages it received, and the notifications."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.claims: list[tuple[Any, Any, Any]] = []
        self.messages: list[Any] = []
        self.notes: list[str] = []
        self._lock = threading.Lock()
        real_claim, real_claim_due, real_handle = claim.claim_wanted, claim.claim_due, broker_feed.BrokerFeed.handle
        real_notified = broker_feed.BrokerFeed._notified

        def claim_wanted(worker_id: str, wanted: list[Any]) -> list[Job]:
            with self._lock:
                self.claims.extend(wanted)
            return real_claim(worker_id, wanted)

        def claim_due(**options: Any) -> list[Job]:
            # A message claims what comes first in its queue: recorded as what each claimed row was.
            jobs = real_claim_due(**options)
            with self._lock:
                self.claims.extend((job.pk, job.attempts - 1, job.task_path) for job in jobs)
            return jobs

        def handle(feed: broker_feed.BrokerFeed, deliveries: list[Any]) -> int:
            started = real_handle(feed, deliveries)
            with self._lock:
                self.messages.extend(JobMessage.decode(delivery.body).job_id for delivery in deliveries)
            return started

        def notified(feed: broker_feed.BrokerFeed, job_id: str) -> None:
            real_notified(feed, job_id)
            with self._lock:
                self.notes.append(job_id)

        monkeypatch.setattr(broker_feed, "claim_wanted", claim_wanted)
        monkeypatch.setattr(message_claims, "claim_wanted", claim_wanted)
        monkeypatch.setattr(message_claims, "claim_due", claim_due)
        monkeypatch.setattr(broker_feed.BrokerFeed, "handle", handle)
        monkeypatch.setattr(broker_feed.BrokerFeed, "_notified", notified)

    def received(self, job_id: Any) -> bool:
        with self._lock:
            return str(job_id) in [str(message) for message in self.messages]

    def noted(self, job_id: Any) -> bool:
        with self._lock:
            return str(job_id) in self.notes

    def claims_of(self, job_id: Any) -> list[tuple[Any, Any, Any]]:
        with self._lock:
            return [claim for claim in self.claims if str(claim[0]) == str(job_id)]


@pytest.fixture
def broker_worker(in_process, amqp_settings, monkeypatch):
    """A worker loop on RabbitMQ in a thread of this process, listening for new jobs; yields it and what it saw."""
    seen = Seen(monkeypatch)
    listeners: list[wakeups.ReadyListener] = []
    real_start = wakeups.ReadyListener.start

    def start(listener: wakeups.ReadyListener) -> None:
        listeners.append(listener)
        real_start(listener)

    monkeypatch.setattr(wakeups.ReadyListener, "start", start)
    worker = WorkerLoop(WorkerOptions(concurrency=2))
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_until(lambda: listeners and listeners[0].listening.is_set(), what="the worker to listen")
        yield worker, seen
    finally:
        worker.stop()
        thread.join(30)
    assert not thread.is_alive()


@pytest.fixture
def late_messages(monkeypatch):
    """Each new job's message is handed to the publisher only once the job is RUNNING."""
    real_submit = publisher.submit

    def submit(message: Any) -> None:
        def later() -> None:
            try:
                wait_until(
                    lambda: Job.objects.filter(pk=message.job_id).exclude(status=JobStatus.READY).exists(),
                    what="the job to be claimed without its message",
                )
            finally:
                connections.close_all()
            real_submit(message)

        threading.Thread(target=later, daemon=True).start()

    monkeypatch.setattr(publisher, "submit", submit)


def test_a_new_job_is_claimed_on_its_notification_and_its_message_dropped(broker_worker, late_messages):
    worker, seen = broker_worker
    if connection.vendor == "postgresql":
        wait_until(
            lambda: WorkerSlot.objects.filter(worker_id=worker.id, queue_name="default").count() == 2,
            what="two offered slots",
        )
    for i in range(3):
        # Delayed by run_after, and due at once: its INSERT takes no offered slot.
        result = tasks.echo.using(run_after=timezone.now()).enqueue(f"job {i}")
        wait_for_status(result.id, JobStatus.SUCCESSFUL)
        wait_until(partial(seen.received, result.id), what="the job's message")
        # One claim, by id alone (the notification names no task); the message claimed nothing.
        claims = seen.claims_of(result.id)
        assert [claim[1:] for claim in claims] == [(0, None)]
        wait_until(lambda: worker.pool.idle, what="the slot to free")
    assert Job.objects.filter(status=JobStatus.SUCCESSFUL, attempts=1).count() == 3


def test_a_busy_worker_leaves_a_new_job_to_its_message(in_process, amqp_settings, monkeypatch):
    seen = Seen(monkeypatch)
    worker = WorkerLoop(WorkerOptions(concurrency=1))
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        tasks.wait_for_gate.enqueue("busy")
        wait_until(lambda: worker.capacity() == 0, what="the only slot to fill")
        # No free slot, so none offered: the new job is READY in its queue, and notified.
        result = tasks.echo.enqueue("by message")
        # Notified while no slot was free: the notification claims nothing, the message waits for the slot.
        wait_until(partial(seen.noted, result.id), what="the job's notification")
        assert seen.claims_of(result.id) == []
        tasks.gate("busy").set()
        wait_for_status(result.id, JobStatus.SUCCESSFUL)
        [(job_id, attempts, task_path)] = seen.claims_of(result.id)
        assert (attempts, task_path) == (0, "tests.tasks.echo")
    finally:
        tasks.gate("busy").set()
        worker.stop()
        thread.join(30)


def test_a_worker_that_excludes_tasks_waits_for_messages(in_process, amqp_settings, monkeypatch):
    seen = Seen(monkeypatch)
    worker = WorkerLoop(WorkerOptions(concurrency=2, exclude_tasks=("tests.tasks.add",)))
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        result = tasks.echo.enqueue("by message")
        wait_for_status(result.id, JobStatus.SUCCESSFUL)
        assert [claim[2] for claim in seen.claims_of(result.id)] == ["tests.tasks.echo"]
    finally:
        worker.stop()
        thread.join(30)


def test_idle_workers_racing_for_notified_jobs_run_each_once(amqp_settings, start_worker, lines):
    workers = [start_worker("--concurrency", "2") for _ in range(3)]
    wait_until(lambda: Job.objects.count() == 0 and _online() == 3, what="three workers online")
    # Delayed by run_after, so each new job goes to no worker in its INSERT: every idle worker claims it.
    ids = [tasks.append_line.using(run_after=timezone.now()).enqueue(lines.path, f"job {i}").id for i in range(60)]
    for job_id in ids:
        wait_for_status(job_id, JobStatus.SUCCESSFUL)
    assert sorted(lines.read()) == sorted(f"job {i}" for i in range(60))
    assert Job.objects.filter(pk__in=ids, attempts=1).count() == 60
    for worker in workers:
        worker.signal(15)
        assert worker.wait(60) == 0, worker.output()


def _online() -> int:
    return Worker.objects.filter(state=WorkerState.ONLINE).count()
