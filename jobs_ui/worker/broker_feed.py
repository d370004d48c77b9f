"""A worker's jobs from RabbitMQ: a job claimed for each message of its queues, and for each new job notified."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import deque
from typing import Any

from django.db import DatabaseError

from jobs_ui.broker import amqp
from jobs_ui.broker.dispatch import message_problems
from jobs_ui.broker.messages import InvalidJobMessage, JobMessage, dead_letter, declare_queues, job_queue
from jobs_ui.db import statements, wakeups
from jobs_ui.exceptions import UnknownTask
from jobs_ui.jobs.claim import claim_wanted
from jobs_ui.jobs.registry import resolve_task
from jobs_ui.models import Job
from jobs_ui.worker import message_claims
from jobs_ui.worker.feed import BROKER_POLL, DATABASE_BACKOFF, Fed, keep_offers

logger = logging.getLogger(__name__)

# Longest a message received while every slot is busy waits here for one (see BrokerFeed).
HOLD = 0.2
# Longest the feed waits for a reserving pool to empty before it takes messages (see BasePool.reserves).
GATHER = 0.05
# The most attempts claimed on a notification remembered until their messages come.
CLAIMED_EARLY_LIMIT = 10_000
# The most notified job ids waiting for the feed to claim them.
NOTIFIED_LIMIT = 1_000


class BrokerFeed:
    """Consumes the worker's RabbitMQ queues; claims a job for each message, then acks at once.

    A message wakes the worker for its queue: it claims the job that comes first there
    (priority, then FIFO), not necessarily the one it names (``jobs_ui.worker.message_claims``).
    A message received while every slot is busy waits at most ``HOLD`` seconds for one,
    then goes back to its queue for another worker, and the consumers pause until a slot frees.
    """

    def __init__(self, worker: Fed) -> None:
        self.worker = worker
        # The queue_name of each RabbitMQ queue consumed.
        self.queue_names = {job_queue(name): name for name in worker.queues}
        self.consumer = amqp.QueueConsumer(list(self.queue_names))
        self.held: list[amqp.Delivery] = []
        self.held_since = 0.0
        self.parked = False
        # Ids of new jobs notified by the database (jobs_ui.db.wakeups), appended by the listener's thread.
        self.notified: deque[str] = deque(maxlen=NOTIFIED_LIMIT)
        # Attempts claimed on a notification, (job id, attempts before the claim), oldest
        # first: their messages, when they come here, are acked without a query.
        self.claimed_early: dict[tuple[Any, int], bool] = {}

    def run(self) -> bool:
        """Feed the pool until the worker takes no more jobs; ``BrokerError`` when the broker fails."""
        worker = self.worker
        declare_queues(worker.queues)
        # The claim, not the unacked message, protects the job from then on (its lease in
        # the database), so a long job never meets RabbitMQ's consumer_timeout. Unsettled
        # messages are those not claimed yet, and at most one per slot waits here (the
        # prefetch is the pool's window): the next message is already in the process when
        # a slot frees. Optimization: the prefetch is set once; changing it as slots fill
        # and free cost a round trip to the broker each time, which showed in the rate of
        # short jobs.
        self.consumer.open(worker.pool.window)
        worker.wakers.append(self.wake)
        listen = (
            wakeups.listening(worker.queues, lambda: None, self._notified, worker.assigned())
            if _listens(worker)
            else contextlib.nullcontext()
        )
        # The consumer is closed first: a worker that takes no more jobs stops receiving
        # messages at once, while its listener may take half a second to stop.
        with listen as listener:
            try:
                while worker.taking():
                    deliveries = self._next()
                    # Whether work is left is looked up only when none came: no message, or
                    # none this worker runs (excluded tasks, stale messages).
                    started = self.handle(deliveries) if deliveries else 0
                    if self.notified:
                        started += self._claim_notified()
                    keep_offers(worker, listener, took=bool(started), idle=not deliveries and not self.held)
                    if not started and not self.held and worker.has_finished():
                        break
            finally:
                if worker.offers is not None:
                    worker.offers.busy()
                worker.wakers.remove(self.wake)
                # Held messages are unsettled: closing returns them to their queues.
                self.consumer.close()
        return True

    def _notified(self, job_id: str) -> None:
        """From the listener's thread: the new job ``job_id`` of these queues was committed."""
        if self.worker.capacity() > 0:
            self.notified.append(job_id)
            self.consumer.wake()

    def _claim_notified(self) -> int:
        """Claim notified new jobs for the free slots, by id; how many started.

        Jobs beyond the free slots are left to their messages.
        """
        # Optimization: a new job's NOTIFY reaches an idle worker before its message. The
        # claim decides who runs it, as for a message (every idle worker tries; one row is
        # updated); the message still comes, and is dropped by whoever receives it.
        capacity = min(self.worker.capacity(), self.worker.pool.concurrency)
        wanted: list[statements.Wanted] = []
        while self.notified:
            job_id = self.notified.popleft()
            if len(wanted) < capacity:
                with contextlib.suppress(ValueError):
                    wanted.append((uuid.UUID(job_id), 0, None))
        if not wanted:
            return 0
        try:
            jobs = claim_wanted(self.worker.id, wanted)
        except DatabaseError:
            logger.exception("Could not claim %d notified job(s); their messages bring them", len(wanted))
            return 0
        claimed_at = time.monotonic()
        for job in jobs:
            self.claimed_early[(job.pk, job.attempts - 1)] = True
            if len(self.claimed_early) > CLAIMED_EARLY_LIMIT:
                del self.claimed_early[next(iter(self.claimed_early))]
        self._start(jobs, claimed_at)
        return len(jobs)

    def wake(self) -> None:
        """Called when a slot frees or the worker stops: end the wait for messages if it matters."""
        # Optimization: a freed slot matters only to a feed waiting for one; waking the
        # consumer's connection for every job cost a system call and a loop pass each.
        # An idle pool under --until-done does not wake it either: the feed looks whether
        # work is left when no message came for BROKER_POLL, and a look after every
        # job that emptied the pool cost a database query each.
        # Idle, with offered slots: a freed one is offered at once (keep_offers()).
        worker = self.worker
        offering = worker.offers is not None and worker.offers.idle
        if self.held or self.parked or not worker.taking() or offering:
            self.consumer.wake()

    def _next(self) -> list[amqp.Delivery]:
        # Whoever frees a slot reads ``held`` and ``parked`` after freeing it (wake()), and
        # they are written here before the capacity is read: one side sees the other.
        if self.held:
            if self.worker.capacity() > 0:
                held, self.held = self.held, []
                return held
            if time.monotonic() - self.held_since >= HOLD:
                self._give_back()
        if not self.held:
            self.worker.pool.gather(GATHER)
        if self.parked and self.worker.capacity() > 0:
            self.consumer.resume()
            self.parked = False
        timeout = HOLD - (time.monotonic() - self.held_since) if self.held else BROKER_POLL
        return self.consumer.poll(max(timeout, 0.0))

    def handle(self, deliveries: list[amqp.Delivery]) -> int:
        """Claim a job for each message, then settle the messages; how many jobs started.

        A message claims the job that comes first in its queue (``jobs_ui.worker.message_claims``).
        """
        claimable: list[tuple[amqp.Delivery, JobMessage]] = []
        capacity = self.worker.capacity()
        for delivery in deliveries:
            try:
                message = JobMessage.decode(delivery.body)
                resolve_task(message.task_path)
            except (InvalidJobMessage, UnknownTask) as e:
                self._dead_letter(delivery, str(e))
                continue
            if self.claimed_early.pop((message.job_id, message.attempts), False):
                # Claimed here on its notification: that claim was this message's.
                self.consumer.ack(delivery.tag)
            elif len(claimable) < capacity:
                claimable.append((delivery, message))
            else:
                self._hold(delivery)
        if not claimable:
            return 0
        groups: dict[str, list[JobMessage]] = {}
        for delivery, message in claimable:
            groups.setdefault(delivery.queue, []).append(message)
        claimed: dict[str, list[Job]] = {}
        for queue, messages in groups.items():
            try:
                claimed[queue] = message_claims.claim(
                    self.worker.id, self.queue_names[queue], messages, self.worker.exclude_tasks
                )
            except DatabaseError:
                logger.exception("Could not claim %d job(s) of %s; their messages go back to it", len(messages), queue)
                for delivery, _message in claimable:
                    if delivery.queue == queue:
                        self.consumer.reject(delivery.tag, requeue=True)
                self.worker.wakeup.wait(DATABASE_BACKOFF)
        claimed_at = time.monotonic()
        jobs = [job for queue_jobs in claimed.values() for job in queue_jobs]
        claimable = [(delivery, message) for delivery, message in claimable if delivery.queue in claimed]
        if not claimable:
            return 0
        # Optimization: an idle pool starts the jobs first, so a job's start does not wait
        # for the acks to be written; a busy pool's jobs start once the frames are written,
        # so their threads do not take the GIL from the feed meanwhile. Their claims
        # protect them either way.
        first = self.worker.pool.idle
        if first:
            self._start(jobs, claimed_at)
        try:
            self._settle(deliveries, claimable, claimed)
        finally:
            if not first:
                self._start(jobs, claimed_at)
        return len(jobs)

    def _start(self, claimed: list[Job], claimed_at: float) -> None:
        for job in claimed:
            self.worker.submit(job, claimed_at)

    def _settle(
        self,
        deliveries: list[amqp.Delivery],
        claimable: list[tuple[amqp.Delivery, JobMessage]],
        claimed: dict[str, list[Job]],
    ) -> None:
        # What each claimed row was when its message was published.
        taken = {(job.pk, job.attempts - 1, job.task_path) for jobs in claimed.values() for job in jobs}
        others = [m for _delivery, m in claimable if (m.job_id, m.attempts, m.task_path) not in taken]
        excluded = self.worker.exclude_tasks
        problems = message_problems(others, excluded) if others else {}
        again: set[int] = set()
        for queue, jobs in claimed.items():
            mine = [(delivery, message) for delivery, message in claimable if delivery.queue == queue]
            messages = [message for _delivery, message in mine]
            indexes = message_claims.returned(self.queue_names[queue], messages, jobs, problems, excluded)
            again.update(mine[index][0].tag for index in indexes)
        settled = len(claimable) == len(deliveries) and not self.held and not again
        for delivery, message in claimable:
            problem = problems.get(message)
            if delivery.tag in again:
                self.consumer.reject(delivery.tag, requeue=True)
            elif problem is not None:
                self._dead_letter(delivery, problem, ack=not settled)
            elif not settled:
                self.consumer.ack(delivery.tag)
        if settled:
            # Optimization: one frame acks the whole batch.
            self.consumer.ack(deliveries[-1].tag, multiple=True)

    def _hold(self, delivery: amqp.Delivery) -> None:
        """Keep a message that found every slot busy, for a slot that frees within ``HOLD``."""
        if not self.held:
            self.held_since = time.monotonic()
        self.held.append(delivery)

    def _give_back(self) -> None:
        """Return held messages to their queues, and stop consuming until a slot frees."""
        self.parked = True
        self.consumer.pause()
        for delivery in self.held:
            self.consumer.reject(delivery.tag, requeue=True)
        self.held = []

    def _dead_letter(self, delivery: amqp.Delivery, reason: str, *, ack: bool = True) -> None:
        logger.error("Dead-lettered a message from %s: %s", delivery.queue, reason)
        dead_letter(delivery.body, delivery.queue, reason, self.worker.label)
        if ack:
            self.consumer.ack(delivery.tag)


def _listens(worker: Fed) -> bool:
    """Whether the worker's broker feed also claims on the notification of a new job.

    Not for a worker that excludes tasks: a claim by id does not know the task.
    """
    return not worker.exclude_tasks and wakeups.supported()
