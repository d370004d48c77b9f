"""What the hand-written statements share: quoted names, a cursor, reading rows into ``Job`` instances,
compiled expressions (``Now()``, ``db_now_plus()``)."""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterator
from functools import cache
from typing import Any

from django.db import connections, router
from django.db.models.expressions import Expression
from django.db.models.functions import Now
from django.db.models.sql import Query

from jobs_ui.models import DbNowPlus, Job

_compiled: dict[tuple[str, Hashable], tuple[str, list[Any]]] = {}
# The most compiled expressions kept (one per distinct result TTL, in practice a few).
COMPILED_LIMIT = 256


def jobs_alias() -> str:
    """The database the jobs table is written to."""
    return router.db_for_write(Job)


# Optimization: building and compiling an ORM query costs more CPU than the query itself,
# and a worker runs these statements for every job; so they are written once, and rows
# are turned into Job instances with converters prepared once (_readers()).
def fetch_jobs(alias: str, sql: str, params: list[Any]) -> list[Job]:
    connection = connections[alias]
    attnames, readers = _readers(alias)
    with bound_cursor(alias) as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    jobs = []
    for row in rows:
        values = list(row)
        for index, converters, column in readers:
            for convert in converters:
                values[index] = convert(values[index], column, connection)
        jobs.append(Job.from_db(alias, attnames, values))
    return jobs


@contextlib.contextmanager
def bound_cursor(alias: str) -> Iterator[Any]:
    """A cursor for these statements; on PostgreSQL it sends the parameters apart from the SQL.

    Errors are Django's, as from Django's cursors.
    """
    # Optimization: Django's psycopg cursors bind on the client, and quoting the
    # parameters into the SQL cost the worker more than reading the rows back, and
    # was a noticeable part of enqueue() for the INSERT of a new job.
    connection = connections[alias]
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor


@contextlib.contextmanager
def read_cursor(alias: str) -> Iterator[Any]:
    """A cursor for a read made on every poll: on PostgreSQL, bound on the server where psycopg may
    prepare statements (``OPTIONS["prepare_threshold"]``), so the server keeps its plan; Django's otherwise."""
    # Optimization: a prepared poll read took 240 µs against 420 µs planned anew each time
    # (bench/README.md, "What an open panel costs"); bound on the server but not prepared, 490 µs.
    connection = connections[alias]
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        if connection.connection.prepare_threshold is not None:
            with bound_cursor(alias) as cursor:
                yield cursor
            return
    with connection.cursor() as cursor:
        yield cursor


def to_python(alias: str, attname: str, value: Any) -> Any:
    attnames, readers = _readers(alias)
    index = attnames.index(attname)
    for position, converters, column in readers:
        if position == index:
            for convert in converters:
                value = convert(value, column, connections[alias])
    return value


@cache
def _readers(alias: str) -> tuple[list[str], list[tuple[int, list[Any], Any]]]:
    # What the ORM's compiler does for each row, prepared once: database values to Python.
    connection = connections[alias]
    fields = Job._meta.concrete_fields
    readers = []
    for index, field in enumerate(fields):
        column = field.get_col(Job._meta.db_table)
        converters = db_converters(connection, column)
        if converters:
            readers.append((index, converters, column))
    return [field.attname for field in fields], readers


def db_converters(connection: Any, column: Any) -> list[Any]:
    """What the ORM's compiler applies to a column's database value: the backend's converters, then the field's."""
    return list(connection.ops.get_db_converters(column)) + list(column.get_db_converters(connection))


def compile_expression(alias: str, expression: Expression) -> tuple[str, list[Any]]:
    # Optimization: the same few expressions (Now(), db_now_plus(ttl)) come back for
    # every job; resolving one costs more than running the statement it is in.
    # Hashing an expression itself costs about as much as compiling it.
    if type(expression) is Now:
        key: tuple[str, Hashable] = (alias, "now")
    elif isinstance(expression, DbNowPlus):
        key = (alias, ("now+", expression.seconds))
    else:
        return _compile_now(alias, expression)
    compiled = _compiled.get(key)
    if compiled is None:
        compiled = _compile_now(alias, expression)
        if len(_compiled) < COMPILED_LIMIT:
            _compiled[key] = compiled
    return compiled[0], list(compiled[1])


def _compile_now(alias: str, expression: Expression) -> tuple[str, list[Any]]:
    query = Query(Job)
    compiler = query.get_compiler(alias)
    sql, params = compiler.compile(expression.resolve_expression(query, allow_joins=False, for_save=True))
    return sql, list(params)


@cache
def now_sql(alias: str) -> str:
    return compile_expression(alias, Now())[0]


@cache
def quote(alias: str, column: str) -> str:
    return str(connections[alias].ops.quote_name(column))


@cache
def table(alias: str) -> str:
    return quote(alias, Job._meta.db_table)


@cache
def columns(alias: str) -> str:
    return ", ".join(quote(alias, str(field.column)) for field in Job._meta.concrete_fields)
