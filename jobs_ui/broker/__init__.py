"""RabbitMQ: the connection (``amqp``, the only module importing pika), job messages and the sweep,
the publisher thread, dead letters and queue statistics."""

from __future__ import annotations
