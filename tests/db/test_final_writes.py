"""Final writes of several attempts together (jobs_ui.db.final_writes)."""

from __future__ import annotations

import math

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models.functions import Now

from jobs_ui.db import final_writes
from jobs_ui.db.sql import jobs_alias
from jobs_ui.models import Job, JobStatus, db_now_plus
from tests.helpers import claimed

pytestmark = pytest.mark.django_db(transaction=True)
# SQLite writes each attempt with a statement of its own, and keeps NaN and overlong text its own way.
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's batched final write")


def write(attempts):
    with transaction.atomic():
        return final_writes.finish_attempts(jobs_alias(), attempts)


def test_attempts_of_every_shape_are_written_in_order_with_their_own_values():
    succeeded, failed, odd, lost, twin = claimed(5)
    Job.objects.filter(pk=lost.pk).update(attempts=5)  # another attempt owns it now
    done = {"status": JobStatus.SUCCESSFUL, "finished_at": Now(), "result_expires_at": db_now_plus(60)}
    attempts = [
        (succeeded, {**done, "result": {"rows": [1, 2]}, "workspace": {"step": 2}, "progress_done": 3.5}),
        (
            failed,
            {"status": JobStatus.FAILED, "finished_at": Now(), "error_message": "it's <b>bad</b>", "result": None},
        ),
        (odd, {**done, "result": [], "progress_message": 'ünïcode "quoted"', "progress_total": None}),
        (lost, {**done, "result": 1}),
        (twin, {**done, "result": {"rows": []}, "workspace": {"step": 9}, "progress_done": 1.0}),  # as the first
    ]
    written = write(attempts)
    assert [row is None for row in written] == [False, False, False, True, False]
    rows = {job.pk: job for job in Job.objects.all()}
    one = rows[succeeded.pk]
    assert (one.status, one.result, one.workspace, one.progress_done) == (
        "SUCCESSFUL",
        {"rows": [1, 2]},
        {"step": 2},
        3.5,
    )
    assert written[0] == (one.finished_at, one.result_expires_at)
    assert one.result_expires_at is not None
    assert one.finished_at is not None
    assert 59 <= (one.result_expires_at - one.finished_at).total_seconds() <= 61
    two = rows[failed.pk]
    assert (two.status, two.error_message, two.result, two.result_expires_at) == (
        "FAILED",
        "it's <b>bad</b>",
        None,
        None,
    )
    three = rows[odd.pk]
    assert (three.result, three.progress_message, three.progress_total) == ([], 'ünïcode "quoted"', None)
    assert rows[lost.pk].status == JobStatus.RUNNING
    five = rows[twin.pk]
    assert (five.result, five.workspace, five.progress_done) == ({"rows": []}, {"step": 9}, 1.0)
    assert written[4] == (five.finished_at, five.result_expires_at)


@postgresql_only
def test_a_value_json_cannot_carry_is_written_on_its_own():
    plain, nan = claimed(2)
    values = {"status": JobStatus.SUCCESSFUL, "finished_at": Now()}
    written = write([(plain, {**values, "progress_done": 1.0}), (nan, {**values, "progress_done": math.nan})])
    assert None not in written
    assert Job.objects.get(pk=plain.pk).progress_done == 1.0
    assert math.isnan(Job.objects.get(pk=nan.pk).progress_done)


@postgresql_only
def test_a_value_too_long_for_its_column_fails_the_whole_batch():
    first, second = claimed(2)
    values = {"status": JobStatus.FAILED, "finished_at": Now()}
    with pytest.raises(DatabaseError):
        write([(first, {**values, "error_class": "x"}), (second, {**values, "error_class": "x" * 300})])
    assert set(Job.objects.values_list("status", flat=True)) == {JobStatus.RUNNING}


def test_the_errors_of_attempts_are_written_with_them_fenced():
    first, second, lost = claimed(3)
    Job.objects.filter(pk=lost.pk).update(attempts=5, errors=[{"attempt": 5}])
    entry = {"attempt": 1, "at": "2026-01-01T00:00:00+00:00", "class": "builtins.ValueError", "message": "m"}
    values = {"status": JobStatus.FAILED, "finished_at": Now(), "error_class": "builtins.ValueError"}
    written = write(
        [
            (first, {**values, "errors": [entry]}),
            (second, {**values, "errors": [{"attempt": 0}, entry]}),
            (lost, {**values, "errors": [entry]}),
        ]
    )
    assert [row is None for row in written] == [False, False, True]
    rows = {job.pk: job for job in Job.objects.all()}
    assert rows[first.pk].errors == [entry]
    assert rows[second.pk].errors == [{"attempt": 0}, entry]
    assert rows[lost.pk].errors == [{"attempt": 5}]
