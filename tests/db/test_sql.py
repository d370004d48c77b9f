"""What the hand-written statements share: quoted names, the cursor, rows read into ``Job`` instances, compiled expressions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import DatabaseError, connections, transaction
from django.db.models import Value
from django.db.models.functions import Now

from jobs_ui.db import sql
from jobs_ui.models import DbNowPlus, Job, db_now_plus
from tests.helpers import claimed, make_job, succeeded

pytestmark = pytest.mark.django_db


def fields_of(job: Job) -> dict[str, Any]:
    return {field.attname: getattr(job, field.attname) for field in Job._meta.concrete_fields}


def select_jobs(alias: str, jobs: list[Job]) -> tuple[str, list[Any]]:
    """The statement that reads the rows of ``jobs``, every column in field order."""
    placeholders = ", ".join(["%s"] * len(jobs))
    where = f"{sql.quote(alias, 'id')} IN ({placeholders})"
    ids = [Job._meta.pk.get_db_prep_value(job.pk, connections[alias]) for job in jobs]
    return f"SELECT {sql.columns(alias)} FROM {sql.table(alias)} WHERE {where}", ids


class TestFetchJobs:
    def test_rows_are_read_into_jobs_equal_to_the_orms(self, alice):
        alias = sql.jobs_alias()
        jobs = [
            succeeded(alice, {"rows": [1, 2.5, "x"]}, public=True, worker_ids=["w"]),
            make_job(kwargs={"b": [2]}, extra={"a": None}, progress_total=3.5, run_after=db_now_plus(60)),
            *claimed(1, "worker-a"),
        ]
        fetched = sql.fetch_jobs(alias, *select_jobs(alias, jobs))
        assert all(job._state.db == alias and not job._state.adding for job in fetched)
        expected = {job.pk: fields_of(job) for job in Job.objects.filter(pk__in=[job.pk for job in jobs])}
        assert {job.pk: fields_of(job) for job in fetched} == expected
        assert len(fetched) == 3

    def test_no_row_is_no_job(self):
        alias = sql.jobs_alias()
        job = make_job()
        statement, params = select_jobs(alias, [job])
        job.delete()
        assert sql.fetch_jobs(alias, statement, params) == []

    def test_to_python_reads_one_column_as_the_orm_does(self):
        alias = sql.jobs_alias()
        job = succeeded(None, {"rows": 3})
        columns = ", ".join(sql.quote(alias, name) for name in ("finished_at", "result"))
        statement, params = select_jobs(alias, [job])
        with sql.bound_cursor(alias) as cursor:
            cursor.execute(statement.replace(sql.columns(alias), columns), params)
            [(finished_at, result)] = cursor.fetchall()
        row = Job.objects.get(pk=job.pk)
        assert sql.to_python(alias, "finished_at", finished_at) == row.finished_at
        assert sql.to_python(alias, "result", result) == {"rows": 3}


class TestBoundCursor:
    def test_errors_are_djangos(self):
        alias = sql.jobs_alias()
        with pytest.raises(DatabaseError), transaction.atomic(using=alias), sql.bound_cursor(alias) as cursor:
            cursor.execute(f"SELECT 1 FROM {sql.quote(alias, 'jobs_ui_no_such_table')}", [])


class TestCompileExpression:
    def test_now_and_db_now_plus_are_compiled_once_each(self, monkeypatch):
        alias = sql.jobs_alias()
        compiled: list[Any] = []
        compile_now = sql._compile_now

        def counted(alias: str, expression: Any) -> tuple[str, list[Any]]:
            compiled.append(expression)
            return compile_now(alias, expression)

        monkeypatch.setattr(sql, "_compile_now", counted)
        monkeypatch.setattr(sql, "_compiled", {})
        for _ in range(3):
            sql.compile_expression(alias, Now())
            sql.compile_expression(alias, db_now_plus(61))
            sql.compile_expression(alias, DbNowPlus(61))
        assert len(compiled) == 2
        sql.compile_expression(alias, db_now_plus(62))
        assert len(compiled) == 3
        # Any other expression is compiled each time.
        sql.compile_expression(alias, Value(1))
        sql.compile_expression(alias, Value(1))
        assert len(compiled) == 5

    def test_each_call_returns_a_fresh_parameter_list(self):
        alias = sql.jobs_alias()
        for expression in (Now(), db_now_plus(61)):
            statement, params = sql.compile_expression(alias, expression)
            params.append("changed")
            again = sql.compile_expression(alias, expression)
            assert again == (statement, params[:-1])

    def test_db_now_plus_is_the_databases_clock_plus_those_seconds(self):
        alias = sql.jobs_alias()
        now, now_params = sql.compile_expression(alias, Now())
        later, later_params = sql.compile_expression(alias, db_now_plus(3600))
        with sql.bound_cursor(alias) as cursor:
            cursor.execute(f"SELECT {now}, {later}", [*now_params, *later_params])
            [row] = cursor.fetchall()
        start, end = (sql.to_python(alias, "heartbeat_at", value) for value in row)
        assert end - start == timedelta(hours=1)
