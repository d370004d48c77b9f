"""The format of job messages, the queues they go to, and what this process knows of the broker's state."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jobs_ui.broker import amqp
from jobs_ui.exceptions import JobsUiException
from jobs_ui.models import Job

logger = logging.getLogger(__name__)

MESSAGE_VERSION = 1
# RabbitMQ keeps one internal queue per priority level; 10 levels is its advice.
PRIORITY_LEVELS = 10
QUEUE_ARGUMENTS: dict[str, Any] = {"x-max-priority": PRIORITY_LEVELS, "x-queue-type": "classic"}
# After a failed publish, launches skip the broker for this long instead of
# waiting on it again; the sweep publishes their jobs once it is back.
BACKOFF = 5.0
_declared: set[str] = set()
_down_until = 0.0


class InvalidJobMessage(JobsUiException, ValueError):
    """A job message that is not JSON, or not in the format of ``JobMessage``."""


# The Job row is the truth and a message only says "a READY job of this queue may be
# claimed" (a worker claims the one that comes first, jobs_ui.worker.message_claims): a
# message that reaches no queue is published again by the sweep, and a duplicate or stale
# one claims the next job or nothing, so a job is neither lost nor run twice.
# Job.dispatched_at is set once the broker has confirmed a message for the READY row.
@dataclass(frozen=True, slots=True)
class JobMessage:
    """The body of a job message: which job, which task, which READY attempt."""

    job_id: uuid.UUID
    task_path: str
    attempts: int

    @classmethod
    def for_job(cls, job: Job) -> JobMessage:
        return cls(job_id=job.pk, task_path=job.task_path, attempts=job.attempts)

    def encode(self) -> bytes:
        data = {"v": MESSAGE_VERSION, "job_id": str(self.job_id), "task": self.task_path, "attempts": self.attempts}
        return json.dumps(data).encode()

    @classmethod
    def decode(cls, body: bytes) -> JobMessage:
        """Parse ``body``; ``InvalidJobMessage`` says what is wrong with it."""
        try:
            data = json.loads(body.decode())
        except (UnicodeDecodeError, ValueError) as e:
            raise InvalidJobMessage(f"The message is not JSON: {e}") from e
        expected = {"v", "job_id", "task", "attempts"}
        if not isinstance(data, dict) or set(data) != expected:
            raise InvalidJobMessage(f"The message must be a JSON object with exactly the keys {sorted(expected)}.")
        if data["v"] != MESSAGE_VERSION:
            raise InvalidJobMessage(f"Unknown message version {data['v']!r}; this worker reads {MESSAGE_VERSION}.")
        try:
            job_id = uuid.UUID(str(data["job_id"]))
        except ValueError as e:
            raise InvalidJobMessage(f"job_id {data['job_id']!r} is not a UUID.") from e
        task, attempts = data["task"], data["attempts"]
        if not isinstance(task, str) or not task:
            raise InvalidJobMessage("task must be a non-empty string.")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
            raise InvalidJobMessage("attempts must be a whole number >= 0.")
        return cls(job_id=job_id, task_path=task, attempts=attempts)


def job_queue(queue_name: str) -> str:
    """The RabbitMQ queue of the jobs of ``queue_name``."""
    return amqp.name("jobs", queue_name)


def dead_letter_queue() -> str:
    """Where workers put messages they cannot read, with the reason in a header, for staff to inspect."""
    return amqp.name("dead-letters")


def dead_letter(body: bytes, queue: str, reason: str, worker: str) -> None:
    """Put a message a worker cannot use in the dead-letter queue: why, from which queue, by whom, when."""
    headers = {"x-jobs-ui-reason": reason, "x-jobs-ui-queue": queue, "x-jobs-ui-worker": worker}
    amqp.publish("", dead_letter_queue(), body, persistent=True, headers=headers, timestamp=int(time.time()))


def amqp_priority(priority: int) -> int:
    """Django's -100..100 mapped onto RabbitMQ's 0..9, keeping the order."""
    return (max(-100, min(100, priority)) + 100) * PRIORITY_LEVELS // 201


def declare_queues(queue_names: Iterable[str]) -> None:
    for queue in [*(job_queue(name) for name in queue_names), dead_letter_queue()]:
        arguments = QUEUE_ARGUMENTS if queue != dead_letter_queue() else {"x-queue-type": "classic"}
        amqp.declare_queue(queue, durable=True, arguments=arguments)
        _declared.add(queue)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """The message of a READY attempt, on its way to the broker."""

    job_id: uuid.UUID
    attempts: int
    queue: str
    body: bytes
    priority: int

    @classmethod
    def for_job(cls, job: Job) -> OutgoingMessage:
        body = JobMessage.for_job(job).encode()
        return cls(job.pk, job.attempts, job_queue(job.queue_name), body, amqp_priority(job.priority))

    @property
    def key(self) -> str:
        """Names the attempt's message among those on their way."""
        return f"{self.job_id}:{self.attempts}"


def broker_down() -> bool:
    """Whether a publish failed moments ago (``BACKOFF``): until then, jobs wait for the sweep."""
    return time.monotonic() < _down_until


def broker_failed(error: Exception) -> None:
    global _down_until
    _down_until = time.monotonic() + BACKOFF
    logger.warning("Jobs wait for RabbitMQ (%s); they will be published once the broker is back", error)


def queue_declared(queue: str) -> bool:
    return queue in _declared


def declared(queue: str, known: bool) -> None:
    """Remember whether ``queue`` exists (``known``), so it is declared again before the next publish."""
    if known:
        _declared.add(queue)
    else:
        _declared.discard(queue)


def forget_state() -> None:
    """Forget which queues exist and any broker backoff (settings changed)."""
    global _down_until
    _declared.clear()
    _down_until = 0.0
