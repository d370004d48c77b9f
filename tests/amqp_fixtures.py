"""RabbitMQ fixtures, imported by ``tests/conftest.py``.

Tests that use them carry ``@pytest.mark.rabbitmq``.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pika
import pytest
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError

from jobs_ui.broker import amqp, publisher

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

__all__ = ["amqp_settings", "amqp_url"]

DEFAULT_AMQP_URL = "amqp://guest:guest@localhost:5672/%2F"


def _connect(url: str) -> Any:
    params = pika.URLParameters(url)
    params.socket_timeout = 3
    params.stack_timeout = 5
    params.connection_attempts = 1
    return pika.BlockingConnection(params)


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The test broker's URL (``JOBS_UI_TEST_AMQP_URL``), checked once per session.

    Unreachable: an error when ``CI`` is set, a skip otherwise.
    """
    url = os.environ.get("JOBS_UI_TEST_AMQP_URL", DEFAULT_AMQP_URL)
    try:
        _connect(url).close()
    except (AMQPError, OSError) as e:
        parts = urlsplit(url)
        message = f"RabbitMQ is not reachable at {parts.hostname}:{parts.port}: {e!r}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def amqp_settings(amqp_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """``settings`` with ``AMQP_URL`` set and a unique ``AMQP_PREFIX`` for this test.

    Every queue and exchange declared under that prefix by this process (any thread)
    is deleted on teardown; a test that creates names in another process deletes
    them itself.
    """
    prefix = f"jobs_ui_test_{uuid.uuid4().hex[:10]}"
    settings.JOBS_UI = {**settings.JOBS_UI, "AMQP_URL": amqp_url, "AMQP_PREFIX": prefix}
    queues: set[str] = set()
    exchanges: set[str] = {f"{prefix}.events"}

    def record(names: set[str], declare: Any) -> Any:
        # Observes the name, then declares as usual on the real broker.
        def declare_and_record(self: Any, target: str, *args: Any, **kwargs: Any) -> Any:
            if target.startswith(f"{prefix}."):
                names.add(target)
            return declare(self, target, *args, **kwargs)

        return declare_and_record

    monkeypatch.setattr(BlockingChannel, "queue_declare", record(queues, BlockingChannel.queue_declare))
    monkeypatch.setattr(
        BlockingChannel,
        "exchange_declare",
        record(exchanges, BlockingChannel.exchange_declare),
    )
    yield settings
    # Messages of this test still on their way would declare its queues again.
    publisher.flush()
    amqp.reset()
    # A connection of its own: whatever state the test left amqp's connections in.
    connection = _connect(amqp_url)
    try:
        for delete, names in (("queue_delete", queues), ("exchange_delete", exchanges)):
            for target in sorted(names):
                with contextlib.suppress(AMQPError):
                    getattr(connection.channel(), delete)(target)
    finally:
        connection.close()
