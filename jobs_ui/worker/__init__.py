"""The worker process: its loop, options, feeds, pools, outcome writer and the supervisor of ``--processes``."""

from __future__ import annotations
