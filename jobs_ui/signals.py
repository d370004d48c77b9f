"""Signal receivers: a web process starts its thread pool with its first request."""

from __future__ import annotations

from typing import Any

from django.core.signals import request_started
from django.dispatch import receiver

from jobs_ui.conf import get_config


@receiver(request_started)
def _start_thread_pool(**kwargs: Any) -> None:
    # A web process starts its pool with its first request, so thread jobs left
    # READY (or RUNNING by a process that died) are picked up after a restart
    # without waiting for a new launch. It also decides what the pool does at exit
    # (jobs_ui.executors.thread.ThreadExecutor).
    from jobs_ui.executors import thread_executor

    request_started.disconnect(_start_thread_pool)
    executor = thread_executor()
    executor.note_request()
    if get_config()["THREAD_AUTOSTART"]:
        executor.start()
