"""A result store in RabbitMQ: each result in a queue of its own that expires."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.core.checks import Error
from django.utils import timezone

from jobs_ui.broker import amqp
from jobs_ui.conf import get_config
from jobs_ui.exceptions import (
    BrokerError,
    QueueNotFound,
    ResultExpired,
    ResultStoreError,
)
from jobs_ui.stores.base import BaseResultStore

if TYPE_CHECKING:
    from django.core.checks import CheckMessage

    from jobs_ui.models import Job


class RabbitMQResultStore(BaseResultStore):
    """Keeps each result as the one message of a per-job queue that expires (oddjob style)."""

    name = "rabbitmq"

    # The queue <prefix>.result.<job hex> is declared with x-expires and the message
    # published with the same per-message TTL. Reading uses basic.get and puts the message
    # back, so every poll sees it; since basic.get also restarts the queue's x-expires
    # timer, it is the message TTL, counted from completion, that makes a polled result
    # disappear on time.
    def save(self, job: Job, encoded: str, ttl: int) -> None:
        queue = queue_name(job)
        ttl_ms = max(1, int(ttl * 1000))
        try:
            # Start from an empty queue, so a job that is run again keeps only its
            # latest result and the queue's arguments may change with RESULT_TTL.
            amqp.delete_queue(queue)
            amqp.declare_queue(
                queue,
                durable=True,
                # Classic: a quorum queue would count every peek as a redelivery
                # and drop the message at its delivery limit.
                arguments={"x-expires": ttl_ms, "x-queue-type": "classic"},
            )
            # mandatory: if the queue vanished since it was declared, this fails
            # instead of silently dropping the result.
            amqp.publish(
                "",
                queue,
                encoded.encode(),
                persistent=True,
                mandatory=True,
                expiration_ms=ttl_ms,
            )
        except BrokerError as e:
            raise ResultStoreError(f"Could not keep the result of job {job.pk} in RabbitMQ: {e}") from e

    def load(self, job: Job) -> Any:
        expires_at = job.result_expires_at
        if expires_at is not None and expires_at <= timezone.now():
            raise ResultExpired(f"The result of job {job.pk} has expired")
        try:
            body = amqp.peek(queue_name(job))
        except QueueNotFound:
            body = None
        except BrokerError as e:
            raise ResultStoreError(f"Could not read the result of job {job.pk} from RabbitMQ: {e}") from e
        if body is None:
            raise ResultExpired(f"The result of job {job.pk} has expired")
        try:
            return json.loads(body)
        except ValueError as e:
            raise ResultStoreError(f"The stored result of job {job.pk} is not JSON") from e

    def delete(self, job: Job) -> None:
        try:
            amqp.delete_queue(queue_name(job))
        except BrokerError as e:
            raise ResultStoreError(f"Could not delete the result of job {job.pk}: {e}") from e

    def check(self) -> list[CheckMessage]:
        if get_config()["AMQP_URL"]:
            return []
        return [
            Error(
                "RabbitMQResultStore needs JOBS_UI['AMQP_URL'].",
                hint=(
                    "Set JOBS_UI['AMQP_URL'] to amqp://user:password@host:5672/vhost, "
                    "or use jobs_ui.stores.database.DatabaseResultStore."
                ),
                id="jobs_ui.E002",
            )
        ]


def queue_name(job: Job) -> str:
    """The name of the queue holding ``job``'s result."""
    return amqp.name("result", job.pk.hex)
