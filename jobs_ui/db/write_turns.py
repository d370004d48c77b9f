"""Turns at writing a SQLite file: jobs_ui's own frequent writers queue on a lock file beside it.

A writer waiting here sleeps in ``flock()`` and is woken the moment the writer before it is done.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import weakref
from collections.abc import Iterator
from typing import Any

from django.db import connections
from django.db.backends.sqlite3.creation import DatabaseCreation

if sys.platform != "win32":
    import fcntl

logger = logging.getLogger(__name__)

# Optimization: SQLite lets one connection write at a time, and a connection that finds
# the file locked sleeps in its busy handler (1, 2, 5, 10, 15 ms and on) before it looks
# again, however soon the lock was freed. Two worker processes draining short jobs met
# that on most claims and final writes, while the CPUs were free. A writer that waits
# here instead sleeps in flock() and is woken the moment the lock file is released.
# Nothing here changes what is written; every other writer still meets SQLite's lock.

# Appended to the database file's name.
SUFFIX = ".jobs_ui-writers"
# Where a connection keeps its lock file: (process id, file descriptor, path).
_ATTRIBUTE = "_jobs_ui_write_turn"


@contextlib.contextmanager
def write_turn(alias: str) -> Iterator[None]:
    """Hold the writers' lock of the SQLite file behind ``alias`` while the block runs."""
    # Only jobs_ui's own frequent writes take a turn (claims, final writes, progress, new
    # jobs, heartbeats), and only when they start their transaction themselves: inside a
    # caller's transaction, SQLite's lock may already be held, and waiting here for a
    # writer that waits for that lock would deadlock. Elsewhere (PostgreSQL, an in-memory
    # SQLite database, a platform without fcntl) a turn is nothing.
    connection = connections[alias]
    fd = _lock_file(connection) if connection.vendor == "sqlite" and not connection.in_atomic_block else None
    if fd is None:
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def database_file(connection: Any) -> str | None:
    """The absolute path of this SQLite connection's database; None when it has no file of its own."""
    return _absolute_file(str(connection.settings_dict["NAME"] or ""))


@functools.cache
def _absolute_file(name: str) -> str | None:
    # Optimization: looked up for every write turn and every wake-up sent.
    if sys.platform == "win32" or not name or name.startswith("file:") or DatabaseCreation.is_in_memory_db(name):
        return None
    return os.path.abspath(name)


def lock_path(connection: Any) -> str | None:
    """The lock file of this SQLite connection's database; None when it has no file of its own."""
    name = database_file(connection)
    return None if name is None else name + SUFFIX


def _lock_file(connection: Any) -> int | None:
    # A descriptor per connection (so per thread): flock() locks belong to an open file,
    # and two threads sharing one would both hold the lock. A forked process opens its
    # own for the same reason.
    path = lock_path(connection)
    if path is None:
        return None
    kept = getattr(connection, _ATTRIBUTE, None)
    if kept is not None and kept[0] == os.getpid() and kept[2] == path:
        fd: int | None = kept[1]
        return fd
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as e:
        logger.debug("No writers' lock for %s (%s): SQLite's lock alone applies", path, e)
        setattr(connection, _ATTRIBUTE, (os.getpid(), None, path))
        return None
    setattr(connection, _ATTRIBUTE, (os.getpid(), fd, path))
    # Closed with its connection, but left open at exit: what runs then (the publisher's
    # last marks) still takes its turn, and the process's end closes it.
    weakref.finalize(connection, os.close, fd).atexit = False
    return fd
