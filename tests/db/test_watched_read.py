"""A watched job's one statement: the columns asked for, the finished-only ones, the owner's row, the live session."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import DEFAULT_DB_ALIAS, connection
from django.utils import timezone

from jobs_ui.db.watched_read import WatchedColumns, read_watched
from jobs_ui.models import JobStatus
from tests.helpers import make_job, succeeded

pytestmark = pytest.mark.django_db

COLUMNS = WatchedColumns(("status", "progress_done", "owner"), ("result", "error_traceback"), ("password",))


def test_an_unfinished_job_comes_without_its_finished_only_columns(alice):
    job = make_job(alice, status=JobStatus.READY, progress_done=3, error_traceback="Traceback of attempt 1")
    read, session_data = read_watched(DEFAULT_DB_ALIAS, job.pk, COLUMNS)
    assert read is not None
    assert session_data is None
    assert (read.pk, read.status, read.progress_done) == (job.pk, JobStatus.READY, 3)
    assert {"result", "error_traceback", "args", "kwargs"} <= read.get_deferred_fields()
    # Read when asked for, as any deferred field.
    assert read.error_traceback == "Traceback of attempt 1"


def test_a_finished_job_comes_with_them(alice):
    job = succeeded(alice, {"rows": 4})
    read, _session_data = read_watched(DEFAULT_DB_ALIAS, job.pk, COLUMNS)
    assert read is not None
    assert read.result == {"rows": 4}
    assert "result" not in read.get_deferred_fields()
    assert "args" in read.get_deferred_fields()


def test_the_owner_comes_with_the_job(alice, django_assert_num_queries):
    job = make_job(alice)
    with django_assert_num_queries(1):
        read, _session_data = read_watched(DEFAULT_DB_ALIAS, job.pk, COLUMNS)
        assert read is not None
        owner = read.owner
        assert owner is not None
        assert owner.pk == alice.pk
        assert owner.password == alice.password
    assert "username" in owner.get_deferred_fields()


def test_a_job_without_owner_and_an_unknown_job(alice):
    job = make_job(None)
    read, _session_data = read_watched(DEFAULT_DB_ALIAS, job.pk, COLUMNS)
    assert read is not None
    assert read.owner is None
    assert read_watched(DEFAULT_DB_ALIAS, uuid.uuid4(), COLUMNS) == (None, None)


@pytest.mark.parametrize("state", ["live", "expired", "deleted"])
def test_the_session_row_comes_while_it_lives(alice, state):
    store = SessionStore()
    store["answer"] = 42
    store.create()
    key = store.session_key
    assert key is not None
    sessions = Session.objects.filter(session_key=key)
    if state == "expired":
        sessions.update(expire_date=timezone.now() - timedelta(seconds=1))
    elif state == "deleted":
        sessions.delete()
    job = make_job(alice)
    read, session_data = read_watched(DEFAULT_DB_ALIAS, job.pk, COLUMNS, (Session, key))
    assert read is not None
    if state == "live":
        assert session_data is not None
        assert store.decode(session_data) == {"answer": 42}
    else:
        assert session_data is None


def test_the_statement_names_finished_only_columns_in_a_case(alice, django_assert_num_queries):
    job = make_job(alice)
    with django_assert_num_queries(1) as queries:
        read_watched(DEFAULT_DB_ALIAS, job.pk, COLUMNS)
    [sql] = [query["sql"] for query in queries.captured_queries]
    assert "CASE WHEN" in sql
    assert '"result"' in sql
    assert '"args"' not in sql
    assert "ORDER BY" not in sql


@pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg prepares statements on PostgreSQL only")
def test_postgresql_keeps_its_plan_where_statements_may_be_prepared(alice):
    connection.ensure_connection()
    psycopg_connection = connection.connection
    psycopg_connection.prepare_threshold = 0
    try:
        job = make_job(alice)
        for _ in range(2):
            read, _session_data = read_watched(DEFAULT_DB_ALIAS, job.pk, COLUMNS)
            assert read is not None
            assert read.pk == job.pk
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%CASE WHEN%"])
            assert cursor.fetchone()[0] == 1
    finally:
        psycopg_connection.prepare_threshold = None


def test_without_prepared_statements_django_runs_it(alice, django_assert_num_queries):
    job = make_job(alice)
    with django_assert_num_queries(1):
        read_watched(DEFAULT_DB_ALIAS, job.pk, COLUMNS)
