"""The worker process: takes worker jobs, runs them in a pool, heartbeats, recovers lost jobs."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from types import FrameType

from django.db import connections, router
from django.db.models import Q

from jobs_ui.broker import amqp
from jobs_ui.broker.dispatch import sweep
from jobs_ui.conf import get_config
from jobs_ui.db import assignment
from jobs_ui.db.write_turns import write_turn
from jobs_ui.events import send_batch
from jobs_ui.exceptions import BrokerError
from jobs_ui.jobs import worker_rows
from jobs_ui.jobs.expire import expire_jobs
from jobs_ui.jobs.finish import (
    announce_outcomes,
    batch_outcome_counts,
    flush_outcome_counts,
    hand_back,
    write_outcomes,
)
from jobs_ui.jobs.recover import recover_lost_jobs, renew_leases, still_held
from jobs_ui.jobs.schedule_runs import run_due_schedules, sync_schedules
from jobs_ui.models import Job, WorkerKind, WorkerState
from jobs_ui.models import Worker as WorkerRow
from jobs_ui.worker import batching
from jobs_ui.worker.broker_feed import BrokerFeed
from jobs_ui.worker.database_feed import feed_from_database
from jobs_ui.worker.options import WorkerOptions
from jobs_ui.worker.pools import make_pool

logger = logging.getLogger(__name__)

# What the worker process exits with, for a process supervisor to act on (README: Worker processes).
EXIT_OK = 0
"""Stopped as asked (a signal, --max-jobs, --until-done, --timeout) with every running job finished."""
EXIT_CRASHED = 1
"""The worker failed; its running jobs were handed back as READY."""
EXIT_INTERRUPTED = 75
"""Stopped before its running jobs finished: handed back as READY at the end of ``SHUTDOWN_GRACE``, or,
after a second signal, left to the recovery of their lapsed lease (sysexits' EX_TEMPFAIL: try again)."""

# Seconds between two passes over running jobs (cancel requests, hard limits).
ENFORCE_INTERVAL = 0.2
# Seconds between two looks at the schedules (their cron may count seconds).
SCHEDULE_TICK = 1.0
# Seconds before trying RabbitMQ again after it failed; meanwhile jobs are claimed from the database.
BROKER_RETRY = 2.0
# Python's default is 5 ms: the longest a thread back from a socket may wait for the GIL.
SWITCH_INTERVAL = 0.0005
# Ids of jobs given to this worker remembered, so none starts twice here.
SEEN_LIMIT = 10_000


class Worker:
    """Takes worker jobs from RabbitMQ (or the database) and runs them until stopped.

    ``run()`` blocks. SIGINT/SIGTERM (or ``stop()``) stops taking jobs, lets running
    ones finish within ``SHUTDOWN_GRACE`` and hands the rest back as READY; a second
    signal exits at once, and the jobs are recovered when their lease expires.
    """

    def __init__(self, options: WorkerOptions | None = None) -> None:
        self.options = options = options or WorkerOptions()
        self.queues = options.consumed_queues()
        self.exclude_tasks = sorted(options.exclude_tasks)
        host, pid = socket.gethostname(), os.getpid()
        self.id = f"worker-{host}-{pid}-{uuid.uuid4().hex[:8]}"[-64:]
        self.label = (options.label or "{host} {pid}").replace("{pid}", str(pid)).replace("{host}", host)
        self.pool = make_pool(options.pool, options.resolved_concurrency(), self._wake)
        self.wakeup = threading.Event()
        self.wakers: list[Callable[[], None]] = []
        self.taken = 0
        self._taken_lock = threading.Lock()
        # --rate-limit: whether a job was taken since the pool was last seen empty, when it was, and
        # whether the feeds were told that the wait is over.
        self._rate_busy = False
        self._last_end: float | None = None
        self._rate_woken = False
        # Free slots offered to new jobs (jobs_ui.db.assignment), once run() has begun; None when not offered.
        self.offers: assignment.SlotOffers | None = None
        # Ids of jobs given here that were started or are being picked up, newest last.
        self._seen: set[uuid.UUID] = set()
        self._seen_order: deque[uuid.UUID] = deque()
        # A claim older than this (seconds) is checked before its job starts; see submit().
        self.stale_claim = get_config()["HEARTBEAT_TIMEOUT"] / 2
        self._stopping = threading.Event()
        self._closed = threading.Event()
        self._signals = 0
        self._state = WorkerState.ONLINE

    def taking(self) -> bool:
        """Whether the worker still takes new jobs."""
        max_jobs = self.options.max_jobs
        return not self._stopping.is_set() and (max_jobs is None or self.taken < max_jobs)

    def capacity(self) -> int:
        """How many more jobs to take now."""
        if not self.taking():
            return 0
        left = self.pool.free
        writer = batching.writer()
        if writer is not None:
            left -= writer.excess
        if self.options.max_jobs is not None:
            left = min(left, self.options.max_jobs - self.taken)
        if self.options.rate_limit is not None:
            left = min(left, self._rate_limited(self.options.rate_limit))
        return max(left, 0)

    def _rate_limited(self, seconds: float) -> int:
        """``--rate-limit``: one job at a time, and none within ``seconds`` of the last one's end (0 or 1)."""
        with self._taken_lock:
            now = time.monotonic()
            if self._rate_busy:
                if not self.pool.idle:
                    return 0
                # Its end is seen by the first look once the pool is empty (at most ENFORCE_INTERVAL late).
                self._rate_busy, self._last_end = False, now
            return 0 if self._last_end is not None and now < self._last_end + seconds else 1

    def submit(self, job: Job, claimed_at: float | None = None) -> bool:
        """Start ``job``, claimed by this worker at ``claimed_at`` (``time.monotonic()``); whether it started.

        A claim older than half the heartbeat timeout is checked first: the process may have
        been frozen since (SIGSTOP, a paused machine) long enough for its lease to expire and
        another attempt to take the job over, and then this attempt must not start.
        """
        stale = claimed_at is not None and time.monotonic() - claimed_at > self.stale_claim
        if stale and not still_held(job, self.id):
            logger.warning("Job %s attempt %s was taken over while this worker stood still", job.pk, job.attempts)
            return False
        with self._taken_lock:
            self.taken += 1
            self._rate_busy = self.options.rate_limit is not None
        self.pool.submit(job)
        return True

    def assigned(self) -> tuple[str, Callable[[str], object]] | None:
        """What a listener of this worker calls for a job given to it (``wakeups.listening(assigned=...)``)."""
        return (self.id, self.take_assigned) if self.offers is not None else None

    def take_assigned(self, job_id: str) -> bool:
        """From the listener's thread: start the job ``job_id`` given to this worker (``jobs_ui.db.assignment``).

        The note only names it: the job is what the pick-up reads from its row, if that row
        says it was given here and not picked up yet.
        """
        return self.pick_up(assignment.note_job_ids(job_id)) > 0

    def free_slots(self) -> int:
        """Slots without a job, for offers: a reserve (claimed jobs waiting for a slot) is not offered."""
        return min(self.capacity(), self.pool.concurrency - len(self.pool.running()))

    def _taken(self, count: int) -> None:
        if self.offers is not None:
            self.offers.taken(count, self.free_slots())

    def pick_up(self, job_ids: Iterable[uuid.UUID]) -> int:
        """Read, mark and start jobs given to this worker that it has not seen; how many started."""
        ids = [job_id for job_id in job_ids if self._first_sight(job_id)]
        if not ids:
            return 0
        try:
            jobs = assignment.pick_up(router.db_for_write(Job), self.id, ids)
        except Exception:
            with self._taken_lock:
                self._seen.difference_update(ids)
            logger.exception("Could not pick up job(s) %s given to this worker; the heartbeat tries again", ids)
            return 0
        if not jobs:
            # None was given here (a note anyone could send): the offers stand as they are.
            return 0
        picked_at = time.monotonic()
        started = sum(self._start_assigned(job, picked_at) for job in jobs)
        self._taken(len(jobs))
        return started

    def _first_sight(self, job_id: uuid.UUID) -> bool:
        # A job given here starts once: from its note, or from the heartbeat's look for missed ones.
        with self._taken_lock:
            if job_id in self._seen:
                return False
            self._seen.add(job_id)
            self._seen_order.append(job_id)
            if len(self._seen_order) > SEEN_LIMIT:
                self._seen.discard(self._seen_order.popleft())
            return True

    def _start_assigned(self, job: Job, picked_at: float) -> bool:
        # Offers are withdrawn a moment after the slots fill: a job given meanwhile that
        # finds no free slot goes back as READY for another worker, as a stopping worker
        # hands back what it did not start.
        if self.capacity() > 0:
            return self.submit(job, picked_at)
        if hand_back(job):
            logger.info("Job %s was given to this worker while it had no free slot; handed back", job.pk)
        return False

    def _release_assigned(self) -> None:
        """Withdraw the offers, and hand back what was given to this worker and never reached it."""
        if self.offers is None:
            return
        alias = router.db_for_write(Job)
        try:
            self.offers.busy()
            unpicked = assignment.unpicked(alias, self.id)
            with self._taken_lock:
                # One that began here but whose mark was not written is this worker's to finish.
                unseen = [job_id for job_id in unpicked if job_id not in self._seen]
            for job in Job.objects.using(alias).filter(pk__in=unseen):
                if hand_back(job):
                    logger.info("Handed back job %s, given to this worker as it stopped", job.pk)
        except Exception:
            logger.exception("Could not release the jobs given to this worker")

    def has_finished(self) -> bool:
        """``--until-done``: nothing runs here, and no due READY job or waiting retry is left for this worker.

        A job delayed by ``run_after`` on its first attempt does not keep the worker.
        """
        if not self.options.until_done or not self.pool.idle:
            return False
        mine = Job.objects.ready().filter(executor="worker", queue_name__in=self.queues)
        mine = mine.exclude(task_path__in=self.exclude_tasks)
        return not mine.filter(Q(attempts__gt=0) | Q(pk__in=Job.objects.due().values("pk"))).exists()

    def stop(self) -> None:
        """Stop taking jobs; running ones get ``SHUTDOWN_GRACE`` seconds (what the first signal does)."""
        self._stopping.set()
        self._wake()

    def run(self) -> int:
        """Serve until stopped, ``--max-jobs``, ``--until-done`` or ``--timeout``; returns the exit code:
        ``EXIT_OK``, ``EXIT_INTERRUPTED`` when running jobs had to be handed back, ``EXIT_CRASHED``."""
        self._install_signals()
        if self.options.timeout is not None:
            timer = threading.Timer(self.options.timeout, self._time_is_up)
            timer.daemon = True
            timer.start()
        # Optimization: threads here mostly wait on sockets (broker, database) for
        # short moments; each must get the GIL back soon after, not after 5 ms.
        sys.setswitchinterval(SWITCH_INTERVAL)
        batch_outcome_counts()
        # Outcomes waiting to be written hold back new jobs once they are four times the slots.
        batching.start(
            write_outcomes,
            announce_outcomes,
            self._wake,
            backlog=4 * self.pool.window,
            send=send_batch if get_config()["AMQP_URL"] else None,
        )
        self.pool.start()
        worker_rows.register(
            self.id,
            WorkerKind.PROCESS,
            label=self.label,
            concurrency=self.pool.concurrency,
            queues=self.queues,
            pool=self.options.pool,
        )
        alias = router.db_for_write(Job)
        if assignment.enabled(alias) and not self.exclude_tasks:
            beat = self.options.heartbeat or get_config()["HEARTBEAT_INTERVAL"]
            self.offers = assignment.SlotOffers(alias, self.id, self.queues, ttl=2 * beat + 1)
        housekeeping = threading.Thread(target=self._housekeeping, name="jobs_ui-housekeeping", daemon=True)
        housekeeping.start()
        logger.info("Worker %s (%s) serving %s", self.id, self.label, ", ".join(self.queues))
        code = EXIT_OK
        try:
            self._feed()
            self._release_assigned()
            if self._drain():
                code = EXIT_INTERRUPTED
            self._state = WorkerState.STOPPED
        except Exception:
            logger.exception("Worker %s crashed", self.id)
            self._state, code = WorkerState.CRASHED, EXIT_CRASHED
            self._release_assigned()
            self._hand_back([*self.pool.revoke_waiting(), *self.pool.stop_now()])
        finally:
            # What is still waiting is written while the heartbeat keeps the leases.
            batching.stop()
            self._closed.set()
            housekeeping.join()
            try:
                self.pool.close()
            except Exception:
                logger.exception("Could not close the %s pool", self.pool.name)
            worker_rows.stopped(self.id, self._state)
            amqp.close()
            connections.close_all()
        logger.info("Worker %s stopped after %d job(s)", self.id, self.taken)
        return code

    def _feed(self) -> None:
        use_broker = bool(get_config()["AMQP_URL"])
        retry_at = 0.0
        while self.taking():
            if use_broker and time.monotonic() >= retry_at:
                try:
                    BrokerFeed(self).run()
                    return
                except BrokerError as e:
                    logger.warning("RabbitMQ failed (%s); claiming from the database until it is back", e)
                    retry_at = time.monotonic() + BROKER_RETRY
            if feed_from_database(self, until=retry_at if use_broker else None):
                return

    def _drain(self) -> bool:
        """Let the running jobs finish (within ``SHUTDOWN_GRACE`` once stopped); whether some had to be handed back."""
        while not self._stopping.is_set() and not self.pool.wait_idle(ENFORCE_INTERVAL):
            pass
        if not self._stopping.is_set():
            return False
        self._state = WorkerState.STOPPING
        worker_rows.set_state(self.id, self._state)
        # Reserved jobs that have not begun go back at once; running ones get the grace.
        self._hand_back(self.pool.revoke_waiting())
        if self.pool.wait_idle(get_config()["SHUTDOWN_GRACE"]):
            return False
        interrupted = self.pool.stop_now()
        self._hand_back(interrupted)
        return bool(interrupted)

    def _time_is_up(self) -> None:
        logger.warning("--timeout: %g s are up; taking no new jobs", self.options.timeout)
        self.stop()

    def _hand_back(self, jobs: Iterable[Job]) -> None:
        for job in jobs:
            current = self.pool.current(job)
            if current is not None and hand_back(current):
                logger.warning("Handed job %s back as READY", job.pk)

    def _housekeeping(self) -> None:
        config = get_config()
        beat_every = self.options.heartbeat or config["HEARTBEAT_INTERVAL"]
        sweep_every = config["DISPATCH_SWEEP_INTERVAL"] if config["AMQP_URL"] else None
        schedules = self._schedules_ready()
        next_beat = next_sweep = next_schedules = 0.0
        try:
            while not self._closed.is_set():
                now = time.monotonic()
                if now >= next_beat:
                    self._beat()
                    next_beat = now + beat_every
                if sweep_every is not None and now >= next_sweep:
                    next_sweep = now + min(sweep_every, self._sweep() or sweep_every)
                if schedules and now >= next_schedules and not self._stopping.is_set():
                    self._run_schedules()
                    next_schedules = now + SCHEDULE_TICK
                if self.options.rate_limit is not None:
                    self._wake_when_rate_allows()
                try:
                    self.pool.enforce()
                    flush_outcome_counts()
                except Exception:
                    logger.exception("Could not check running jobs")
                wait = min(ENFORCE_INTERVAL, next_beat - now, (next_sweep - now) if sweep_every else ENFORCE_INTERVAL)
                self._closed.wait(max(wait, 0.01))
        finally:
            flush_outcome_counts()
            amqp.close()
            connections.close_all()

    def _wake_when_rate_allows(self) -> None:
        # Looked at every ENFORCE_INTERVAL: the feeds learn at once that the wait after a job is over.
        allowed = self.capacity() > 0
        if allowed and not self._rate_woken:
            self._wake()
        self._rate_woken = allowed

    def _schedules_ready(self) -> bool:
        """Whether this worker runs schedules: not with ``--no-schedules``; their rows made first."""
        if not self.options.schedules:
            return False
        try:
            return bool(sync_schedules())
        except Exception:
            logger.exception("Could not read the schedules; this worker runs none")
            return False

    def _run_schedules(self) -> None:
        try:
            made = run_due_schedules()
        except Exception:
            logger.exception("Could not run the schedules")
            return
        if made:
            logger.info("Schedules made %d job(s)", made)

    def _beat(self) -> None:
        try:
            # Judged by the database's clock: the lease of every job running here.
            with write_turn(router.db_for_write(WorkerRow)):
                worker_rows.beat(self.id, self._state)
                renew_leases(self.id)
            if self.offers is not None:
                self.offers.renew()
                # Given to this worker and never picked up: its note was missed.
                missed = assignment.unpicked(self.offers.alias, self.id, older_than=assignment.UNPICKED_AFTER)
                if missed:
                    self.pick_up(missed)
            if recover_lost_jobs():
                self._wake()
            expire_jobs()
        except Exception:
            logger.exception("Heartbeat failed")

    def _sweep(self) -> float | None:
        try:
            return sweep()
        except BrokerError as e:
            logger.info("Dispatch sweep skipped: %s", e)
        except Exception:
            logger.exception("Dispatch sweep failed")
        return None

    def _wake(self) -> None:
        self.wakeup.set()
        for waker in list(self.wakers):
            waker()

    def _install_signals(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._on_signal)
            signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1
        name = signal.Signals(signum).name
        if self._signals == 1:
            grace = get_config()["SHUTDOWN_GRACE"]
            logger.warning("%s: taking no new jobs; running ones get %g s (send it again to stop at once)", name, grace)
            self.stop()
            return
        logger.warning("%s again: stopping at once; running jobs are recovered once their lease expires", name)
        self.pool.kill()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
