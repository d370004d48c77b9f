"""PostgreSQL ``LISTEN``/``NOTIFY``: a committed job wakes idle workers at once.

Launching a worker job (or making one READY again) sends ``NOTIFY`` with the job's
queue name (and, for a new job, its id: ``"queue id"``) once its row is committed.
Without a broker, a worker that claims from the database listens while it serves,
so it does not wait for its next idle poll; the idle poll stays: it finds delayed
jobs once they are due, and anything a lost notification missed. With a broker,
a worker with a free slot claims a notified new job by its id before its message
arrives (``NOTIFY_IDLE_WORKERS``). Other databases have no such thing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator

from django.db import DatabaseError, connections

from jobs_ui.statements import using

logger = logging.getLogger(__name__)

CHANNEL = "jobs_ui_ready"
# Seconds between two checks of the stop flag while no notification arrives.
LISTEN_CHECK = 0.5
# Seconds before listening again after the connection failed.
LISTEN_RETRY = 2.0


def supported() -> bool:
    return connections[using()].vendor == "postgresql"


def notify_job(queue_name: str, job_id: object) -> None:
    """Tell listening workers of the new job ``job_id`` (sent once committed), as its INSERT would."""
    with connections[using()].cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, f"{queue_name} {job_id}"])


def notify(queue_names: Iterable[str]) -> None:
    """Tell listening workers that jobs of ``queue_names`` are READY (sent once committed). Never raises."""
    names = sorted(set(queue_names))
    if not names or not supported():
        return
    try:
        with connections[using()].cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, name) FROM unnest(%s::text[]) AS name", [CHANNEL, names])
    except DatabaseError:
        # The job is committed: a worker finds it at its next idle poll.
        logger.warning("Could not notify workers of new jobs in %s", ", ".join(names), exc_info=True)


class ReadyListener:
    """Calls ``wake()`` when a job of one of ``queue_names`` is READY; listens from a thread of its own.

    With ``on_job``, calls ``on_job(job_id)`` instead for a new job whose id came with it.
    """

    def __init__(
        self, queue_names: Iterable[str], wake: Callable[[], None], on_job: Callable[[str], None] | None = None
    ) -> None:
        self.queue_names = frozenset(queue_names)
        self.listening = threading.Event()
        self._wake = wake
        self._on_job = on_job
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="jobs_ui-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception:
                # Never fatal: without notifications the worker still polls.
                logger.warning("Stopped listening for new jobs; trying again", exc_info=True)
                self.listening.clear()
                self._stop.wait(LISTEN_RETRY)

    def _listen(self) -> None:
        # A connection of its own, outside Django's per-thread handler: it only waits.
        database = connections.create_connection(using())
        try:
            database.ensure_connection()
            raw = database.connection
            raw.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            # A job committed before LISTEN took effect is found by this wake-up's claim.
            self._wake()
            while not self._stop.is_set():
                for note in raw.notifies(timeout=LISTEN_CHECK, stop_after=1):
                    queue_name, _, job_id = note.payload.partition(" ")
                    if queue_name not in self.queue_names:
                        continue
                    if job_id and self._on_job is not None:
                        self._on_job(job_id)
                    else:
                        self._wake()
        finally:
            database.close()


@contextlib.contextmanager
def listening(
    queue_names: Iterable[str], wake: Callable[[], None], on_job: Callable[[str], None] | None = None
) -> Iterator[ReadyListener | None]:
    """Call ``wake()`` for each job that becomes READY in ``queue_names`` meanwhile (PostgreSQL only).

    With ``on_job``, a new job whose notification names it calls ``on_job(job_id)`` instead.
    """
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    # psycopg 2 cannot wait for notifications with a timeout; its workers only poll.
    if not supported() or not is_psycopg3:
        yield None
        return
    listener = ReadyListener(queue_names, wake, on_job)
    listener.start()
    try:
        yield listener
    finally:
        listener.stop()
