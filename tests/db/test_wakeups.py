"""Without a broker, a committed job wakes idle workers at once (LISTEN/NOTIFY on PostgreSQL, sockets on SQLite)."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

import jobs_ui
from jobs_ui.db import socket_wakeups, wakeups
from jobs_ui.models import Job, JobStatus, Worker, WorkerState
from tests import tasks
from tests.waiting import wait_for_status, wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor not in ("postgresql", "sqlite"), reason="Only PostgreSQL and SQLite wake workers"
    ),
]
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's")
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="Wake-up sockets are SQLite's")


class Wakes:
    """Counts a listener's wake-ups."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = threading.Condition()

    def __call__(self) -> None:
        with self._changed:
            self.count += 1
            self._changed.notify_all()

    def wait_for(self, n: int, timeout: float = 10.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.count >= n, timeout)


@pytest.fixture
def wakes():
    """Wake-ups of a listener on the queues "default" and "marker", counted once it listens."""
    counter = Wakes()
    with wakeups.listening(["default", "marker"], counter) as listener:
        assert listener is not None
        wait_until(listener.listening.is_set, what="the listener to listen")
        # Listening starts with one wake-up, for jobs committed before.
        assert counter.wait_for(1)
        counter.count = 0
        yield counter


def send_marker() -> None:
    # Notes from one session (PostgreSQL) or one process (SQLite) arrive in the order sent:
    # once the marker's wake-up is counted, every note sent before it has been seen.
    wakeups.notify(["marker"])


def test_a_committed_job_wakes_listeners_of_its_queue(on_workers, wakes):
    tasks.append_line.enqueue("/dev/null", "x")
    assert wakes.wait_for(1)


def test_bulk_creation_wakes_once_per_queue(on_workers, wakes):
    jobs_ui.enqueue_many(tasks.append_line, [["/dev/null", "a"], ["/dev/null", "b"]])
    send_marker()
    assert wakes.wait_for(2)
    assert wakes.count == 2


def test_jobs_of_other_queues_do_not_wake(on_workers, wakes):
    tasks.append_line.using(queue_name="other").enqueue("/dev/null", "x")
    send_marker()
    assert wakes.wait_for(1)
    assert wakes.count == 1


def test_no_wake_up_for_a_launch_that_rolls_back(on_workers, wakes):
    with transaction.atomic():
        tasks.append_line.enqueue("/dev/null", "x")
        transaction.set_rollback(True)
    assert Job.objects.count() == 0
    send_marker()
    assert wakes.wait_for(1)
    assert wakes.count == 1


def test_an_idle_worker_takes_a_new_job_long_before_its_next_poll(settings, start_worker, lines):
    settings.JOBS_UI = {**settings.JOBS_UI, "WORKER_IDLE_POLL": 300.0}
    worker = start_worker("--max-jobs", "2")
    wait_until(lambda: Worker.objects.filter(state=WorkerState.ONLINE).exists(), what="the worker to register")
    first = tasks.append_line.enqueue(lines.path, "first")
    wait_for_status(first.id, JobStatus.SUCCESSFUL, timeout=30)
    # The worker now waits for its next poll, five minutes away: only the notification can wake it.
    second = tasks.append_line.enqueue(lines.path, "second")
    wait_for_status(second.id, JobStatus.SUCCESSFUL, timeout=30)
    assert worker.wait() == 0
    assert lines.read() == ["first", "second"]


def listening_backends() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = %s",
            [f"LISTEN {wakeups.CHANNEL}"],
        )
        return [pid for (pid,) in cursor.fetchall()]


@postgresql_only
def test_the_listener_listens_again_after_losing_its_connection(on_workers, wakes, caplog):
    (lost,) = wait_until(listening_backends, what="the listener's database session")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [lost])
    wait_until(lambda: [pid for pid in listening_backends() if pid != lost], what="a new listening session")
    assert "Stopped listening for new jobs" in caplog.text
    # Listening again starts with a wake-up, as the first time.
    assert wakes.wait_for(1)
    wakes.count = 0
    tasks.append_line.enqueue("/dev/null", "x")
    assert wakes.wait_for(1)


def wake_up_sockets() -> list[str]:
    path = socket_wakeups.folder(connection)
    assert path is not None
    try:
        return sorted(entry.path for entry in os.scandir(path) if entry.name.endswith(socket_wakeups.SOCKET_SUFFIX))
    except FileNotFoundError:
        return []


@sqlite_only
def test_the_listener_binds_again_when_its_socket_is_removed(on_workers, wakes, caplog):
    (lost,) = wait_until(wake_up_sockets, what="the listener's socket")
    os.unlink(lost)
    wait_until(lambda: [path for path in wake_up_sockets() if path != lost], what="a new socket", timeout=15)
    assert "Stopped listening for new jobs" in caplog.text
    assert wakes.wait_for(1)
    wakes.count = 0
    tasks.append_line.enqueue("/dev/null", "x")
    assert wakes.wait_for(1)


@sqlite_only
def test_a_socket_left_by_a_killed_worker_is_removed_by_the_next_sender(on_workers, wakes):
    path = socket_wakeups.folder(connection)
    assert path is not None
    stale = os.path.join(path, f"1-deadbeef{socket_wakeups.SOCKET_SUFFIX}")
    # A bound socket closed without removing its file, as after kill -9.
    left = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    left.bind(stale)
    left.close()
    tasks.append_line.enqueue("/dev/null", "x")
    assert wakes.wait_for(1)
    assert not os.path.exists(stale)
    assert len(wake_up_sockets()) == 1


@sqlite_only
def test_a_stopped_listener_removes_its_socket(on_workers):
    with wakeups.listening(["default"], lambda: None) as listener:
        assert listener is not None
        wait_until(listener.listening.is_set, what="the listener to listen")
        assert len(wake_up_sockets()) == 1
    assert wake_up_sockets() == []


@sqlite_only
def test_a_full_socket_is_skipped_without_waiting(on_workers):
    path = socket_wakeups.folder(connection)
    assert path is not None
    # Nobody reads this one: once its queue of datagrams is full, senders skip it.
    inbox = socket_wakeups.Inbox(path)
    try:
        sent = sum(socket_wakeups.send(connection, [f"default {i}"]) for i in range(200))
        assert 0 < sent < 200
        received = []
        while (note := inbox.receive(0.01)) is not None:
            received.append(note)
        assert received == [f"default {i}" for i in range(sent)]
    finally:
        inbox.close()
    assert wake_up_sockets() == []


def test_a_note_gives_the_listener_ids_only():
    woken: list[int] = []
    claimed: list[str] = []
    taken: list[str] = []
    listener = wakeups.ReadyListener(["default"], lambda: woken.append(1), claimed.append, ("worker-a", taken.append))
    row = json.dumps({"id": "made-up", "task_path": "tests.tasks.append_line", "args": ["/tmp/x", "forged"]})
    listener._deliver(f"default {uuid.UUID(int=1)} worker-a {row}")
    listener._deliver(f"default {uuid.UUID(int=2)} worker-b")
    listener._deliver(f"default {uuid.UUID(int=3)}")
    listener._deliver(f"other {uuid.UUID(int=4)}")
    listener._deliver("default")
    assert taken == [str(uuid.UUID(int=1))]
    assert claimed == [str(uuid.UUID(int=3))]
    assert woken == [1]


def send_note(text: str) -> None:
    """A note as anyone who can reach the database could send it (a NOTIFY, or a datagram on SQLite)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [wakeups.CHANNEL, text])
    else:
        assert socket_wakeups.send(connection, [text]) == 1


def test_a_worker_runs_only_what_it_reads_from_the_jobs_table(worker_mode, start_worker, lines):
    worker = start_worker("--concurrency", "2")
    row = wait_until(lambda: Worker.objects.filter(state=WorkerState.ONLINE).first(), what="the worker to register")
    assert row is not None
    wait_until(listening_backends if connection.vendor == "postgresql" else wake_up_sockets, what="it to listen")
    waiting = tasks.append_line.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(lines.path, "waiting")
    before = Job.objects.filter(pk=waiting.id).values().get()
    made_up = uuid.uuid4()
    forged = json.dumps({"id": str(made_up), "task_path": "tests.tasks.append_line", "args": [lines.path, "forged"]})
    for note in [
        f"default {made_up} {row.id} {forged}",
        f"default {waiting.id} {row.id}",
        f"default {waiting.id}",
        f"default {made_up}",
        "default",
    ]:
        send_note(note)
    # Sent after the forged notes, from the same session or process: it arrives after them.
    real = tasks.append_line.enqueue(lines.path, "real")
    wait_for_status(real.id, JobStatus.SUCCESSFUL, timeout=30)
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert lines.read() == ["real"]
    assert Job.objects.filter(pk=waiting.id).values().get() == before
    assert not Job.objects.filter(pk=made_up).exists()
