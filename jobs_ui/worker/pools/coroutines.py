"""The async pool: jobs as coroutines on one event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async

from jobs_ui.jobs.run import arun_claimed
from jobs_ui.models import Job
from jobs_ui.worker.pools.base import BasePool

logger = logging.getLogger(__name__)

# Threads for the database work of the jobs on the loop (claims stay in the worker's
# main thread); sync tasks run where Django's Task.acall puts them.
DATABASE_THREADS = 8


class AsyncPool(BasePool):
    """Jobs as coroutines on one event loop: many in flight at once, for async tasks.

    A cancel request reaches the task through ``context.cancel_requested``; one it
    ignores is cancelled at its next ``await`` after ``HARD_STOP_GRACE``, like a
    task past its timeout.
    """

    name = "async"
    supports_hard_stop = True

    def __init__(self, concurrency: int, on_slot_free: Callable[[], None] = lambda: None) -> None:
        super().__init__(concurrency, on_slot_free)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="jobs_ui-event-loop", daemon=True)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._executor = ThreadPoolExecutor(DATABASE_THREADS, thread_name_prefix="jobs_ui-db")

    def start(self) -> None:
        self._loop.set_default_executor(self._executor)
        self._thread.start()

    def _start(self, job: Job) -> None:
        asyncio.run_coroutine_threadsafe(self._run(job), self._loop)

    def _hard_stop(self, job: Job) -> None:
        task = self._tasks.get(str(job.pk))
        if task is not None:
            self._loop.call_soon_threadsafe(task.cancel)

    def close(self) -> None:
        # Closing the loop shuts its executor down; each thread's connection goes with it.
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)

    async def _run(self, job: Job) -> None:
        key = str(job.pk)
        task = asyncio.current_task()
        assert task is not None
        self._tasks[key] = task
        try:
            await arun_claimed(job)
        except asyncio.CancelledError:
            entry = self._entry(job)
            if entry is not None and entry.stopping != "shutdown":
                await sync_to_async(self._record_stop, thread_sensitive=False)(entry)
        except BaseException:
            # SystemExit or KeyboardInterrupt out of a coroutine would stop the event loop.
            logger.exception("Job %s crashed its runner", job.pk)
        finally:
            self._tasks.pop(key, None)
            self._finished(job)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()
