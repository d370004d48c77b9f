"""SQLite writers of jobs_ui take turns on a lock file: one at a time, across threads and processes."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading

import pytest
from django.db import connection, transaction

from jobs_ui.db import write_turns
from jobs_ui.models import Job
from tests import tasks

pytestmark = pytest.mark.django_db(transaction=True)

sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="Only SQLite writers take turns")

# Exits 0 if it got the lock at once, 1 if someone holds it.
TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(1)
"""


def lock_is_free() -> bool:
    path = write_turns.lock_path(connection)
    assert path is not None
    return subprocess.run([sys.executable, "-c", TRY_LOCK, path], check=False).returncode == 0


@sqlite_only
def test_a_turn_excludes_other_processes_until_it_ends():
    with write_turns.write_turn("default"):
        assert not lock_is_free()
    assert lock_is_free()


@sqlite_only
def test_inside_a_transaction_no_turn_is_taken():
    # The caller's transaction may hold SQLite's lock already: waiting for a turn could deadlock.
    with transaction.atomic(), write_turns.write_turn("default"):
        assert lock_is_free()


@sqlite_only
def test_a_new_job_waits_for_the_writer_holding_the_lock():
    path = write_turns.lock_path(connection)
    assert path is not None
    holder = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    done = threading.Event()

    def launch() -> None:
        try:
            tasks.on_worker.enqueue()
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=launch)
    thread.start()
    try:
        assert not done.wait(0.5), "the launch wrote while another writer held the lock"
        assert not Job.objects.exists()
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
    assert done.wait(30)
    thread.join()
    assert Job.objects.count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")
def test_on_postgresql_a_turn_is_nothing():
    with write_turns.write_turn("default"):
        assert not hasattr(connection, "_jobs_ui_write_turn")
