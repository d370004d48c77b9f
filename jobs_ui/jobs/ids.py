"""Job ids that sort in the order they were made: UUIDv7 (RFC 9562), as Python 3.14's ``uuid.uuid7``.

Jobs that share ``enqueued_at`` are claimed in the order of their ids, first in, first out.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

# The claim order is -priority, enqueued_at, id. Jobs written in one transaction
# (PostgreSQL's now()) or one statement (SQLite's) share enqueued_at, so the id must
# keep them first in, first out. PostgreSQL compares uuid values bytewise and SQLite
# stores them as 32 hex digits: both sort these ids by the time they were made.
#
# Layout (RFC 9562, method 1): 48 bits of Unix time in milliseconds, the version (7), a
# 12-bit counter, the variant, then 62 random bits. The counter starts each millisecond
# at a random value whose top bit is clear and goes up by one per id; should it overflow,
# the timestamp moves on by a millisecond. Ids made in one process therefore strictly
# increase, even when the clock goes back, and each id keeps 62 random bits: a public
# job's link cannot be guessed from a neighbour's.
_COUNTER_BITS = 12
_COUNTER_MAX = (1 << _COUNTER_BITS) - 1
_TIMESTAMP_MAX = (1 << 48) - 1
_RANDOM_BITS = 62

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def first_id_at(ms: int) -> uuid.UUID:
    """The lowest id a job made at Unix time ``ms`` (milliseconds) can have: with the highest one of the
    millisecond before, a bound for the primary key's index that stands for a time range."""
    return uuid.UUID(int=max(0, min(ms, _TIMESTAMP_MAX)) << 80)


def new_job_id() -> uuid.UUID:
    """A new UUIDv7: greater than every id made before it in this process."""
    global _last_ms, _counter
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms, _counter = now_ms, _random_counter()
        elif _counter < _COUNTER_MAX:
            _counter += 1
        else:
            _last_ms, _counter = _last_ms + 1, _random_counter()
        timestamp, counter = _last_ms & _TIMESTAMP_MAX, _counter
    tail = int.from_bytes(os.urandom(8)) >> (64 - _RANDOM_BITS)
    value = timestamp << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | tail
    return uuid.UUID(int=value)


def _random_counter() -> int:
    # The top bit stays clear, so the counter has room to count up within the millisecond.
    return int.from_bytes(os.urandom(2)) >> (16 - _COUNTER_BITS + 1)
