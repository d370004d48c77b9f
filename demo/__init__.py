"""The demo site that ``make demo`` runs."""

from __future__ import annotations
