"""The row of a worker (a worker process, or a web process's thread pool): register, beat, state, stopped.

Each write is one statement, its times by the database's clock. The row's job counts are
kept by ``jobs_ui.jobs.finish``; ``jobs_ui.jobs.recover`` marks silent workers LOST.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

from django.db.models.functions import Now

from jobs_ui.models import Worker, WorkerKind, WorkerState


def register(
    worker_id: str,
    kind: WorkerKind,
    *,
    label: str,
    concurrency: int,
    queues: Sequence[str] = (),
    pool: str = "",
) -> None:
    """Add the row of a worker of this process: ONLINE, started and heartbeating now."""
    Worker.objects.create(
        id=worker_id,
        label=label[:200],
        host=socket.gethostname(),
        pid=os.getpid(),
        kind=kind,
        queues=list(queues),
        concurrency=concurrency,
        pool=pool,
    )


def beat(worker_id: str, state: WorkerState | None = None) -> None:
    """The worker is alive: its heartbeat is now, and its state ``state`` when given."""
    fields = {"heartbeat_at": Now()} if state is None else {"heartbeat_at": Now(), "state": state}
    Worker.objects.filter(pk=worker_id).update(**fields)


def set_state(worker_id: str, state: WorkerState) -> None:
    """The worker is ``state`` now (STOPPING while it drains)."""
    Worker.objects.filter(pk=worker_id).update(state=state)


def stopped(worker_id: str, state: WorkerState = WorkerState.STOPPED) -> None:
    """The worker stopped now, ``state`` (STOPPED, or CRASHED): its last heartbeat too."""
    Worker.objects.filter(pk=worker_id).update(state=state, stopped_at=Now(), heartbeat_at=Now())
