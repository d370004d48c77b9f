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
from jobs_ui.push.coalesce import Coalesced
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
    _unwatch: Any = None
    _hints: Coalesced | None = None
    _ticks: asyncio.Future[None] | None = None

    async def connect(self) -> None:
        await self.accept()
        if not await database_sync_to_async(staff_may)(self.scope.get("user"), READ_PERMISSION):
            self._closed = True
            await self.close(code=CLOSE_STAFF_ONLY)
            return
        await database_sync_to_async(bridges.start)()
        # What a job's change asks for, at most every CHANGE_PUSH_SECONDS after the last push.
        self._hints = Coalesced(
            asyncio.get_running_loop(), lambda: self._push(list(ON_CHANGE)), lambda: CHANGE_PUSH_SECONDS
        )
        self._unwatch = hub.watch_all(self._hints.hint)
        await self._push(list(SECTIONS))
        self._ticks = asyncio.ensure_future(self._every(REFRESH_MS / 1000))

    async def disconnect(self, code: int) -> None:
        self._closed = True
        if self._hints is not None:
            self._hints.close()
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

    async def _push(self, sections: list[str]) -> None:
        if self._closed:
            return
        if self._hints is not None:
            self._hints.ran()
        html = await database_sync_to_async(self._render)(sections)
        await self.send(text_data=html)

    def _render(self, sections: list[str]) -> str:
        return render_sections(scope_request(self.scope), sections)
