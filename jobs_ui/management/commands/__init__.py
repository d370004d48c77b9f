"""``jobs_ui_worker``, ``jobs_ui_create``, ``jobs_ui_queues`` and ``jobs_ui_prune``."""

from __future__ import annotations
