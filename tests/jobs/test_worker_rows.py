"""A worker's row: registered, beating, stopping and stopped, each in one statement and only that worker's."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs_ui.jobs import worker_rows
from jobs_ui.models import Worker, WorkerKind, WorkerState

pytestmark = pytest.mark.django_db

AN_HOUR_AGO = timedelta(hours=1)


@pytest.fixture
def rows():
    """Two registered workers, their heartbeat an hour old; yields the first one's id. The second must not change."""
    worker_rows.register("w1", WorkerKind.PROCESS, label="first", concurrency=2)
    worker_rows.register("w2", WorkerKind.PROCESS, label="second", concurrency=2)
    Worker.objects.update(heartbeat_at=timezone.now() - AN_HOUR_AGO)
    other = Worker.objects.values().get(pk="w2")
    yield "w1"
    assert Worker.objects.values().get(pk="w2") == other


def test_register_adds_an_online_row_of_this_process(django_assert_num_queries):
    with django_assert_num_queries(1):
        worker_rows.register("w", WorkerKind.PROCESS, label="busy", concurrency=4, queues=["a", "b"], pool="process")
    row = Worker.objects.get(pk="w")
    assert (row.label, row.host, row.pid, row.kind) == ("busy", socket.gethostname(), os.getpid(), WorkerKind.PROCESS)
    assert (row.queues, row.concurrency, row.pool) == (["a", "b"], 4, "process")
    assert row.state == WorkerState.ONLINE
    assert row.started_at is not None
    assert row.heartbeat_at is not None
    assert row.stopped_at is None


def test_register_a_thread_pool_without_queues_or_pool_and_a_long_label_cut():
    worker_rows.register("t", WorkerKind.THREAD, label="x" * 300, concurrency=3)
    row = Worker.objects.get(pk="t")
    assert (row.kind, row.label, row.queues, row.pool) == (WorkerKind.THREAD, "x" * 200, [], "")


def test_beat_renews_the_heartbeat_and_leaves_the_state(rows, django_assert_num_queries):
    Worker.objects.filter(pk=rows).update(state=WorkerState.STOPPING)
    with django_assert_num_queries(1):
        worker_rows.beat(rows)
    row = Worker.objects.get(pk=rows)
    assert row.heartbeat_at > timezone.now() - AN_HOUR_AGO / 2
    assert row.state == WorkerState.STOPPING


def test_beat_with_a_state_writes_both(rows, django_assert_num_queries):
    with django_assert_num_queries(1):
        worker_rows.beat(rows, WorkerState.STOPPING)
    row = Worker.objects.get(pk=rows)
    assert row.heartbeat_at > timezone.now() - AN_HOUR_AGO / 2
    assert row.state == WorkerState.STOPPING


def test_set_state_leaves_the_heartbeat(rows, django_assert_num_queries):
    before = Worker.objects.get(pk=rows).heartbeat_at
    with django_assert_num_queries(1):
        worker_rows.set_state(rows, WorkerState.STOPPING)
    row = Worker.objects.get(pk=rows)
    assert (row.state, row.heartbeat_at, row.stopped_at) == (WorkerState.STOPPING, before, None)


def test_stopped_writes_the_state_and_when_which_is_also_the_last_heartbeat(rows, django_assert_num_queries):
    before = Worker.objects.get(pk=rows).heartbeat_at
    with django_assert_num_queries(1):
        worker_rows.stopped(rows)
    row = Worker.objects.get(pk=rows)
    assert row.state == WorkerState.STOPPED
    assert row.stopped_at is not None
    assert row.stopped_at > before
    assert row.heartbeat_at == row.stopped_at


def test_stopped_as_crashed(rows):
    worker_rows.stopped(rows, WorkerState.CRASHED)
    assert Worker.objects.get(pk=rows).state == WorkerState.CRASHED
