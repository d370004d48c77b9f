"""The only module that imports pika; the rest of jobs_ui uses this typed API.

Errors surface as ``jobs_ui.exceptions.BrokerError`` and its subclasses, never as pika exceptions.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pika
from pika import exceptions as pe

from jobs_ui.conf import get_config
from jobs_ui.exceptions import BrokerError, MessageUnroutable, QueueNotFound

logger = logging.getLogger(__name__)

# Seconds to open the socket, and to finish the whole AMQP handshake, unless the URL
# sets socket_timeout / stack_timeout: a request must not hang on a dead broker.
SOCKET_TIMEOUT = 5.0
STACK_TIMEOUT = 10.0
# Idle seconds after which a connection without heartbeats is checked before use.
IDLE_CHECK_WITHOUT_HEARTBEAT = 30.0
# After a failed connect, events are dropped (not retried) for this many seconds, so
# progress reports never wait on a broker that is down.
EVENTS_BACKOFF = 5.0

TRANSIENT = 1
PERSISTENT = 2

# A pika connection is not thread-safe (pika FAQ), so each thread opens its own and
# keeps it here for every later call.
_local = threading.local()
_generation = 0
_generation_lock = threading.Lock()
_events_down_until = 0.0


class _Link:
    def __init__(self, connection: Any, generation: int) -> None:
        self.connection = connection
        self.generation = generation
        self.pid = os.getpid()
        self.last_used = time.monotonic()
        # pika only sends heartbeats while it does I/O, so a thread idle for longer
        # than the heartbeat timeout may hold a connection the broker has closed.
        heartbeat = connection._impl.params.heartbeat
        self.idle_limit = heartbeat / 2 if heartbeat else IDLE_CHECK_WITHOUT_HEARTBEAT
        self.channel: Any = None
        self.event_channel: Any = None

    def confirm_channel(self) -> Any:
        if self.channel is None or not self.channel.is_open:
            self.channel = self.connection.channel()
            self.channel.confirm_delivery()
        return self.channel

    def events_channel(self) -> Any:
        if self.event_channel is None or not self.event_channel.is_open:
            channel = self.connection.channel()
            declare_events_exchange(channel)
            self.event_channel = channel
        return self.event_channel

    def close(self) -> None:
        # A connection inherited through fork() shares its socket with the parent.
        if self.pid == os.getpid():
            close_connection(self.connection)


def name(*parts: str) -> str:
    """Namespace an exchange or queue name: ``name("result", hex)`` is ``"jobs_ui.result.<hex>"``."""
    return ".".join([get_config()["AMQP_PREFIX"], *parts])


def reset() -> None:
    """Forget this process's connections (settings changed); each thread reconnects on next use."""
    global _generation, _events_down_until
    with _generation_lock:
        _generation += 1
    _events_down_until = 0.0
    close()


def current_generation() -> int:
    """Changes with every ``reset()``: a connection opened before it must be replaced."""
    return _generation


def close() -> None:
    """Close this thread's connection, e.g. when a pool thread exits."""
    link: _Link | None = getattr(_local, "link", None)
    _local.link = None
    if link is not None:
        link.close()


def declare_queue(queue: str, *, durable: bool = True, arguments: dict[str, Any] | None = None) -> None:
    """Declare ``queue``; ``arguments`` (``x-expires``...) must match an existing queue's."""
    _run(lambda ch: ch.queue_declare(queue, durable=durable, arguments=arguments))


def delete_queue(queue: str) -> None:
    """Delete ``queue`` and its messages; a missing queue is fine."""
    with contextlib.suppress(QueueNotFound):
        _run(lambda ch: ch.queue_delete(queue), not_found=QueueNotFound)


def publish(
    exchange: str,
    routing_key: str,
    body: bytes,
    *,
    persistent: bool = True,
    mandatory: bool = False,
    expiration_ms: int | None = None,
    headers: dict[str, Any] | None = None,
    priority: int | None = None,
    timestamp: int | None = None,
) -> None:
    """Publish and wait for the broker's confirm.

    Raises ``MessageUnroutable`` when ``mandatory`` and no queue took the message,
    and ``BrokerError`` for anything else. After a lost connection the message is
    sent once more on a new one, so a consumer may rarely see it twice.
    """
    properties = pika.BasicProperties(
        delivery_mode=PERSISTENT if persistent else TRANSIENT,
        expiration=None if expiration_ms is None else str(int(expiration_ms)),
        headers=headers,
        priority=priority,
        timestamp=timestamp,
    )
    _run(lambda ch: ch.basic_publish(exchange, routing_key, body, properties=properties, mandatory=mandatory))


def peek(queue: str) -> bytes | None:
    """The first message of ``queue``, left in place; ``None`` when the queue is empty.

    Raises ``QueueNotFound`` when the queue does not exist.
    """
    first, _total = browse(queue, 1)
    return first[0].body if first else None


@dataclass(frozen=True, slots=True)
class Message:
    """A message read by ``browse()``, left in its queue."""

    body: bytes
    headers: dict[str, Any]
    timestamp: int | None
    """Seconds since the epoch, when the publisher set it."""


def browse(queue: str, limit: int) -> tuple[list[Message], int]:
    """Up to ``limit`` messages from the head of ``queue``, left in place and in order; and how many it holds.

    Raises ``QueueNotFound`` when the queue does not exist.
    """

    def get(channel: Any) -> tuple[list[Message], int]:
        found: list[Message] = []
        total = last = 0
        while len(found) < limit:
            method, properties, body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                break
            if not found:
                # Counted by the queue as it handed out the first one (a count asked for after
                # the nack below could miss messages not yet back in the queue).
                total = int(method.message_count) + 1
            last = method.delivery_tag
            found.append(Message(bytes(body or b""), dict(properties.headers or {}), properties.timestamp))
        if found:
            # Back to their places in the queue, each keeping its per-message expiry.
            channel.basic_nack(last, multiple=True, requeue=True)
        return found, total

    return _run(get, not_found=QueueNotFound)


def purge_queue(queue: str) -> int:
    """Delete every message waiting in ``queue``; how many there were. ``QueueNotFound`` when it does not exist."""
    return int(_run(lambda ch: ch.queue_purge(queue), not_found=QueueNotFound).method.message_count)


def publish_events(events: list[tuple[str, bytes]]) -> None:
    """Publish transient events (``(routing key, body)``) to the topic exchange ``name("events")``, in one write.

    Without confirm: a lost event only delays what a page shows.
    """
    global _events_down_until
    if time.monotonic() < _events_down_until:
        raise BrokerError("RabbitMQ was unreachable moments ago; events dropped")
    properties = pika.BasicProperties(delivery_mode=TRANSIENT)
    exchange = name("events")

    def send(channel: Any) -> None:
        # Optimization: frames are queued on the channel, then flushed with one system call.
        for routing_key, body in events:
            channel._impl.basic_publish(exchange, routing_key, body, properties=properties)
        channel._flush_output()

    try:
        _run(send, events=True)
    except BrokerError:
        if getattr(_local, "link", None) is None:
            _events_down_until = time.monotonic() + EVENTS_BACKOFF
        raise


def consume_events(
    binding_key: str,
    callback: Callable[[str, bytes], None],
    stop_event: threading.Event,
    *,
    ready: threading.Event | None = None,
    poll_interval: float = 0.5,
) -> None:
    """Call ``callback(routing_key, body)`` for each event matching ``binding_key``.

    Blocks until ``stop_event`` is set (checked every ``poll_interval`` seconds), on a
    connection of its own with an exclusive auto-delete queue; sets ``ready`` once
    bound. Raises ``BrokerError`` when the connection is lost; the caller may retry.
    """

    def on_message(_channel: Any, method: Any, _properties: Any, body: bytes) -> None:
        try:
            callback(method.routing_key, body)
        except Exception:
            logger.exception("Event callback %r failed", callback)

    connection = connect()
    try:
        channel = connection.channel()
        declare_events_exchange(channel)
        queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        channel.queue_bind(queue, name("events"), routing_key=binding_key)
        channel.basic_consume(queue, on_message, auto_ack=True)
        if ready is not None:
            ready.set()
        while not stop_event.is_set():
            connection.process_data_events(time_limit=poll_interval)
    except pe.AMQPError as e:
        raise BrokerError(f"Event consumer stopped: {e!r}") from e
    finally:
        close_connection(connection)


def queue_info(queue: str) -> tuple[int, int]:
    """``(messages ready, consumers)`` of ``queue``; ``QueueNotFound`` when it does not exist."""
    method = _run(lambda ch: ch.queue_declare(queue, passive=True), not_found=QueueNotFound).method
    return int(method.message_count), int(method.consumer_count)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message taken by a ``QueueConsumer``; settle it with ``ack()`` or ``reject()``."""

    tag: int
    queue: str
    body: bytes
    redelivered: bool


class QueueConsumer:
    """Consumes ``queues`` with manual ack on a connection of its own; use it from one thread.

    At most ``prefetch`` messages (channel-wide) wait unsettled in this process;
    ``pause()`` cancels the consumers, so no message waits here while another
    consumer has room for it, and ``resume()`` starts them again.
    """

    def __init__(self, queues: list[str]) -> None:
        self.queues = queues
        self._connection: Any = None
        self._channel: Any = None
        self._tags: list[str] = []
        self._received: list[Delivery] = []
        self._woken = threading.Event()

    def open(self, prefetch: int) -> None:
        with _errors():
            self._connection = connect()
            self._channel = self._connection.channel()
            self._channel.basic_qos(prefetch_count=prefetch, global_qos=True)
        self.resume()

    def pause(self) -> None:
        """Stop receiving messages; those received but not yet handed out are requeued by pika."""
        with _errors():
            for tag in self._tags:
                self._channel.basic_cancel(tag)
        self._tags = []

    def resume(self) -> None:
        if not self._tags:
            with _errors():
                self._tags = [self._channel.basic_consume(queue, self._receive) for queue in self.queues]

    def poll(self, timeout: float) -> list[Delivery]:
        """Wait up to ``timeout`` seconds (less once a message or a ``wake()`` arrives)."""
        self._woken.clear()
        with _errors():
            self._connection.process_data_events(time_limit=timeout)
        received, self._received = self._received, []
        return received

    def wake(self) -> None:
        """End a ``poll()`` early; the only method safe to call from another thread."""
        # Optimization: one interrupt per poll, however many threads ask.
        if self._woken.is_set():
            return
        self._woken.set()
        with contextlib.suppress(pe.AMQPError, AttributeError):
            self._connection.add_callback_threadsafe(lambda: None)

    def ack(self, tag: int, *, multiple: bool = False) -> None:
        """Settle the message ``tag`` (with ``multiple``: every unsettled one up to it too)."""
        with _errors():
            self._channel.basic_ack(tag, multiple=multiple)

    def reject(self, tag: int, *, requeue: bool) -> None:
        with _errors():
            self._channel.basic_reject(tag, requeue=requeue)

    def close(self) -> None:
        """Close the connection; unsettled messages go back to their queues."""
        if self._connection is not None:
            close_connection(self._connection)
        self._connection = self._channel = None
        self._tags = []

    def _receive(self, _channel: Any, method: Any, _properties: Any, body: bytes) -> None:
        self._received.append(Delivery(method.delivery_tag, method.routing_key, bytes(body), method.redelivered))


class ConfirmingPublisher:
    """Publishes persistent messages without waiting for each confirm; use it from one thread.

    ``publish()`` queues a message and returns; ``poll()`` sends what is queued, reads the
    broker's confirms and returns the keys they settled: ``(confirmed, returned, nacked)``.
    Returned means no queue took the message (``mandatory``). Messages not settled when the
    connection fails are none of these.
    """

    def __init__(self) -> None:
        self._connection: Any = None
        self._channel: Any = None
        self._next_tag = 1
        self._waiting: dict[int, str] = {}
        self._returned: set[str] = set()
        self._confirmed: list[str] = []
        self._unroutable: list[str] = []
        self._nacked: list[str] = []
        self.generation = _generation

    def open(self) -> None:
        selected: list[bool] = []
        with _errors():
            self._connection = connect()
            self._channel = self._connection.channel()
            impl = self._channel._impl
            impl.add_on_return_callback(self._on_return)
            impl.confirm_delivery(self._on_confirm, callback=lambda _frame: selected.append(True))
            deadline = time.monotonic() + STACK_TIMEOUT
            while not selected:
                if time.monotonic() > deadline:
                    raise BrokerError("RabbitMQ did not turn on publisher confirms")
                self._connection.process_data_events(time_limit=0.05)

    def declare_queue(self, queue: str, arguments: dict[str, Any]) -> None:
        with _errors():
            self._channel.queue_declare(queue, durable=True, arguments=arguments)

    def publish(self, key: str, routing_key: str, body: bytes, *, priority: int | None = None) -> None:
        """Send a persistent, mandatory message to the default exchange; ``key`` names it in ``poll()``."""
        properties = pika.BasicProperties(delivery_mode=PERSISTENT, priority=priority, message_id=key)
        with _errors():
            self._channel._impl.basic_publish("", routing_key, body, properties=properties, mandatory=True)
        self._waiting[self._next_tag] = key
        self._next_tag += 1

    def poll(self, timeout: float) -> tuple[list[str], list[str], list[str]]:
        """Send what waits to be sent, and wait up to ``timeout`` seconds for confirms."""
        with _errors():
            self._connection.process_data_events(time_limit=timeout)
        settled = self._confirmed, self._unroutable, self._nacked
        self._confirmed, self._unroutable, self._nacked = [], [], []
        return settled

    def close(self) -> None:
        if self._connection is not None:
            close_connection(self._connection)
        self._connection = self._channel = None
        self._waiting.clear()

    def _on_return(self, _channel: Any, _method: Any, properties: Any, _body: bytes) -> None:
        # RabbitMQ returns an unroutable message before it confirms it.
        self._returned.add(properties.message_id)

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        tags = [t for t in self._waiting if t <= method.delivery_tag] if method.multiple else [method.delivery_tag]
        acked = isinstance(method, pika.spec.Basic.Ack)
        for tag in tags:
            key = self._waiting.pop(tag, None)
            if key is None:
                continue
            if key in self._returned:
                self._returned.discard(key)
                self._unroutable.append(key)
            elif acked:
                self._confirmed.append(key)
            else:
                self._nacked.append(key)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except (pe.AMQPError, OSError) as e:
        raise BrokerError(f"RabbitMQ consumer failed: {e!r}") from e


def declare_events_exchange(channel: Any) -> None:
    # Events are transient, so is their exchange; every connection declares it once.
    channel.exchange_declare(name("events"), exchange_type="topic", durable=False)


def connect() -> Any:
    config = get_config()
    url = config["AMQP_URL"]
    if not url:
        raise BrokerError("JOBS_UI['AMQP_URL'] is not set")
    try:
        params = pika.URLParameters(url)
    except (TypeError, ValueError) as e:
        raise BrokerError(f"Invalid JOBS_UI['AMQP_URL']: {e}") from e
    query = parse_qs(urlsplit(url).query)
    if "socket_timeout" not in query:
        params.socket_timeout = SOCKET_TIMEOUT
    if "stack_timeout" not in query:
        params.stack_timeout = STACK_TIMEOUT
    # Without it, a broker memory or disk alarm blocks every publisher forever.
    params.blocked_connection_timeout = config["AMQP_BLOCKED_TIMEOUT"]
    thread = threading.current_thread().name
    params.client_properties = {"connection_name": f"jobs_ui {socket.gethostname()} pid={os.getpid()} {thread}"}
    try:
        return pika.BlockingConnection(params)
    except (pe.AMQPError, OSError) as e:
        where = f"{params.host}:{params.port}{params.virtual_host}"
        raise BrokerError(f"Could not connect to RabbitMQ at {where}: {e!r}") from e


def close_connection(connection: Any) -> None:
    if connection.is_open:
        try:
            connection.close()
        except (pe.AMQPError, OSError):
            logger.debug("Error closing a RabbitMQ connection", exc_info=True)


def _link() -> _Link:
    link: _Link | None = getattr(_local, "link", None)
    if link is not None and (link.pid != os.getpid() or link.generation != _generation or not link.connection.is_open):
        close()
        link = None
    if link is not None and time.monotonic() - link.last_used > link.idle_limit:
        # Sends a due heartbeat and reads a Connection.Close the broker may have sent.
        with contextlib.suppress(pe.AMQPError, OSError):
            link.connection.process_data_events(0)
        if not link.connection.is_open:
            close()
            link = None
    if link is None:
        link = _Link(connect(), _generation)
        _local.link = link
    return link


def _run[T](
    operation: Callable[[Any], T],
    *,
    events: bool = False,
    not_found: type[BrokerError] = BrokerError,
) -> T:
    # A stale or broken connection is replaced once, transparently.
    for attempt in (1, 2):
        link = _link()
        try:
            result = operation(link.events_channel() if events else link.confirm_channel())
        except pe.ConnectionBlockedTimeout as e:
            close()
            raise BrokerError("RabbitMQ blocked the connection (memory or disk alarm)") from e
        except (pe.AMQPConnectionError, pe.ChannelWrongStateError, OSError) as e:
            close()
            if attempt == 2:
                raise BrokerError(f"Lost the connection to RabbitMQ: {e!r}") from e
            logger.info("Reopening the RabbitMQ connection after %r", e)
            continue
        except pe.ChannelClosedByBroker as e:
            error = not_found if e.reply_code == 404 else BrokerError
            raise error(f"RabbitMQ refused: {e.reply_code} {e.reply_text}") from e
        except pe.UnroutableError as e:
            raise MessageUnroutable("No queue took the message") from e
        except pe.AMQPError as e:
            raise BrokerError(f"RabbitMQ error: {e!r}") from e
        link.last_used = time.monotonic()
        return result
    raise AssertionError("unreachable")
