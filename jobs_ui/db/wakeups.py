"""A committed job wakes idle workers at once: PostgreSQL's ``LISTEN``/``NOTIFY``, and sockets on SQLite."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator

from django.db import DatabaseError, connections, transaction

from jobs_ui.db import socket_wakeups
from jobs_ui.db.sql import jobs_alias

logger = logging.getLogger(__name__)

CHANNEL = "jobs_ui_ready"
# Seconds between two checks of the stop flag while no notification arrives.
LISTEN_CHECK = 0.5
# Seconds before listening again after the connection failed.
LISTEN_RETRY = 2.0


def supported() -> bool:
    """Whether workers of this database can be woken (PostgreSQL with psycopg 3, or a SQLite file)."""
    connection = connections[jobs_alias()]
    if connection.vendor == "postgresql":
        from django.db.backends.postgresql.psycopg_any import is_psycopg3

        # psycopg 2 cannot wait for notifications with a timeout; its workers only poll.
        return bool(is_psycopg3)
    return connection.vendor == "sqlite" and socket_wakeups.folder(connection) is not None


def job_note(queue_name: str, job_id: object) -> str:
    """The note of a new job (what its INSERT sends on PostgreSQL): ``"queue id"``."""
    return f"{queue_name} {job_id}"


def notify_job(queue_name: str, job_id: object) -> None:
    """Tell listening workers of the new job ``job_id``: a ``NOTIFY``, sent when the transaction
    commits, as its INSERT would send it (PostgreSQL); a datagram, sent now, once the row is
    committed (SQLite). Never raises on SQLite."""
    connection = connections[jobs_alias()]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, job_note(queue_name, job_id)])
    elif connection.vendor == "sqlite":
        socket_wakeups.send(connection, [job_note(queue_name, job_id)])


def notify(queue_names: Iterable[str]) -> None:
    """Tell listening workers that jobs of ``queue_names`` are READY (once committed). Never raises."""
    names = sorted(set(queue_names))
    if not names:
        return
    alias = jobs_alias()
    connection = connections[alias]
    if connection.vendor == "sqlite":
        # Sent at once outside a transaction; inside one, once it commits (as NOTIFY is).
        transaction.on_commit(lambda: socket_wakeups.send(connection, names), using=alias)
        return
    if connection.vendor != "postgresql":
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, name) FROM unnest(%s::text[]) AS name", [CHANNEL, names])
    except DatabaseError:
        # The job is committed: a worker finds it at its next idle poll.
        logger.warning("Could not notify workers of new jobs in %s", ", ".join(names), exc_info=True)


class ReadyListener:
    """Calls ``wake()`` when a job of one of ``queue_names`` is READY; listens from a thread of its own.

    With ``on_job``, calls ``on_job(job_id)`` instead for a new job whose id came with it.
    With ``assigned=(worker_id, take)``, calls ``take(job_id)`` for a job given to that
    worker (``jobs_ui.db.assignment``); a job given to another worker is none of its business.
    A note is only ever a wake-up: anyone who can connect may send one, so the callbacks
    get ids, and what they run is read from the jobs table.
    Subclasses wait for the notes of their database in ``_listen()``.
    """

    def __init__(
        self,
        queue_names: Iterable[str],
        wake: Callable[[], None],
        on_job: Callable[[str], None] | None = None,
        assigned: tuple[str, Callable[[str], object]] | None = None,
    ) -> None:
        self.queue_names = frozenset(queue_names)
        self.listening = threading.Event()
        self._wake = wake
        self._on_job = on_job
        self._assigned = assigned
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="jobs_ui-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._interrupt()
        self._thread.join()

    def _interrupt(self) -> None:
        """End the wait for the next note early, if the database allows it."""

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._listen()
                except Exception:
                    # Never fatal: without notifications the worker still polls.
                    logger.warning("Stopped listening for new jobs; trying again", exc_info=True)
                    self.listening.clear()
                    self._stop.wait(LISTEN_RETRY)
        finally:
            # Those of this thread's callbacks (a job given to the worker is picked up here).
            connections.close_all()

    def _listen(self) -> None:
        raise NotImplementedError

    def _started(self) -> None:
        self.listening.set()
        # A job committed before listening began is found by this wake-up's claim.
        self._wake()

    def _deliver(self, payload: str) -> None:
        queue_name, _, job_id = payload.partition(" ")
        job_id, _, worker_id = job_id.partition(" ")
        if worker_id:
            # Whatever follows the worker's id is not ours to read.
            worker_id = worker_id.partition(" ")[0]
            if self._assigned is not None and worker_id == self._assigned[0]:
                self._assigned[1](job_id)
            return
        if queue_name not in self.queue_names:
            return
        if job_id and self._on_job is not None:
            self._on_job(job_id)
        else:
            self._wake()


class PostgresListener(ReadyListener):
    """``LISTEN`` on a connection of its own."""

    def _listen(self) -> None:
        # Outside Django's per-thread handler: it only waits.
        database = connections.create_connection(jobs_alias())
        try:
            database.ensure_connection()
            raw = database.connection
            raw.execute(f"LISTEN {CHANNEL}")
            self._started()
            while not self._stop.is_set():
                for note in raw.notifies(timeout=LISTEN_CHECK, stop_after=1):
                    self._deliver(note.payload)
        finally:
            database.close()


class SocketListener(ReadyListener):
    """A socket of its own beside the SQLite file (``jobs_ui.db.socket_wakeups``)."""

    _inbox: socket_wakeups.Inbox | None = None

    def _listen(self) -> None:
        path = socket_wakeups.folder(connections[jobs_alias()])
        if path is None:
            raise RuntimeError("This database has no folder for wake-up sockets")
        inbox = self._inbox = socket_wakeups.Inbox(path)
        try:
            self._started()
            while not self._stop.is_set():
                note = inbox.receive(LISTEN_CHECK)
                if note:
                    self._deliver(note)
                elif note is None and not inbox.reachable():
                    raise RuntimeError(f"The wake-up socket {inbox.path} was removed")
        finally:
            self._inbox = None
            inbox.close()

    def _interrupt(self) -> None:
        inbox = self._inbox
        if inbox is not None:
            inbox.interrupt()


@contextlib.contextmanager
def listening(
    queue_names: Iterable[str],
    wake: Callable[[], None],
    on_job: Callable[[str], None] | None = None,
    assigned: tuple[str, Callable[[str], object]] | None = None,
) -> Iterator[ReadyListener | None]:
    # Launching a worker job (or making one READY again) sends a note with the job's queue
    # name (and, for a new job, its id: ``"queue id"``) once its row is committed: on
    # PostgreSQL a ``NOTIFY``, on SQLite a datagram to each worker listening beside the
    # database file (``jobs_ui.db.socket_wakeups``). Without a broker, a worker that claims from
    # the database listens while it serves, so it does not wait for its next idle poll; the
    # idle poll stays: it finds delayed jobs once they are due, and anything a lost note
    # missed. With a broker, a worker with a free slot claims a notified new job by its id
    # before its message arrives (not one that excludes tasks: it waits for the messages).
    # Other databases have no such thing.
    """Call ``wake()`` for each job that becomes READY in ``queue_names`` meanwhile (PostgreSQL and SQLite).

    With ``on_job``, a new job whose notification names it calls ``on_job(job_id)`` instead;
    with ``assigned``, see ``ReadyListener``.
    """
    if not supported():
        yield None
        return
    kind = PostgresListener if connections[jobs_alias()].vendor == "postgresql" else SocketListener
    listener = kind(queue_names, wake, on_job, assigned)
    listener.start()
    try:
        yield listener
    finally:
        listener.stop()
