"""The staff dashboard's websocket: its sections at once, again after jobs change and every few seconds.

Staff with ``jobs_ui.view_job`` only (others are closed with ``CLOSE_STAFF_ONLY``). What is sent
is read from the tables, as the sections' own refresh reads it; while the socket is open the
sections do not poll.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from jobs_ui.push import bridges, hub
from jobs_ui.push.requests import scope_request
from jobs_ui.views.access import READ_PERMISSION, staff_may
from jobs_ui.views.staff import REFRESH_MS, SECTIONS, render_sections

CLOSE_STAFF_ONLY = 4403
# Seconds between two pushes that a change of some job asks for; the last hour's throughput,
# the costly section, goes only with the regular refresh.
CHANGE_PUSH_SECONDS = 2.0
ON_CHANGE = ("workers", "queues", "failures")


class StaffConsumer(AsyncWebsocketConsumer):
    _closed = False
    _pending = False
    _unwatch: Any = None
    _ticks: asyncio.Future[None] | None = None

    async def connect(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._last_push = 0.0
        await self.accept()
        if not await database_sync_to_async(staff_may)(self.scope.get("user"), READ_PERMISSION):
            self._closed = True
            await self.close(code=CLOSE_STAFF_ONLY)
            return
        await database_sync_to_async(bridges.start)()
        self._unwatch = hub.watch_all(self._changed)
        await self._push(list(SECTIONS))
        self._ticks = asyncio.ensure_future(self._every(REFRESH_MS / 1000))

    async def disconnect(self, code: int) -> None:
        self._closed = True
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self._ticks is not None:
            self._ticks.cancel()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        return None

    async def _every(self, seconds: float) -> None:
        while not self._closed:
            await asyncio.sleep(seconds)
            await self._push(list(SECTIONS))

    def _changed(self) -> None:
        if not self._closed:
            self._loop.call_soon_threadsafe(self._schedule)

    def _schedule(self) -> None:
        if self._pending or self._closed:
            return
        self._pending = True
        delay = max(0.0, self._last_push + CHANGE_PUSH_SECONDS - self._loop.time())
        self._loop.call_later(delay, lambda: asyncio.ensure_future(self._push(list(ON_CHANGE))))

    async def _push(self, sections: list[str]) -> None:
        self._pending = False
        if self._closed:
            return
        html = await database_sync_to_async(self._render)(sections)
        self._last_push = self._loop.time()
        await self.send(text_data=html)

    def _render(self, sections: list[str]) -> str:
        return render_sections(scope_request(self.scope), sections)
