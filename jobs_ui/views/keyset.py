"""Keyset pages of jobs, newest first, on ``(enqueued_at, id)``: the link to the next page carries where this one ended."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from django.db import connections
from django.db.models import CharField, Func, Q, Value
from django.utils import timezone

from jobs_ui.models import Job, JobQuerySet


def encode_cursor(job: Job) -> str:
    return f"{job.enqueued_at.isoformat()}~{job.pk}"


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """``ValueError`` when the cursor was not made by ``encode_cursor``."""
    stamp, sep, job_id = cursor.rpartition("~")
    if not sep:
        raise ValueError(cursor)
    when = datetime.fromisoformat(stamp)
    if timezone.is_naive(when):
        raise ValueError(cursor)
    try:
        # Every database compares in UTC: an offset that moves the time past year 1 or 9999 cannot be asked for.
        when = when.astimezone(UTC)
    except OverflowError as e:
        raise ValueError(cursor) from e
    return when, uuid.UUID(job_id)


def older_than(jobs: JobQuerySet, when: datetime, last_id: uuid.UUID) -> JobQuerySet:
    """``jobs`` after the one enqueued at ``when`` with id ``last_id``, in ``(-enqueued_at, -id)`` order."""
    # Optimization: a keyset page costs the same however far back it is; OFFSET would scan every skipped row.
    if connections[jobs.db].vendor == "sqlite":
        # SQLite compares times as text: the database's clock writes milliseconds ("…:05.123"), a
        # parameter has microseconds ("…:05.123000"), so the same time would compare as earlier.
        # Both sides are compared in the database clock's form, made by the same function.
        stamp = _Milliseconds(Value(when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"), output_field=CharField()))
        jobs = jobs.alias(enqueued_ms=_Milliseconds("enqueued_at"))
        return jobs.filter(Q(enqueued_ms__lt=stamp) | Q(enqueued_ms=stamp, id__lt=last_id))
    return jobs.filter(Q(enqueued_at__lt=when) | Q(enqueued_at=when, id__lt=last_id))


class _Milliseconds(Func):
    """A time as SQLite's clock writes it: ``YYYY-MM-DD HH:MM:SS.SSS``, as text."""

    template = "STRFTIME('%%%%Y-%%%%m-%%%%d %%%%H:%%%%M:%%%%f', %(expressions)s)"
    output_field = CharField()
