"""Background jobs for Django with live progress in the browser."""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "JobContext",
    "JobTask",
    "Retry",
    "cancel",
    "enqueue_many",
    "launch",
    "launch_with",
    "panel_response",
    "schedule",
]

# Optimization: models must not be imported before the app registry is ready,
# so the public API is resolved lazily.
_LAZY = {
    "JobContext": "jobs_ui.context",
    "JobTask": "jobs_ui.backend",
    "Retry": "jobs_ui.exceptions",
    "cancel": "jobs_ui.jobs.cancel",
    "enqueue_many": "jobs_ui.jobs.bulk",
    "launch": "jobs_ui.jobs.create",
    "launch_with": "jobs_ui.jobs.create",
    "panel_response": "jobs_ui.views",
    "schedule": "jobs_ui.jobs.schedules",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jobs_ui' has no attribute {name!r}")
