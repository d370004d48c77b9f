"""A watched job's read: the columns a panel shows, its owner's row and the watcher's session row, in one statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import connections
from django.db.models import Field, Model
from django.utils import timezone

from jobs_ui.db.sql import db_converters, read_cursor
from jobs_ui.models import FINISHED, Job

# The fields of Django's AbstractBaseSession that its database backend reads.
SESSION_COLUMNS = ("session_key", "session_data", "expire_date")


@dataclass(frozen=True, slots=True)
class WatchedColumns:
    """What is read of a watched job: ``fields`` always, ``finished_fields`` once it has finished, and
    ``owner_fields`` of its owner's row."""

    fields: tuple[str, ...]
    finished_fields: tuple[str, ...] = ()
    owner_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Statement:
    sql: str
    job_attnames: tuple[str, ...]
    status_index: int
    # Of an unfinished job, the finished-only columns are left deferred: these are the others.
    unfinished_attnames: tuple[str, ...]
    unfinished_indexes: tuple[int, ...]
    owner_attnames: tuple[str, ...]
    readers: tuple[tuple[Any, list[Any]], ...]  # per selected column: (column expression, converters)


# Optimization: this runs for every poll of every open panel. Building and compiling the
# ORM's query for it cost more than the rest of the request (bench/README.md, "What an open panel costs"),
# and Django's database sessions add a query of their own: here the statement is written
# once per database and set of columns, and the session row comes in the same round trip.
def read_watched(
    alias: str, job_id: Any, columns: WatchedColumns, session: tuple[type[Model], str] | None = None
) -> tuple[Job | None, str | None]:
    """The job with ``columns`` (the rest deferred) and the session's data while the session lives.

    ``session`` is the session model and key: its ``session_data`` is read as Django's database
    session backend reads it (only while ``expire_date`` is in the future).
    """
    connection = connections[alias]
    statement = _statement(alias, columns, session[0] if session else None)
    params: list[Any] = []
    if session is not None:
        params += [session[1], connection.ops.adapt_datetimefield_value(timezone.now())]
    params.append(Job._meta.pk.get_db_prep_value(job_id, connection))
    with read_cursor(alias) as cursor:
        cursor.execute(statement.sql, params)
        row = cursor.fetchone()
    if row is None:
        return None, None
    values = list(row)
    for index, (column, converters) in enumerate(statement.readers):
        for convert in converters:
            values[index] = convert(values[index], column, connection)
    split = len(statement.job_attnames)
    if values[statement.status_index] in FINISHED:
        job = Job.from_db(alias, list(statement.job_attnames), values[:split])
    else:
        unfinished_values = [values[index] for index in statement.unfinished_indexes]
        job = Job.from_db(alias, list(statement.unfinished_attnames), unfinished_values)
    if statement.owner_attnames:
        owner_values = values[split : split + len(statement.owner_attnames)]
        owner_field = Job.owner.field
        owner = None
        if job.owner_id is not None:
            owner = owner_field.related_model.from_db(alias, list(statement.owner_attnames), owner_values)
        owner_field.set_cached_value(job, owner)
    return job, values[-1] if session is not None else None


@cache
def _statement(alias: str, columns: WatchedColumns, session_model: type[Model] | None) -> _Statement:
    connection = connections[alias]

    def quote(name: str | None) -> str:
        return str(connection.ops.quote_name(str(name)))

    owner_field = Job.owner.field
    owner_model: type[Model] = owner_field.related_model
    job_columns = _selected(Job, ("status", *columns.fields, *columns.finished_fields))
    finished = {field.attname for field in _selected(Job, columns.finished_fields) if not field.primary_key}
    owner_columns = _selected(owner_model, columns.owner_fields) if columns.owner_fields else []
    finished_statuses = ", ".join(f"'{status}'" for status in FINISHED)
    select = [
        # The heavy columns (a result, a traceback) only come back once there is something to show.
        f"CASE WHEN j.{quote('status')} IN ({finished_statuses}) THEN j.{quote(field.column)} END"
        if field.attname in finished
        else f"j.{quote(field.column)}"
        for field in job_columns
    ]
    select += [f"o.{quote(field.column)}" for field in owner_columns]
    if session_model is not None:
        session_column = {field.name: quote(field.column) for field in _selected(session_model, SESSION_COLUMNS)}
        select.append(
            f"(SELECT s.{session_column['session_data']} FROM {quote(session_model._meta.db_table)} s"
            f" WHERE s.{session_column['session_key']} = %s AND s.{session_column['expire_date']} > %s)"
        )
    sql = f"SELECT {', '.join(select)} FROM {quote(Job._meta.db_table)} j"
    if owner_columns:
        sql += (
            f" LEFT JOIN {quote(owner_model._meta.db_table)} o"
            f" ON o.{quote(owner_model._meta.pk.column)} = j.{quote(owner_field.column)}"
        )
    sql += f" WHERE j.{quote(Job._meta.pk.column)} = %s"
    readers = []
    for table, selected in (("j", job_columns), ("o", owner_columns)):
        for field in selected:
            column = field.get_col(table)
            readers.append((column, db_converters(connection, column)))
    attnames = tuple(field.attname for field in job_columns)
    unfinished = [(index, attname) for index, attname in enumerate(attnames) if attname not in finished]
    return _Statement(
        sql,
        attnames,
        attnames.index("status"),
        tuple(attname for _index, attname in unfinished),
        tuple(index for index, _attname in unfinished),
        tuple(field.attname for field in owner_columns),
        tuple(readers),
    )


def _selected(model: type[Model], names: Sequence[str]) -> list[Field[Any, Any]]:
    # In the model's order, as Model.from_db() expects, with the primary key.
    wanted = set(names)
    return [
        field
        for field in model._meta.concrete_fields
        if field.primary_key or field.name in wanted or field.attname in wanted
    ]
