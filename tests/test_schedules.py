"""Cron schedules: their occurrences across daylight-saving changes, one job per occurrence however many
workers run them, catch-up, run on creation, the occurrence's datetime, forced runs, --no-schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from jobs_ui.jobs.schedule_runs import occurrences, run_due_schedules, run_now, sync_schedules
from jobs_ui.jobs.schedules import ScheduleSpec
from jobs_ui.models import Job, Schedule
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

TICK = "tests.tasks.scheduled_tick"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


class TestOccurrences:
    def test_each_wall_clock_occurrence_once_when_the_clocks_go_back(self):
        # Lisbon, 2026-10-25: 02:00 WEST becomes 01:00 WET, so 01:30 happens twice; it runs once.
        spec = ScheduleSpec(name="s", task=TICK, cron="30 1 * * *", timezone="Europe/Lisbon")
        found = occurrences(spec, utc(2026, 10, 24, 12), utc(2026, 10, 26, 12))
        assert found == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]

    def test_none_skipped_when_the_clocks_go_forward(self):
        # Lisbon, 2026-03-29: 01:00 WET becomes 02:00 WEST, so 01:30 never happens; it runs at 02:00.
        spec = ScheduleSpec(name="s", task=TICK, cron="30 1 * * *", timezone="Europe/Lisbon")
        found = occurrences(spec, utc(2026, 3, 28, 12), utc(2026, 3, 30, 12))
        assert found == [utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]

    def test_six_fields_count_seconds(self):
        spec = ScheduleSpec(name="s", task=TICK, cron="*/20 * * * * *")
        found = occurrences(spec, utc(2026, 1, 1, 0, 0, 0), utc(2026, 1, 1, 0, 1, 0))
        assert found == [utc(2026, 1, 1, 0, 0, 20), utc(2026, 1, 1, 0, 0, 40), utc(2026, 1, 1, 0, 1, 0)]

    def test_manual_never_occurs(self):
        spec = ScheduleSpec(name="s", task=TICK, cron="manual")
        assert occurrences(spec, utc(2026, 1, 1), utc(2027, 1, 1)) == []

    @pytest.mark.parametrize(
        ("options", "error"),
        [
            ({"cron": "61 * * * *"}, "bad cron"),
            ({"cron": "* * *"}, "bad cron"),
            ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
            ({"cron": "* * * * *", "catch_up": "some"}, "catch_up"),
        ],
    )
    def test_bad_schedules_are_refused(self, options, error):
        with pytest.raises(ImproperlyConfigured, match=error):
            ScheduleSpec(name="s", task=TICK, **options)


def make_schedule(**fields: Any) -> Schedule:
    defaults = {"name": "tick", "task_path": TICK, "cron": "* * * * *", "datetime_kwarg": "at"}
    return Schedule.objects.create(**{**defaults, **fields})


class TestRuns:
    @pytest.mark.parametrize(("catch_up", "jobs"), [("all", 5), ("latest", 1)])
    def test_catch_up_after_a_five_minute_gap(self, catch_up, jobs):
        start = utc(2026, 12, 7, 10, 0)
        make_schedule(catch_up=catch_up, last_occurrence=start, next_occurrence=start + timedelta(minutes=1))
        assert run_due_schedules(now=start + timedelta(minutes=5, seconds=10)) == jobs
        found = sorted(at for at in Job.objects.values_list("occurrence", flat=True) if at is not None)
        assert found == [start + timedelta(minutes=5 - n) for n in reversed(range(jobs))]
        row = Schedule.objects.get()
        assert (row.last_occurrence, row.next_occurrence) == (
            start + timedelta(minutes=5),
            start + timedelta(minutes=6),
        )

    def test_one_job_per_occurrence_whoever_runs_it(self):
        start = utc(2026, 12, 7, 10, 0)
        make_schedule(last_occurrence=start, next_occurrence=start + timedelta(minutes=1))
        now = start + timedelta(minutes=1, seconds=5)
        assert run_due_schedules(now=now) == 1
        # A second worker that read the schedule before the first one moved it on.
        Schedule.objects.update(last_occurrence=start, next_occurrence=start + timedelta(minutes=1))
        assert run_due_schedules(now=now) == 0
        assert Job.objects.count() == 1

    def test_the_occurrence_is_passed_and_none_when_forced(self):
        start = utc(2026, 12, 7, 10, 0)
        row = make_schedule(last_occurrence=start, next_occurrence=start + timedelta(minutes=1))
        run_due_schedules(now=start + timedelta(minutes=1))
        assert Job.objects.get().kwargs == {"at": "2026-12-07T10:01:00+00:00"}
        forced = run_now(row)
        assert forced is not None
        assert (forced.kwargs, forced.occurrence, forced.schedule_id) == ({"at": None}, None, row.pk)

    def test_its_own_queue_and_priority(self):
        start = utc(2026, 12, 7, 10, 0)
        make_schedule(
            last_occurrence=start - timedelta(minutes=1), next_occurrence=start, queue_name="other", priority=7
        )
        run_due_schedules(now=start)
        assert Job.objects.values_list("queue_name", "priority").get() == ("other", 7)


class TestSync:
    def test_rows_for_the_settings_schedules_and_run_on_creation(self, settings):
        settings.JOBS_UI = {
            **settings.JOBS_UI,
            "SCHEDULES": {
                "nightly": {"task": TICK, "cron": "0 3 * * *", "run_on_creation": True, "datetime_kwarg": "at"},
                "by-hand": {"task": TICK, "cron": "manual"},
            },
        }
        rows = sync_schedules(now=utc(2026, 12, 7, 10, 0))
        assert rows["nightly"].next_occurrence == utc(2026, 12, 8, 3, 0)
        assert rows["by-hand"].next_occurrence is None
        (forced,) = Job.objects.all()
        assert (forced.schedule_id, forced.kwargs) == (rows["nightly"].pk, {"at": None})
        # Seen again: not created again, nothing run again; a schedule no longer defined is disabled.
        settings.JOBS_UI = {**settings.JOBS_UI, "SCHEDULES": {"nightly": settings.JOBS_UI["SCHEDULES"]["nightly"]}}
        sync_schedules(now=utc(2026, 12, 7, 11, 0))
        assert Job.objects.count() == 1
        assert not Schedule.objects.get(name="by-hand").enabled

    def test_a_decorated_task_is_scheduled(self):
        from tests import tasks

        assert "tests.tasks.every_night" in sync_schedules()
        assert tasks.every_night.name == "every_night"


class TestWorkers:
    def test_two_workers_make_one_job_per_occurrence(self, settings, start_worker):
        settings.JOBS_UI = {
            **settings.JOBS_UI,
            "SCHEDULES": {"every-second": {"task": TICK, "cron": "* * * * * *", "datetime_kwarg": "at"}},
        }
        start_worker()
        start_worker()
        wait_until(lambda: Job.objects.filter(schedule__name="every-second").count() >= 4, timeout=30, what="4 runs")
        stamps = sorted(at for at in Job.objects.values_list("occurrence", flat=True) if at is not None)
        assert len(stamps) == len(set(stamps))
        # One a second, none skipped while the workers ran.
        assert all(
            (later - earlier) == timedelta(seconds=1) for earlier, later in zip(stamps, stamps[1:], strict=False)
        )

    def test_no_schedules_keeps_a_worker_out_of_them(self, settings, start_worker):
        settings.JOBS_UI = {**settings.JOBS_UI, "SCHEDULES": {"every-second": {"task": TICK, "cron": "* * * * * *"}}}
        worker = start_worker("--no-schedules", "--timeout", "2")
        assert worker.wait(timeout=30) == 0
        assert not Job.objects.filter(schedule__isnull=False).exists()


class TestStaff:
    @pytest.mark.parametrize(
        ("kind", "answer"),
        [(None, 302), ("user", 403), ("staff-reader", 403), ("staff-actor", 403), ("superuser", 302)],
    )
    def test_run_now_takes_its_own_permission(self, client, signed_in, kind, answer):
        row = make_schedule(cron="manual")
        if kind is not None:
            signed_in(client, kind)
        response = client.post(f"/jobs/staff/schedules/{row.pk}/run/")
        assert response.status_code == answer
        ran = Job.objects.filter(schedule=row)
        if kind == "superuser":
            (job,) = ran
            assert response["Location"] == f"/jobs/{job.pk}/"
            assert job.kwargs == {"at": None}
        else:
            assert not ran.exists()

    def test_a_scheduler_with_the_permission_and_the_section(self, client, signed_in):
        from django.contrib.auth.models import Permission

        row = make_schedule(cron="*/5 * * * *", next_occurrence=utc(2026, 12, 8, 10, 5))
        user = signed_in(client, "staff-reader")
        user.user_permissions.add(Permission.objects.get(codename="run_schedule"))
        body = client.get("/jobs/staff/schedules/").content.decode()
        assert 'data-schedule="tick"' in body
        assert "*/5 * * * *" in body
        assert f"/jobs/staff/schedules/{row.pk}/run/" in body
        assert client.post(f"/jobs/staff/schedules/{row.pk}/run/").status_code == 302
