"""Final writes of attempts on the hot path: one ``UPDATE ... RETURNING`` per attempt, or per batch on PostgreSQL.

Each write is fenced by the attempt number: an attempt that no longer owns its job
writes nothing (see ``jobs_ui.db.sql`` for why these are not ORM queries).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import Any

from django.db import connections
from django.db.models import Field
from django.db.models.expressions import Expression
from django.db.models.functions import Now

from jobs_ui.db.sql import bound_cursor, compile_expression, now_sql, quote, table, to_python
from jobs_ui.models import DbNowPlus, Job, JobStatus


def finish_attempts(alias: str, attempts: Sequence[tuple[Job, dict[str, Any]]]) -> list[tuple[Any, Any] | None]:
    """Write each ``(job, values)`` if the job's attempt still owns the row (in the caller's transaction).

    For each: ``(finished_at, result_expires_at)``, or None when another attempt owns the job.
    """
    connection = connections[alias]
    if connection.vendor == "postgresql" and len(attempts) > 1:
        rows = _finish_in_groups(alias, attempts)
    else:
        with bound_cursor(alias) as cursor:
            rows = [_write_one(cursor, alias, attempt) for attempt in attempts]
    returned = ("finished_at", "result_expires_at")
    return [
        None if row is None else (to_python(alias, returned[0], row[0]), to_python(alias, returned[1], row[1]))
        for row in rows
    ]


def _finish_in_groups(alias: str, attempts: Sequence[tuple[Job, dict[str, Any]]]) -> list[Any]:
    # Optimization: the attempts that set the same columns the same way are written by one
    # UPDATE ... FROM jsonb_to_recordset(%s), their values in one JSON document. A statement
    # per job cost PostgreSQL a parse, a plan and an execution each, and psycopg the
    # adaptation of every parameter.
    groups: dict[tuple[tuple[str, str], ...] | None, list[int]] = {}
    for index, (_job, values) in enumerate(attempts):
        groups.setdefault(_shape(alias, values), []).append(index)
    rows: list[Any] = [None] * len(attempts)
    with bound_cursor(alias) as cursor:
        for shape, indexes in groups.items():
            statement = None if shape is None else _finish_many(alias, shape, [attempts[index] for index in indexes])
            if statement is None:
                for index in indexes:
                    rows[index] = _write_one(cursor, alias, attempts[index])
                continue
            cursor.execute(*statement)
            written = {(str(job_id), attempt): (finished, expires) for job_id, attempt, finished, expires in cursor}
            for index in indexes:
                job = attempts[index][0]
                rows[index] = written.get((str(job.pk), job.attempts))
    return rows


def _write_one(cursor: Any, alias: str, attempt: tuple[Job, dict[str, Any]]) -> Any:
    cursor.execute(*_finish_statement(alias, *attempt))
    return cursor.fetchone()


def _shape(alias: str, values: dict[str, Any]) -> tuple[tuple[str, str], ...] | None:
    """How ``values`` sets each column: from a JSON value of that type, the database's clock, or the clock plus seconds.

    None when some value cannot come from JSON (another expression, a type JSON does not carry).
    """
    shape = []
    for name, value in values.items():
        if type(value) is Now:
            kind = "now"
        elif isinstance(value, DbNowPlus):
            kind = "now+"
        elif isinstance(value, Expression):
            return None
        else:
            kind = _json_type(alias, name)
            if not kind:
                return None
        shape.append((name, kind))
    return tuple(shape)


@cache
def _json_type(alias: str, name: str) -> str:
    field = Job._meta.get_field(name)
    assert isinstance(field, Field)
    kind = field.get_internal_type()
    if kind in ("CharField", "TextField"):
        # Assigned from text, so a value too long for its column is still an error.
        return "text"
    if kind == "JSONField" and getattr(field, "encoder", None) is None and getattr(field, "decoder", None) is None:
        return "jsonb"
    return {"FloatField": "double precision", "IntegerField": "integer", "BooleanField": "boolean"}.get(kind, "")


def _finish_many(
    alias: str, shape: tuple[tuple[str, str], ...], attempts: Sequence[tuple[Job, dict[str, Any]]]
) -> tuple[str, list[Any]] | None:
    names = [name for name, kind in shape if kind != "now"]
    rows = []
    for job, values in attempts:
        row: dict[str, Any] = {"id": str(job.pk), "attempts": job.attempts}
        for position, name in enumerate(names):
            value = values[name]
            row[f"v{position}"] = value.seconds if isinstance(value, DbNowPlus) else value
        rows.append(row)
    try:
        document = json.dumps(rows, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return _finish_many_sql(alias, shape), [document, JobStatus.RUNNING.value]


@cache
def _finish_many_sql(alias: str, shape: tuple[tuple[str, str], ...]) -> str:
    now = now_sql(alias)
    sets, columns = [], ["id uuid", "attempts integer"]
    position = 0
    for name, kind in shape:
        field = Job._meta.get_field(name)
        assert isinstance(field, Field)
        column = quote(alias, str(field.column))
        if kind == "now":
            sets.append(f"{column} = {now}")
            continue
        if kind == "now+":
            columns.append(f"v{position} double precision")
            sets.append(f"{column} = {now} + v.v{position} * INTERVAL '1 second'")
        else:
            columns.append(f"v{position} {kind}")
            sets.append(f"{column} = v.v{position}")
        position += 1
    pk, attempts, status = (
        quote(alias, "id"),
        quote(alias, "attempts"),
        quote(alias, "status"),
    )
    # The rows are looked up by "id = ANY(...)": PostgreSQL cannot tell how many rows the
    # function returns, and joining on it directly made it read the whole table.
    return (
        f"WITH v AS MATERIALIZED (SELECT * FROM jsonb_to_recordset(%s::jsonb) AS v({', '.join(columns)})) "
        f"UPDATE {table(alias)} AS j SET {', '.join(sets)} FROM v "
        f"WHERE j.{pk} = ANY(ARRAY(SELECT id FROM v)) AND j.{pk} = v.id AND j.{attempts} = v.attempts "
        f"AND (j.{status} = %s) IS TRUE "
        f"RETURNING j.{pk}, j.{attempts}, j.{quote(alias, 'finished_at')}, j.{quote(alias, 'result_expires_at')}"
    )


def _finish_statement(alias: str, job: Job, values: dict[str, Any]) -> tuple[str, list[Any]]:
    connection = connections[alias]
    sets, params = [], []
    for name, value in values.items():
        field = Job._meta.get_field(name)
        assert isinstance(field, Field)
        if isinstance(value, Expression):
            sql, expression_params = compile_expression(alias, value)
            sets.append(f"{quote(alias, field.column)} = {sql}")
            params.extend(expression_params)
        else:
            sets.append(f"{quote(alias, field.column)} = %s")
            params.append(field.get_db_prep_save(value, connection))
    params += [Job._meta.pk.get_db_prep_value(job.pk, connection), job.attempts, JobStatus.RUNNING.value]
    sql = (
        f"UPDATE {table(alias)} SET {', '.join(sets)} WHERE {quote(alias, 'id')} = %s "
        f"AND {quote(alias, 'attempts')} = %s AND ({quote(alias, 'status')} = %s) IS TRUE "
        f"RETURNING {quote(alias, 'finished_at')}, {quote(alias, 'result_expires_at')}"
    )
    return sql, params
