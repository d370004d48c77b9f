"""The websocket a job's panel joins: the panel at once, again after each change of the job, the final one, then close.

Routes in ``jobs_ui.routing``. Who may watch is decided from the session, as the panel's page
decides it (the owner, anyone for a public job, staff with ``jobs_ui.view_job``); anyone else
is closed with ``CLOSE_SIGN_IN`` (not signed in) or ``CLOSE_NOT_FOUND`` before anything is sent.
What is sent is always read from the jobs table: an event is only a hint that it changed.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from jobs_ui.conf import get_config
from jobs_ui.models import Job
from jobs_ui.push import bridges, hub
from jobs_ui.push.coalesce import Coalesced
from jobs_ui.push.requests import scope_request
from jobs_ui.views.panel import PANEL_TEMPLATE, panel_context, panel_etag
from jobs_ui.views.standing import standing
from jobs_ui.views.viewer import Viewer

# Close codes: the visitor must sign in; no such job for this user (or the job is gone).
CLOSE_SIGN_IN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_DONE = 1000
# Seconds between two reads of the job that no hint asked for (hints can be lost).
REREAD_SECONDS = 15.0


class JobConsumer(AsyncWebsocketConsumer):
    """One socket, one job; what it receives from the browser is ignored (actions go over HTTP)."""

    job_id = ""
    viewer = Viewer()
    _unwatch: Any = None
    _rereads: asyncio.Future[None] | None = None
    _hints: Coalesced | None = None
    _last_shown = ""
    _closed = False

    async def connect(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.accept()
        self.job_id = str(self.scope["url_route"]["kwargs"]["job_id"])
        user = self.scope.get("user")
        self.viewer = await database_sync_to_async(Viewer.for_user)(user)
        job = await database_sync_to_async(self._read)()
        if job is None:
            await self._close(CLOSE_SIGN_IN if self.viewer.user_id is None else CLOSE_NOT_FOUND)
            return
        bridge = await database_sync_to_async(bridges.start)()
        # Coalesced: at most PUSH_RATE reads a second, the last hint always followed by one.
        self._hints = Coalesced(self._loop, self._refresh, _push_interval)
        self._unwatch = hub.watch(self.job_id, self._hints.hint)
        await self._send(job)
        # A safety net under the hints: the job is read again every so often anyway, as often as
        # a panel polls where no bridge brings other processes' hints (SQLite without a broker).
        every = float(get_config()["POLL_INTERVAL"]) if bridge is None else REREAD_SECONDS
        self._rereads = asyncio.ensure_future(self._reread(every))

    async def disconnect(self, code: int) -> None:
        self._stop_watching()

    def _stop_watching(self) -> None:
        self._closed = True
        if self._hints is not None:
            self._hints.close()
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self._rereads is not None and self._rereads is not asyncio.current_task():
            self._rereads.cancel()

    async def _reread(self, every: float) -> None:
        while not self._closed and self._hints is not None:
            await asyncio.sleep(every)
            self._hints.hint()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        return None

    def _read(self) -> Job | None:
        """The job if this viewer may see it now; None otherwise."""
        try:
            job = Job.objects.get(pk=uuid.UUID(self.job_id))
        except (Job.DoesNotExist, ValueError):
            return None
        return job if self.viewer.can_see(job) else None

    async def _refresh(self) -> None:
        job = await database_sync_to_async(self._read)()
        if job is None:
            await self._close(CLOSE_NOT_FOUND)
            return
        await self._send(job)

    async def _send(self, job: Job) -> None:
        html = await database_sync_to_async(self._render)(job)
        if html:
            await self.send(text_data=html)
        if job.is_finished:
            await self._close(CLOSE_DONE)

    def _render(self, job: Job) -> str:
        """The panel, or "" when it would show what was sent last (its ETag, as a poll's 304)."""
        request = scope_request(self.scope)
        where = standing(job, reads=1)
        shown = "" if job.is_finished else panel_etag(job, self.viewer, where)
        if shown and shown == self._last_shown:
            return ""
        self._last_shown = shown
        context = panel_context(request, job, self.viewer, etag=shown, where=where)
        return render_to_string(PANEL_TEMPLATE, context, request=request)

    async def _close(self, code: int) -> None:
        self._stop_watching()
        await self.close(code=code)


def _push_interval() -> float:
    rate = float(get_config()["PUSH_RATE"])
    return 1 / rate if rate > 0 else 0.0
