"""SQL the ORM cannot say, and the mechanisms of each database: claim and final-write statements,
SQLite write turns and wake-up sockets, PostgreSQL LISTEN/NOTIFY, slots given to idle workers."""

from __future__ import annotations
