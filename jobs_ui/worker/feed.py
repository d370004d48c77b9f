"""What the two feeds of a worker share (``database_feed``, ``broker_feed``): their waits, and its slot offers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from jobs_ui.db import wakeups
from jobs_ui.db.assignment import SlotOffers
from jobs_ui.models import Job
from jobs_ui.worker.pools.base import BasePool

# Longest wait for a message; a signal or a freed slot ends it early.
BROKER_POLL = 0.5
# Pause after a database error, before the next claim.
DATABASE_BACKOFF = 1.0


class Fed(Protocol):
    """What a feed knows of the worker it feeds (``jobs_ui.worker.loop.Worker``)."""

    @property
    def id(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def queues(self) -> list[str]: ...
    @property
    def exclude_tasks(self) -> list[str]: ...
    @property
    def offers(self) -> SlotOffers | None: ...
    @property
    def pool(self) -> BasePool: ...
    @property
    def wakeup(self) -> threading.Event: ...
    @property
    def wakers(self) -> list[Callable[[], None]]: ...

    def taking(self) -> bool: ...
    def capacity(self) -> int: ...
    def free_slots(self) -> int: ...
    def submit(self, job: Job, claimed_at: float | None = None) -> bool: ...
    def assigned(self) -> tuple[str, Callable[[str], object]] | None: ...
    def has_finished(self) -> bool: ...


def keep_offers(worker: Fed, listener: wakeups.ReadyListener | None, *, took: bool, idle: bool) -> None:
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
