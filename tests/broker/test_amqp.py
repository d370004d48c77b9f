from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from jobs_ui.broker import amqp
from jobs_ui.exceptions import BrokerError, MessageUnroutable, QueueNotFound
from tests.waiting import wait_until

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

UNREACHABLE_URL = "amqp://guest:guest@127.0.0.1:1/%2F"


@pytest.fixture
def queue(amqp_settings: Settings) -> str:
    name = amqp.name("test", uuid.uuid4().hex[:8])
    amqp.declare_queue(name, durable=False)
    return name


class BrokerThread(threading.Thread):
    """Runs ``target`` and then closes its thread's connection, as pool threads should."""

    def __init__(self, target: Callable[[], object]) -> None:
        super().__init__()
        self.target_function = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.target_function()
        except BaseException as e:
            self.error = e
        finally:
            amqp.close()

    def finish(self) -> None:
        self.join(timeout=30)
        assert not self.is_alive()
        if self.error is not None:
            raise self.error


def test_name_default_prefix():
    assert amqp.name("result", "abc") == "jobs_ui.result.abc"


@pytest.mark.rabbitmq
def test_name_prefix_from_settings(amqp_settings):
    prefix = amqp_settings.JOBS_UI["AMQP_PREFIX"]
    assert amqp.name("result", "abc") == f"{prefix}.result.abc"


@pytest.mark.rabbitmq
def test_publish_peek_round_trip(queue):
    amqp.publish("", queue, b"hello", headers={"a": 1}, priority=3)

    assert amqp.peek(queue) == b"hello"


@pytest.mark.rabbitmq
def test_peek_does_not_consume(queue):
    amqp.publish("", queue, b"first")
    amqp.publish("", queue, b"second")

    assert amqp.peek(queue) == b"first"
    assert amqp.peek(queue) == b"first"


@pytest.mark.rabbitmq
def test_peek_empty_queue_returns_none(queue):
    assert amqp.peek(queue) is None


@pytest.mark.rabbitmq
def test_peek_empty_body(queue):
    amqp.publish("", queue, b"")

    assert amqp.peek(queue) == b""


@pytest.mark.rabbitmq
def test_peek_missing_queue_raises_queue_not_found(queue):
    with pytest.raises(QueueNotFound):
        amqp.peek(amqp.name("missing"))

    # The channel the broker closed is replaced.
    amqp.publish("", queue, b"after")
    assert amqp.peek(queue) == b"after"


@pytest.mark.rabbitmq
def test_publish_mandatory_missing_queue_raises_unroutable(queue):
    with pytest.raises(MessageUnroutable):
        amqp.publish("", amqp.name("missing"), b"x", mandatory=True)

    amqp.publish("", queue, b"after", mandatory=True)
    assert amqp.peek(queue) == b"after"


@pytest.mark.rabbitmq
def test_publish_not_mandatory_missing_queue_is_dropped(queue):
    missing = amqp.name("missing")

    amqp.publish("", missing, b"x")

    # No error, and the channel the broker confirmed it on carries on.
    amqp.publish("", queue, b"after", mandatory=True)
    assert amqp.peek(queue) == b"after"
    # Nothing made a queue to keep it in.
    with pytest.raises(QueueNotFound):
        amqp.peek(missing)


@pytest.mark.rabbitmq
def test_publish_missing_exchange_raises_broker_error(queue):
    with pytest.raises(BrokerError) as excinfo:
        amqp.publish(amqp.name("no-exchange"), "key", b"x")

    assert type(excinfo.value) is BrokerError
    amqp.publish("", queue, b"after")
    assert amqp.peek(queue) == b"after"


@pytest.mark.rabbitmq
def test_publish_expiration_ms_expires_message(queue):
    amqp.publish("", queue, b"short-lived", expiration_ms=50)

    wait_until(lambda: amqp.peek(queue) is None, timeout=10, what="message expiry")


@pytest.mark.rabbitmq
def test_declare_queue_different_arguments_raises_broker_error(amqp_settings):
    name = amqp.name("test", "args")
    amqp.declare_queue(name, arguments={"x-expires": 60_000})

    with pytest.raises(BrokerError, match="406"):
        amqp.declare_queue(name, arguments={"x-expires": 30_000})


@pytest.mark.rabbitmq
def test_delete_queue(queue):
    amqp.delete_queue(queue)

    with pytest.raises(QueueNotFound):
        amqp.peek(queue)


@pytest.mark.rabbitmq
def test_delete_queue_missing_is_fine(queue):
    missing = amqp.name("missing")

    amqp.delete_queue(missing)

    # No error; the queue is still missing, and the connection goes on serving the others.
    with pytest.raises(QueueNotFound):
        amqp.peek(missing)
    amqp.publish("", queue, b"after")
    assert amqp.peek(queue) == b"after"


@pytest.mark.rabbitmq
def test_closed_connection_reopened(queue):
    connection = amqp._link().connection
    connection.close()

    amqp.publish("", queue, b"x")

    assert amqp._link().connection is not connection
    assert amqp.peek(queue) == b"x"


@pytest.mark.rabbitmq
def test_broken_connection_reopened_once(queue, caplog):
    caplog.set_level(logging.INFO, logger="jobs_ui.broker.amqp")
    connection = amqp._link().connection
    # What a broker restart or a dropped TCP connection leaves behind.
    connection._impl._transport._sock.shutdown(socket.SHUT_RDWR)

    amqp.publish("", queue, b"x")

    assert amqp._link().connection is not connection
    assert "Reopening the RabbitMQ connection" in caplog.text
    assert amqp.peek(queue) == b"x"


@pytest.mark.rabbitmq
def test_idle_connection_checked_before_use(queue, caplog):
    caplog.set_level(logging.INFO, logger="jobs_ui.broker.amqp")
    link = amqp._link()
    connection = link.connection
    connection._impl._transport._sock.shutdown(socket.SHUT_RDWR)
    link.last_used -= link.idle_limit + 1

    assert amqp.peek(queue) is None

    assert amqp._link().connection is not connection
    # Found by the idle check, before the operation could fail.
    assert "Reopening the RabbitMQ connection" not in caplog.text


@pytest.mark.rabbitmq
def test_one_connection_per_thread(queue):
    main = amqp._link().connection
    assert amqp._link().connection is main
    seen: list[object] = []
    both_connected = threading.Barrier(2, timeout=10)

    def use_broker() -> None:
        amqp.publish("", queue, b"x")
        seen.append(amqp._link().connection)
        both_connected.wait()

    threads = [BrokerThread(use_broker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.finish()

    assert len(seen) == 2
    assert seen[0] is not seen[1]
    assert main not in seen
    assert amqp._link().connection is main


@pytest.mark.rabbitmq
def test_reset_reconnects_every_thread(queue):
    main = amqp._link().connection
    first_call_done = threading.Event()
    reset_done = threading.Event()
    seen: list[Any] = []

    def use_broker_twice() -> None:
        amqp.peek(queue)
        seen.append(amqp._link().connection)
        first_call_done.set()
        assert reset_done.wait(timeout=10)
        amqp.peek(queue)
        seen.append(amqp._link().connection)

    thread = BrokerThread(use_broker_twice)
    thread.start()
    assert first_call_done.wait(timeout=10)
    amqp.reset()
    reset_done.set()
    thread.finish()

    assert not main.is_open
    assert amqp._link().connection is not main
    assert len(seen) == 2
    assert seen[0] is not seen[1]
    assert not seen[0].is_open


@pytest.mark.rabbitmq
def test_publish_event_reaches_consumer(amqp_settings):
    received: list[tuple[str, bytes]] = []
    ready = threading.Event()
    stop = threading.Event()

    def callback(routing_key: str, body: bytes) -> None:
        if body == b"boom":
            raise ValueError("a failing callback does not stop the consumer")
        received.append((routing_key, body))

    thread = threading.Thread(
        target=amqp.consume_events,
        args=["job.*", callback, stop],
        kwargs={"ready": ready, "poll_interval": 0.05},
    )
    thread.start()
    try:
        assert ready.wait(timeout=10)
        amqp.publish_events([("worker.x", b"not bound")])
        amqp.publish_events([("job.1", b"boom")])
        amqp.publish_events([("job.2", b'{"kind": "progress"}')])
        wait_until(lambda: received, timeout=10, what="the event")
    finally:
        stop.set()
        thread.join(timeout=10)

    assert not thread.is_alive()
    assert received == [("job.2", b'{"kind": "progress"}')]


def test_unreachable_broker_raises_broker_error(settings):
    settings.JOBS_UI = {**settings.JOBS_UI, "AMQP_URL": UNREACHABLE_URL}

    with pytest.raises(BrokerError, match="Could not connect"):
        amqp.peek("jobs_ui.anything")


def test_publish_event_unreachable_broker_backs_off(settings):
    settings.JOBS_UI = {**settings.JOBS_UI, "AMQP_URL": UNREACHABLE_URL}

    with pytest.raises(BrokerError, match="Could not connect"):
        amqp.publish_events([("job.1", b"{}")])
    with pytest.raises(BrokerError, match="moments ago"):
        amqp.publish_events([("job.1", b"{}")])


def test_amqp_url_not_set_raises_broker_error(settings):
    settings.JOBS_UI = {**settings.JOBS_UI, "AMQP_URL": None}

    with pytest.raises(BrokerError, match="AMQP_URL"):
        amqp.publish("", "jobs_ui.anything", b"x")
