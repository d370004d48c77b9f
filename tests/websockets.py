"""Websockets driven from synchronous tests: ``Socket`` to one of jobs_ui's routes, through the project's stack."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client

RECEIVE = 10  # seconds to wait for a message before the test fails


def application() -> Any:
    import jobs_ui.routing

    return AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(jobs_ui.routing.websocket_urlpatterns)))


def headers_for(
    user: Any = None, origin: str = "http://testserver", client: Client | None = None
) -> list[tuple[bytes, bytes]]:
    """A browser's headers: its origin, and the cookies of ``client`` (or of a new one signed in as ``user``)."""
    headers = [(b"origin", origin.encode()), (b"host", b"testserver")]
    if client is None and user is not None:
        client = Client()
        client.force_login(user)
    if client is not None:
        cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
        headers.append((b"cookie", cookie.encode()))
    return headers


class Loop:
    """An event loop in a thread of its own, where the sockets of a test live between its steps."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(RECEIVE * 2)

    def stop(self) -> None:
        self.run(_cancel_others())
        # The sockets read the database in asgiref's thread for sync code: its connections close
        # there, or the test database could not be dropped at the end of the session.
        self.run(database_sync_to_async(connections.close_all)())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


async def _cancel_others() -> None:
    # What a test left running (a socket it did not close) ends with the loop.
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


_loop: Loop | None = None


@pytest.fixture
def socket_loop() -> Iterator[None]:
    """The loop the test's ``Socket``\\s live on (a test using them asks for this fixture)."""
    global _loop
    _loop = Loop()
    yield
    _loop.stop()
    _loop = None


class Socket:
    """A websocket to a job's panel, driven from a synchronous test."""

    def __init__(
        self,
        job_id: Any,
        user: Any = None,
        origin: str = "http://testserver",
        query: str = "",
        client: Client | None = None,
    ) -> None:
        headers = headers_for(user, origin, client)
        self.communicator = self._run(self._make(f"/ws/jobs/{job_id}/{query}", headers))

    @staticmethod
    async def _make(path: str, headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
        return WebsocketCommunicator(application(), path, headers=headers)

    @staticmethod
    def _run(coroutine: Any) -> Any:
        assert _loop is not None
        return _loop.run(coroutine)

    def connect(self) -> Any:
        return self._run(self.communicator.connect(timeout=RECEIVE))

    def receive(self) -> Any:
        """The next message: {"type": "websocket.send", "text": ...} or {"type": "websocket.close", "code": ...}."""
        return self._run(self.communicator.receive_output(timeout=RECEIVE))

    def panel(self) -> Any:
        message = self.receive()
        assert message["type"] == "websocket.send", message
        return message["text"]

    def closed_with(self) -> Any:
        message = self.receive()
        assert message["type"] == "websocket.close", message
        return message["code"]

    def send(self, text: str) -> None:
        self._run(self.communicator.send_to(text_data=text))

    def quiet(self) -> Any:
        return self._run(self.communicator.receive_nothing(timeout=0.3))

    def close(self) -> None:
        self._run(self.communicator.disconnect())
