"""Hot-path SQL: the claim ``UPDATE ... RETURNING``, the new job's INSERT, the dispatch mark and lease renewal.

They need ``RETURNING``: jobs_ui runs on PostgreSQL and SQLite 3.35+ (system check ``jobs_ui.E007``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable, Sequence
from functools import cache
from typing import Any

from django.db import connections, transaction
from django.db.models import Field

from jobs_ui.db.assignment import assigned_note, assigned_to, assigned_values, taken_slot
from jobs_ui.db.sql import bound_cursor, columns, fetch_jobs, now_sql, quote, table, to_python
from jobs_ui.db.write_turns import write_turn
from jobs_ui.models import Job, JobStatus

# A READY attempt a message was published for: (job id, attempts, task path).
Wanted = tuple[uuid.UUID, int | None, str | None]

# The most rows one dispatch mark names on SQLite (two parameters each).
MARKS_PER_STATEMENT = 500

_subqueries: dict[tuple[str, Hashable, int], tuple[str, list[Any]]] = {}


def claim_wanted(alias: str, worker_id: str, wanted: Sequence[Wanted]) -> list[Job]:
    """Claim those of the ``wanted`` rows that are due and READY in that attempt, in one statement."""
    connection = connections[alias]
    alternatives, params = [], []
    for job_id, attempts, task_path in wanted:
        where = [f"{quote(alias, 'id')} = %s"]
        params.append(Job._meta.pk.get_db_prep_value(job_id, connection))
        if attempts is not None:
            where.append(f"{quote(alias, 'attempts')} = %s")
            params.append(attempts)
        if task_path is not None:
            where.append(f"{quote(alias, 'task_path')} = %s")
            params.append(task_path)
        alternatives.append(f"({' AND '.join(where)})")
    return _claim(alias, worker_id, f"({' OR '.join(alternatives)})", params)


def claim_first(alias: str, worker_id: str, key: Hashable, candidates: Callable[[], Any], limit: int) -> list[Job]:
    """Claim the first ``limit`` rows of the queryset ``candidates()`` (due READY rows in claim order).

    Its SQL is compiled once per ``key`` (the filters that make the queryset).
    """
    subquery = _subqueries.get((alias, key, limit))
    if subquery is None:
        sql, params = candidates().values_list("pk", flat=True)[:limit].query.get_compiler(alias).as_sql()
        if connections[alias].features.has_select_for_update_skip_locked:
            # Rows another worker is claiming right now are skipped, not waited for.
            sql += " FOR UPDATE SKIP LOCKED"
        subquery = _subqueries[(alias, key, limit)] = (sql, list(params))
    sql, params = subquery
    if connections[alias].vendor == "postgresql":
        # Not "IN (subquery)": PostgreSQL may run that as a semi-join that evaluates
        # the LIMIT once per outer row, claiming more rows than asked for.
        return _claim(alias, worker_id, f"{quote(alias, 'id')} = ANY(ARRAY({sql}))", list(params))
    return _claim(alias, worker_id, f"{quote(alias, 'id')} IN ({sql})", list(params))


def insert_job(alias: str, job: Job, *, notify: str = "", assign: bool = False) -> None:
    """INSERT the new ``job`` (in the caller's transaction, if any); ``enqueued_at`` comes from the database.

    With ``notify`` (PostgreSQL), the same statement sends ``NOTIFY notify, 'queue_name id'``,
    delivered when the row is committed (``jobs_ui.db.wakeups``). With ``assign`` (PostgreSQL,
    with ``notify``), it also takes a free slot a worker offers for the job's queue, if
    any: the row is then written RUNNING for that worker, and the note names it, with no
    job data (``jobs_ui.db.assignment``).
    """
    connection = connections[alias]
    fields, sql = _insert_statement(alias, bool(notify), assign)
    defaults = _prepared_defaults(alias)
    params = []
    for field in fields:
        value = getattr(job, field.attname)
        default = defaults.get(field.attname)
        if default is not None and type(value) is type(default[0]) and value == default[0]:
            params.append(default[1])
        else:
            params.append(field.get_db_prep_save(field.pre_save(job, True), connection))
    if assign:
        params.insert(0, job.queue_name)
    if notify:
        params.append(notify)
    with write_turn(alias), bound_cursor(alias) as cursor:
        cursor.execute(sql, params)
        enqueued_at, *assigned = cursor.fetchone()
    job.enqueued_at = to_python(alias, "enqueued_at", enqueued_at)
    if assigned and assigned[0]:
        assigned_to(job, assigned[0])
    job._state.adding = False
    job._state.db = alias


@cache
def _insert_statement(alias: str, notify: bool, assign: bool = False) -> tuple[list[Field[Any, Any]], str]:
    # enqueued_at is left to its database default (the database's clock).
    fields = [field for field in Job._meta.concrete_fields if field.attname != "enqueued_at"]
    columns = ", ".join(quote(alias, str(field.column)) for field in fields)
    returning = quote(alias, "enqueued_at")
    prefix = ""
    if assign:
        prefix = taken_slot(alias)
        placeholders = ", ".join(assigned_values([str(field.column) for field in fields]))
        returning += f", {quote(alias, 'worker_id')}"
    else:
        placeholders = ", ".join(["%s"] * len(fields))
    if notify:
        note = f"{quote(alias, 'queue_name')} || ' ' || {quote(alias, 'id')}::text"
        if assign:
            note += assigned_note(alias)
        returning += f", pg_notify(%s, {note})"
    sql = f"{prefix}INSERT INTO {table(alias)} ({columns}) VALUES ({placeholders}) RETURNING {returning}"
    return fields, sql


def constant_default(field: Field[Any, Any], *, containers: bool = False) -> bool:
    """Whether a new row's value of ``field`` is always the same: a constant default, or None.

    With ``containers``, an empty list or dict default counts too (for a value that is never changed).
    """
    if not field.has_default():
        return bool(field.null)
    return not callable(field.default) or containers and field.default in (list, dict)


@cache
def _prepared_defaults(alias: str) -> dict[str, tuple[Any, Any]]:
    """``attname: (default, its database value)`` of the fields whose default is a constant.

    Optimization: a new job leaves most fields at their defaults, and preparing each
    field's value for the database cost more than the rest of building the INSERT.
    """
    connection = connections[alias]
    prepared = {}
    for field in Job._meta.concrete_fields:
        # The database value prepared here is never changed, so an empty list or dict is one too.
        if constant_default(field, containers=True):
            value = field.get_default()
            prepared[field.attname] = (value, field.get_db_prep_save(value, connection))
    return prepared


def mark_dispatched(alias: str, attempts: Sequence[tuple[Any, int]]) -> None:
    """Set ``dispatched_at`` of the rows still READY in these ``(job id, attempts)``.

    On PostgreSQL, rows a worker is claiming right now are skipped, and the mark is committed
    without waiting for the disk: see ``jobs_ui.jobs.marks.mark_dispatched``.
    """
    connection = connections[alias]
    ids = [Job._meta.pk.get_db_prep_value(job_id, connection) for job_id, _ in attempts]
    numbers = [number for _, number in attempts]
    jobs, pk, status, dispatched, attempt = (
        table(alias),
        quote(alias, "id"),
        quote(alias, "status"),
        quote(alias, "dispatched_at"),
        quote(alias, "attempts"),
    )
    if connection.vendor != "postgresql":
        with write_turn(alias), transaction.atomic(using=alias), bound_cursor(alias) as cursor:
            for start in range(0, len(ids), MARKS_PER_STATEMENT):
                chunk = range(start, min(start + MARKS_PER_STATEMENT, len(ids)))
                which = " OR ".join([f"{pk} = %s AND {attempt} = %s"] * len(chunk))
                cursor.execute(
                    f"UPDATE {jobs} SET {dispatched} = {now_sql(alias)} "
                    f"WHERE {status} = %s AND {dispatched} IS NULL AND ({which})",
                    [JobStatus.READY.value, *(value for i in chunk for value in (ids[i], numbers[i]))],
                )
        return
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(
            f"UPDATE {jobs} SET {dispatched} = {now_sql(alias)} WHERE {pk} IN (SELECT {pk} FROM {jobs} "
            f"WHERE ({pk}, {attempt}) IN (SELECT * FROM unnest(%s::uuid[], %s::integer[])) "
            f"AND ({status} = %s) IS TRUE AND {dispatched} IS NULL FOR UPDATE SKIP LOCKED)",
            [ids, numbers, JobStatus.READY.value],
        )


def renew_leases(alias: str, worker_id: str) -> int:
    """PostgreSQL: set ``heartbeat_at`` of the RUNNING rows of ``worker_id`` that no other session has locked.

    One statement: outside a transaction it commits by itself, so a worker frozen once it
    has sent it holds no lock.
    """
    jobs, pk = table(alias), quote(alias, "id")
    with bound_cursor(alias) as cursor:
        cursor.execute(
            f"UPDATE {jobs} SET {quote(alias, 'heartbeat_at')} = {now_sql(alias)} WHERE {pk} IN (SELECT {pk} "
            f"FROM {jobs} WHERE {quote(alias, 'worker_id')} = %s AND {quote(alias, 'status')} = %s "
            "FOR UPDATE SKIP LOCKED)",
            [worker_id, JobStatus.RUNNING.value],
        )
        return int(cursor.rowcount)


# The rows of these statements are found by primary key. Their status test is written
# "(status = %s) IS TRUE": PostgreSQL cannot match that to the partial indexes on status,
# so with stale statistics (a queue that grew since the last ANALYZE) it still looks
# the rows up by id instead of reading every READY or RUNNING row of the index.


def _claim(alias: str, worker_id: str, where: str, params: list[Any]) -> list[Job]:
    now = now_sql(alias)
    if connections[alias].vendor == "postgresql":
        append = f"{quote(alias, 'worker_ids')} || to_jsonb(%s::text)"
    else:
        append = f"json_insert({quote(alias, 'worker_ids')}, '$[#]', %s)"
    status, run_after, attempts = quote(alias, "status"), quote(alias, "run_after"), quote(alias, "attempts")
    sql = (
        f"UPDATE {table(alias)} SET {status} = %s, {attempts} = {attempts} + 1, "
        f"{quote(alias, 'started_at')} = COALESCE({quote(alias, 'started_at')}, {now}), "
        f"{quote(alias, 'last_attempted_at')} = {now}, {quote(alias, 'heartbeat_at')} = {now}, "
        f"{quote(alias, 'worker_id')} = %s, {quote(alias, 'worker_ids')} = {append} "
        f"WHERE {where} AND ({status} = %s) IS TRUE "
        f"AND ({run_after} IS NULL OR {run_after} <= {now}) "
        f"RETURNING {columns(alias)}"
    )
    with write_turn(alias):
        rows = fetch_jobs(alias, sql, [JobStatus.RUNNING.value, worker_id, worker_id, *params, JobStatus.READY.value])
    # RETURNING has no order: the pool gets them in claim order.
    return sorted(rows, key=lambda job: (-job.priority, job.enqueued_at, str(job.pk)))
