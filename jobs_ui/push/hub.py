"""Which jobs the sockets of this process watch, and telling them that one changed.

An event names a job; it is only a hint. A socket told of a change reads the job's row again
and sends what it reads (``jobs_ui.consumers``). The bridges (``jobs_ui.push.bridges``) bring
the hints from other processes: RabbitMQ's event exchange, or PostgreSQL's NOTIFY; events of
this process (thread jobs) come straight from ``jobs_ui.events``.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable

from jobs_ui import events

logger = logging.getLogger(__name__)

Changed = Callable[[], None]
"""Called, from any thread, when the watched job may have changed; must not block."""

# What a listener (a bridge) is told when the first socket watching every job comes, or the last goes.
ALL = "*"

_watchers: defaultdict[str, set[Changed]] = defaultdict(set)
_all_watchers: set[Changed] = set()
_lock = threading.Lock()
_listeners: list[Callable[[str, bool], None]] = []
_unsubscribe: Callable[[], None] | None = None


def watch(job_id: str, changed: Changed) -> Callable[[], None]:
    """Call ``changed`` whenever job ``job_id`` may have changed; returns the function that stops it."""
    global _unsubscribe
    with _lock:
        first = not _watchers[job_id]
        _watchers[job_id].add(changed)
        listeners = list(_listeners)
        if _unsubscribe is None:
            _unsubscribe = events.subscribe(_on_local_event)
    if first:
        for listener in listeners:
            listener(job_id, True)

    def unwatch() -> None:
        with _lock:
            watchers = _watchers.get(job_id)
            if watchers is None or changed not in watchers:
                return
            watchers.discard(changed)
            last = not watchers
            if last:
                del _watchers[job_id]
            listeners = list(_listeners)
        if last:
            for listener in listeners:
                listener(job_id, False)

    return unwatch


def watch_all(changed: Changed) -> Callable[[], None]:
    """Call ``changed`` whenever any job may have changed (the staff dashboard); returns the function that stops it."""
    global _unsubscribe
    with _lock:
        first = not _all_watchers
        _all_watchers.add(changed)
        listeners = list(_listeners)
        if _unsubscribe is None:
            _unsubscribe = events.subscribe(_on_local_event)
    if first:
        for listener in listeners:
            listener(ALL, True)

    def unwatch() -> None:
        with _lock:
            if changed not in _all_watchers:
                return
            _all_watchers.discard(changed)
            last = not _all_watchers
            listeners = list(_listeners)
        if last:
            for listener in listeners:
                listener(ALL, False)

    return unwatch


def watched() -> list[str]:
    """The ids of the jobs watched now, and ``ALL`` while some socket watches every job."""
    with _lock:
        return [*_watchers, *([ALL] if _all_watchers else [])]


def changed(job_id: str) -> None:
    """Tell the sockets watching ``job_id`` (or every job; ``ALL``: only those) that it may have changed."""
    with _lock:
        watchers = [*_watchers.get(job_id, ()), *_all_watchers]
    for callback in watchers:
        try:
            callback()
        except Exception:
            logger.exception("A watcher of job %s failed", job_id)


def changed_all() -> None:
    """Tell every socket that its job may have changed (events may have been missed: a bridge reconnected)."""
    for job_id in watched():
        changed(job_id)


def on_watch(listener: Callable[[str, bool], None]) -> Callable[[], None]:
    """Call ``listener(job_id, True)`` when a job starts being watched, ``(job_id, False)`` when no longer."""
    with _lock:
        _listeners.append(listener)

    def remove() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return remove


def _on_local_event(event: events.JobEvent) -> None:
    changed(event.job_id)


def reset() -> None:
    """Forget every watcher and listener (tests)."""
    global _unsubscribe
    with _lock:
        _watchers.clear()
        _all_watchers.clear()
        _listeners.clear()
        unsubscribe, _unsubscribe = _unsubscribe, None
    if unsubscribe is not None:
        unsubscribe()
