""" "Your job is done", wherever the user is: one socket per tab watches the user's unfinished jobs and
sends a toast when one finishes; a poll of the user's jobs finished since the page loaded is the fallback.

``{% jobs_ui_notifications %}`` in a project's base template puts the toasts' region on every page.
The browser drops a toast for a job whose panel is on screen (jobs_ui.js).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from jobs_ui.conf import get_config
from jobs_ui.models import Job, JobStatus
from jobs_ui.push import bridges, hub
from jobs_ui.push.coalesce import Coalesced
from jobs_ui.views.panel import task_label

TOASTS_TEMPLATE = "jobs_ui/includes/toasts.html"
# The unfinished jobs of one user a tab watches (the newest); more are told by the next read.
WATCHED_MAX = 100
# Seconds between two reads of the user's unfinished jobs, for those launched since (any process).
RESYNC_SECONDS = 2.0
# Seconds between two polls of a tab whose socket is down.
POLL_SECONDS = 5.0
CLOSE_SIGN_IN = 4403


def toast_text(job: Job) -> str:
    label = task_label(job)
    if job.status == JobStatus.SUCCESSFUL:
        return _("%(task)s finished") % {"task": label}
    if job.status == JobStatus.FAILED:
        return _("%(task)s failed") % {"task": label}
    return _("%(task)s was cancelled") % {"task": label}


def render_toasts(jobs: list[Job]) -> str:
    """The toasts of ``jobs``, as an out-of-band addition to the region (what a push or a poll brings)."""
    toasts = [{"job": job, "text": toast_text(job)} for job in jobs]
    return render_to_string(TOASTS_TEMPLATE, {"toasts": toasts})


def finished_since(user_id: Any, since: datetime) -> list[Job]:
    """The user's jobs that finished after ``since``, oldest first (at most ``WATCHED_MAX``)."""
    jobs = Job.objects.filter(owner_id=user_id, finished_at__gt=since).order_by("finished_at")
    return list(jobs.only("id", "task_path", "status", "finished_at")[:WATCHED_MAX])


def _since(query_string: bytes) -> datetime | None:
    values = parse_qs(query_string.decode("latin-1")).get("since")
    try:
        since = datetime.fromisoformat(values[0]) if values else None
    except ValueError:
        return None
    return since if since is not None and timezone.is_aware(since) else None


class NotificationsConsumer(AsyncWebsocketConsumer):
    """The socket of one tab of a signed-in user."""

    user_id: Any = None
    _closed = False
    _resyncs: asyncio.Future[None] | None = None

    async def connect(self) -> None:
        self._hints = Coalesced(asyncio.get_running_loop(), self._tell)
        self._watching: dict[str, Callable[[], None]] = {}
        self._told: set[str] = set()
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            self._closed = True
            await self.close(code=CLOSE_SIGN_IN)
            return
        self.user_id = user.pk
        bridge = await database_sync_to_async(bridges.start)()
        await self._tell()
        # Then the jobs that finished since the page was shown (?since=, when it was rendered):
        # nothing that finished while the socket was being opened is missed. (What finishes from
        # here on was unfinished just above, so it is watched.)
        since = _since(self.scope.get("query_string", b""))
        if since is not None:
            await self._toast(await database_sync_to_async(finished_since)(self.user_id, since))
        every = RESYNC_SECONDS if bridge is not None else min(RESYNC_SECONDS, float(get_config()["POLL_INTERVAL"]))
        self._resyncs = asyncio.ensure_future(self._resync_every(every))

    async def disconnect(self, code: int) -> None:
        self._closed = True
        self._hints.close()
        for unwatch in self._watching.values():
            unwatch()
        self._watching.clear()
        if self._resyncs is not None:
            self._resyncs.cancel()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        return None

    async def _resync_every(self, every: float) -> None:
        while not self._closed:
            await asyncio.sleep(every)
            await self._tell()

    async def _tell(self) -> None:
        unfinished, ended = await database_sync_to_async(self._read)(set(self._watching))
        if self._closed:
            return
        for job_id in set(self._watching) - unfinished:
            self._watching.pop(job_id)()
        for job_id in unfinished - set(self._watching):
            self._watching[job_id] = hub.watch(job_id, self._hints.hint)
        await self._toast(ended)

    async def _toast(self, jobs: list[Job]) -> None:
        new = [job for job in jobs if str(job.pk) not in self._told]
        if new and not self._closed:
            self._told.update(str(job.pk) for job in new)
            await self.send(text_data=await database_sync_to_async(render_toasts)(new))

    def _read(self, watched: set[str]) -> tuple[set[str], list[Job]]:
        """The ids of the user's unfinished jobs, and those of ``watched`` that have finished since."""
        mine = Job.objects.filter(owner_id=self.user_id)
        unfinished = {
            str(pk) for pk in mine.unfinished().order_by("-enqueued_at").values_list("pk", flat=True)[:WATCHED_MAX]
        }
        gone = watched - unfinished
        ended = (
            list(mine.finished().filter(pk__in=gone).only("id", "task_path", "status", "finished_at")) if gone else []
        )
        return unfinished, ended
