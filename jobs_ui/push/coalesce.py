"""Many hints, one run: what each socket does with the hints ``jobs_ui.push.hub`` brings it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class Coalesced:
    """Runs ``run()`` on ``loop`` once for any number of ``hint()``\\s made meanwhile, from any thread,
    and at least ``interval()`` seconds after the previous run began."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        run: Callable[[], Awaitable[None]],
        interval: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self._loop, self._run, self._interval = loop, run, interval
        self._pending = self._closed = False
        self._last = -float("inf")

    def hint(self) -> None:
        """From any thread: something may have changed."""
        if not self._closed:
            self._loop.call_soon_threadsafe(self._schedule)

    def ran(self) -> None:
        """A run was made by other means (a regular refresh): the next one waits ``interval()`` from now."""
        self._last = self._loop.time()

    def close(self) -> None:
        self._closed = True

    def _schedule(self) -> None:
        if self._pending or self._closed:
            return
        self._pending = True
        delay = max(0.0, self._last + self._interval() - self._loop.time())
        self._loop.call_later(delay, lambda: asyncio.ensure_future(self._go()))

    async def _go(self) -> None:
        self._pending = False
        if self._closed:
            return
        self.ran()
        await self._run()
