"""A job as the one watching it may see it, and who that is: what every poll and ``status.json`` start with."""

from __future__ import annotations

import functools
import uuid
from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import router
from django.db.models import Model
from django.http import Http404, HttpRequest

from jobs_ui.db.watched_read import WatchedColumns, read_watched
from jobs_ui.models import Job
from jobs_ui.views.viewer import Viewer, confirmed, owner_fields, session_owner, viewer_from_token

# What is read of a watched job: what decides the panel's ETag, who may see it, and what
# the panel and status.json show while it waits or runs. The rest (arguments, workspace,
# result, error history and traceback) is read when asked for.
POLLED_FIELDS = (
    "status",
    "attempts",
    "progress_at",
    "cancel_requested_at",
    "finished_at",
    "owner",
    "public",
    "task_path",
    "progress_done",
    "progress_total",
    "progress_message",
    "extra",
    "enqueued_at",
    "started_at",
    "error_class",
    "error_message",
    # Where it stands (jobs_ui.views.standing): its place in its queue, and its worker.
    "queue_name",
    "executor",
    "priority",
    "run_after",
    "worker_id",
    "max_attempts",
)
# And once it has finished: what its final panel shows.
FINISHED_FIELDS = ("result", "result_expires_at", "error_traceback")


def watched_job(request: HttpRequest, job_id: uuid.UUID, token: str | None = None) -> tuple[Viewer, Job]:
    """The job (``POLLED_FIELDS``, and ``FINISHED_FIELDS`` once finished) and its viewer, in one statement;
    Http404 if not theirs to see.

    Who is looking is, in this order: the owner, if the session is theirs and their row
    still lets it in (``session_owner()``); the user a panel's ``token`` was issued to,
    if not the owner and not staff; else Django's full check of ``request.user``.
    """
    alias = router.db_for_read(Job)
    session = _unread_database_session(request, alias)
    job, session_data = read_watched(alias, job_id, _watched_columns(), session)
    if job is None:
        raise Http404("No such job.")
    if session_data is not None:
        # What DatabaseSessionStore.load() returns, from the row read above: the session
        # keeps it as if it had loaded it itself, so it is not read again.
        request_session: Any = request.session
        request_session._session_cache = request_session.decode(session_data)
    viewer = session_owner(request, job)
    if viewer is None and token is not None:
        watcher = viewer_from_token(request, token)
        viewer = confirmed(request, watcher, job) if watcher is not None else None
    viewer = viewer or Viewer.from_request(request)
    if not viewer.can_see(job):
        raise Http404("No such job.")
    return viewer, job


@functools.cache
def _watched_columns() -> WatchedColumns:
    return WatchedColumns(POLLED_FIELDS, FINISHED_FIELDS, owner_fields())


def reset() -> None:
    """Forget what is read of a job's owner (the user model changed)."""
    owner_fields.cache_clear()
    _watched_columns.cache_clear()


def _unread_database_session(request: HttpRequest, alias: str) -> tuple[type[Model], str] | None:
    # Django's database sessions, not read yet, on the jobs' database: the model and key.
    session: Any = getattr(request, "session", None)
    if not isinstance(session, DatabaseSessionStore) or type(session).load is not DatabaseSessionStore.load:
        return None
    if hasattr(session, "_session_cache") or session.session_key is None:
        return None
    model = session.model
    if router.db_for_read(model) != alias:
        return None
    return model, session.session_key
