"""jobs_ui's management commands and the argument types they share."""

from __future__ import annotations
