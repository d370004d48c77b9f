"""What the two feeds of a worker share (``database_feed``, ``broker_feed``): their waits, and its slot offers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs_ui.db import wakeups

if TYPE_CHECKING:
    from jobs_ui.worker.loop import Worker

# Longest wait for a message; a signal or a freed slot ends it early.
BROKER_POLL = 0.5
# Pause after a database error, before the next claim.
DATABASE_BACKOFF = 1.0


def keep_offers(worker: Worker, listener: wakeups.ReadyListener | None, *, took: bool, idle: bool) -> None:
    """Keep the worker's offers of free slots (``jobs_ui.db.assignment``) in step with its feed.

    Withdrawn when the feed took jobs (the queue has more, which come first); the free
    slots offered when it found nothing, while the listener hears what is given to it.
    """
    offers = worker.offers
    if offers is None:
        return
    if took:
        offers.busy()
    elif idle and listener is not None and listener.listening.is_set():
        offers.sync(worker.free_slots())
