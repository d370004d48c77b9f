"""A row kept locked by another database session, as by a worker frozen inside a transaction."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from django.db import connections, transaction

from jobs_ui.models import Job


@contextlib.contextmanager
def row_locked_elsewhere(job_id: Any) -> Iterator[None]:
    """Hold ``SELECT ... FOR UPDATE`` on the job's row in another thread's session until the block ends."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Job.objects.select_for_update().get(pk=job_id)
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10), "the other session did not get the lock"
        yield
    finally:
        release.set()
        holder.join(30)
