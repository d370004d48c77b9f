"""Receivers: settings changed (caches reset), and the first request of a web process (its thread pool starts)."""

from __future__ import annotations

from typing import Any

from django.core.signals import request_started, setting_changed
from django.dispatch import receiver

from jobs_ui import stores
from jobs_ui.broker import amqp, dispatch
from jobs_ui.conf import get_config
from jobs_ui.executors import thread_executor
from jobs_ui.views import links, standing, watching


@receiver(request_started)
def _start_thread_pool(**kwargs: Any) -> None:
    # A web process starts its pool with its first request, so thread jobs left
    # READY (or RUNNING by a process that died) are picked up after a restart
    # without waiting for a new launch. It also decides what the pool does at exit
    # (jobs_ui.executors.thread.ThreadExecutor).
    request_started.disconnect(_start_thread_pool)
    executor = thread_executor()
    executor.note_request()
    if get_config()["THREAD_AUTOSTART"]:
        executor.start()


@receiver(setting_changed)
def _reset_config(*, setting: str, **kwargs: Any) -> None:
    # Everything built from JOBS_UI is built again on next use.
    if setting == "JOBS_UI":
        get_config.cache_clear()
        stores.get_result_store.cache_clear()
        amqp.reset()
        dispatch.reset()
        standing.reset()
    elif setting == "ROOT_URLCONF":
        links.reset()
    elif setting == "AUTH_USER_MODEL":
        watching.reset()
