"""The job page and "my jobs"."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs_ui.models import Job, JobStatus
from jobs_ui.views.keyset import decode_cursor, encode_cursor
from jobs_ui.views.pages import PAGE_SIZE
from tests.helpers import HX, make_job

pytestmark = pytest.mark.django_db


def make_jobs(owner, count, **fields):
    """``count`` jobs enqueued one second apart, oldest first."""
    start = timezone.now() - timedelta(hours=1)
    jobs = [make_job(owner, **fields) for _ in range(count)]
    for index, job in enumerate(jobs):
        Job.objects.filter(pk=job.pk).update(enqueued_at=start + timedelta(seconds=index))
    return [Job.objects.get(pk=job.pk) for job in jobs]


def row_ids(response):
    return re.findall(r'<li class="jobs-ui-row" data-job-id="([^"]+)"', response.content.decode())


class TestJobDetail:
    def test_owner_gets_full_page(self, client, alice):
        job = make_job(alice)
        client.force_login(alice)
        response = client.get(f"/jobs/{job.pk}/")
        assert response.status_code == 200
        body = response.content.decode()
        assert "<html" in body
        assert "htmx-2" in body
        assert "jobs_ui/jobs_ui.js" in body
        assert "jobs_ui/jobs_ui.css" in body
        assert "X-CSRFToken" in body
        assert f'data-job-id="{job.pk}"' in body
        assert "<script>" not in body
        assert '<meta http-equiv="refresh"' in body
        assert "Echo" in body

    def test_finished_page_does_not_refresh(self, client, alice):
        job = make_job(alice, status=JobStatus.SUCCESSFUL, finished_at=timezone.now(), result=1)
        client.force_login(alice)
        body = client.get(f"/jobs/{job.pk}/").content.decode()
        assert 'http-equiv="refresh"' not in body
        assert "hx-trigger" not in body

    def test_htmx_gets_the_panel_only(self, client, alice):
        job = make_job(alice)
        client.force_login(alice)
        response = client.get(f"/jobs/{job.pk}/", headers=HX)
        assert response.status_code == 200
        assert "<html" not in response.content.decode()
        assert f'data-job-id="{job.pk}"' in response.content.decode()

    def test_someone_elses_job_is_404(self, client, alice, bob):
        job = make_job(alice)
        client.force_login(bob)
        assert client.get(f"/jobs/{job.pk}/").status_code == 404
        assert client.get(f"/jobs/{job.pk}/", headers=HX).status_code == 404

    def test_anonymous_is_404(self, client, alice):
        job = make_job(alice)
        assert client.get(f"/jobs/{job.pk}/").status_code == 404

    def test_staff_gets_404_for_someone_elses_private_job(self, client, alice, staff):
        job = make_job(alice)
        client.force_login(staff)
        assert client.get(f"/jobs/{job.pk}/").status_code == 404

    def test_public_job_for_others_and_anonymous(self, client, alice, bob):
        job = make_job(alice, public=True)
        client.force_login(bob)
        response = client.get(f"/jobs/{job.pk}/")
        assert response.status_code == 200
        assert "/cancel/" not in response.content.decode()
        client.logout()
        response = client.get(f"/jobs/{job.pk}/")
        assert response.status_code == 200
        assert "/cancel/" not in response.content.decode()

    def test_unknown_and_malformed_ids_are_404(self, client, alice):
        client.force_login(alice)
        assert client.get(f"/jobs/{uuid.uuid4()}/").status_code == 404
        assert client.get("/jobs/123/").status_code == 404

    def test_post_is_not_allowed(self, client, alice):
        job = make_job(alice)
        client.force_login(alice)
        assert client.post(f"/jobs/{job.pk}/").status_code == 405

    def test_unknown_task_still_renders(self, client, alice):
        job = make_job(alice, task_path="gone.module.old_task", status=JobStatus.FAILED, finished_at=timezone.now())
        client.force_login(alice)
        response = client.get(f"/jobs/{job.pk}/")
        assert response.status_code == 200
        assert "Old task" in response.content.decode()
        assert "Run again" not in response.content.decode()


class TestJobList:
    def test_anonymous_is_sent_to_login(self, client):
        response = client.get("/jobs/")
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=/jobs/")

    def test_anonymous_htmx_poll_is_403(self, client):
        assert client.get("/jobs/", headers=HX).status_code == 403

    def test_lists_own_jobs_newest_first(self, client, alice, bob):
        mine = make_jobs(alice, 3)
        make_job(bob)
        make_job(bob, public=True)
        client.force_login(alice)
        response = client.get("/jobs/")
        assert response.status_code == 200
        assert row_ids(response) == [str(job.pk) for job in reversed(mine)]
        for job in mine:
            assert f'href="/jobs/{job.pk}/"' in response.content.decode()

    def test_staff_sees_only_own_jobs(self, client, alice, staff):
        make_job(alice)
        client.force_login(staff)
        assert row_ids(client.get("/jobs/")) == []
        assert "You have not launched any jobs yet." in client.get("/jobs/").content.decode()

    def test_filter_by_status(self, client, alice):
        done = make_job(alice, status=JobStatus.SUCCESSFUL, finished_at=timezone.now())
        make_job(alice, status=JobStatus.RUNNING)
        client.force_login(alice)
        response = client.get("/jobs/", {"status": "SUCCESSFUL"})
        assert row_ids(response) == [str(done.pk)]
        assert 'href="/jobs/?status=SUCCESSFUL" class="jobs-ui-chip" aria-current="page"' in response.content.decode()
        assert row_ids(client.get("/jobs/", {"status": "FAILED"})) == []

    def test_unknown_status_is_400(self, client, alice):
        client.force_login(alice)
        response = client.get("/jobs/", {"status": "DONE"})
        assert response.status_code == 400
        assert b"Unknown status" in response.content

    def test_keyset_pages(self, client, alice):
        jobs = make_jobs(alice, PAGE_SIZE + 5)
        newest_first = [str(job.pk) for job in reversed(jobs)]
        client.force_login(alice)
        with CaptureQueriesContext(connection) as queries:
            first = client.get("/jobs/")
        assert row_ids(first) == newest_first[:PAGE_SIZE]
        assert not any("OFFSET" in query["sql"].upper() for query in queries.captured_queries)
        cursor = first.context["next_cursor"]
        assert cursor == encode_cursor(jobs[5])
        with CaptureQueriesContext(connection) as queries:
            second = client.get("/jobs/", {"cursor": cursor})
        assert row_ids(second) == newest_first[PAGE_SIZE:]
        assert not any("OFFSET" in query["sql"].upper() for query in queries.captured_queries)
        assert second.context["next_cursor"] == ""
        assert "Newest" in second.content.decode()

    def test_keyset_pages_of_jobs_timed_by_the_database_clock(self, client, alice):
        # Each enqueued_at as the database wrote it (milliseconds on SQLite), several in one millisecond.
        jobs = [make_job(alice) for _ in range(2 * PAGE_SIZE + 3)]
        client.force_login(alice)
        seen, cursor = [], ""
        for _page in range(3):
            response = client.get("/jobs/", {"cursor": cursor} if cursor else {})
            seen += row_ids(response)
            cursor = response.context["next_cursor"]
        assert cursor == ""
        expected = sorted(
            Job.objects.filter(pk__in=[job.pk for job in jobs]), key=lambda job: (job.enqueued_at, job.pk)
        )
        assert seen == [str(job.pk) for job in reversed(expected)]

    def test_keyset_breaks_ties_on_id(self, client, alice):
        jobs = [make_job(alice) for _ in range(PAGE_SIZE + 3)]
        # Microseconds that round up (SQLite compares milliseconds here): ties must stay ties.
        same = timezone.now().replace(microsecond=999_600)
        Job.objects.filter(pk__in=[job.pk for job in jobs]).update(enqueued_at=same)
        client.force_login(alice)
        first = client.get("/jobs/")
        second = client.get("/jobs/", {"cursor": first.context["next_cursor"]})
        seen = row_ids(first) + row_ids(second)
        assert sorted(seen) == sorted(str(job.pk) for job in jobs)
        assert len(set(seen)) == len(jobs)

    def test_cursor_keeps_the_status_filter(self, client, alice):
        make_jobs(alice, PAGE_SIZE + 2, status=JobStatus.FAILED)
        make_jobs(alice, 3)
        client.force_login(alice)
        first = client.get("/jobs/", {"status": "FAILED"})
        body = first.content.decode()
        link = re.search(r'rel="next" href="([^"]+)"', body)
        assert link
        assert "status=FAILED" in link.group(1)
        second = client.get("/jobs/", {"status": "FAILED", "cursor": first.context["next_cursor"]})
        assert len(row_ids(second)) == 2

    @pytest.mark.parametrize(
        "cursor", ["nonsense", "2024-01-01T00:00:00~not-a-uuid", f"2024-01-01T00:00:00~{uuid.uuid4()}"]
    )
    def test_bad_cursor_is_400(self, client, alice, cursor):
        client.force_login(alice)
        response = client.get("/jobs/", {"cursor": cursor})
        assert response.status_code == 400

    @pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-12:00"])
    def test_cursor_out_of_range_is_400(self, client, alice, stamp):
        client.force_login(alice)
        response = client.get("/jobs/", {"cursor": f"{stamp}~{uuid.uuid4()}"})
        assert response.status_code == 400
        assert "This page link is not valid" in response.content.decode()

    def test_cursor_round_trip(self, alice):
        job = make_job(alice)
        job.refresh_from_db()
        assert decode_cursor(encode_cursor(job)) == (job.enqueued_at, job.pk)

    def test_polls_while_a_job_is_unfinished(self, client, alice):
        job = make_job(alice, status=JobStatus.RUNNING, progress_done=1, progress_total=4)
        client.force_login(alice)
        page = client.get("/jobs/").content.decode()
        assert 'hx-get="/jobs/"' in page
        assert 'value="25.0"' in page
        response = client.get("/jobs/", headers=HX)
        assert response.status_code == 200
        assert "<html" not in response.content.decode()
        assert "hx-trigger" in response.content.decode()
        Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCESSFUL, finished_at=timezone.now())
        response = client.get("/jobs/", headers=HX)
        assert response.status_code == 286
        assert "hx-trigger" not in response.content.decode()
        assert 'data-job-status="SUCCESSFUL"' in response.content.decode()

    def test_no_polling_when_everything_is_finished(self, client, alice):
        make_job(alice, status=JobStatus.CANCELLED, finished_at=timezone.now())
        client.force_login(alice)
        assert "hx-trigger" not in client.get("/jobs/").content.decode()

    def test_messages_are_escaped(self, client, alice):
        make_job(alice, status=JobStatus.FAILED, finished_at=timezone.now(), error_message="<script>x</script>")
        client.force_login(alice)
        body = client.get("/jobs/").content.decode()
        assert "<script>x" not in body
        assert "&lt;script&gt;x&lt;/script&gt;" in body


class TestAttemptHistory:
    ERRORS = [
        {
            "attempt": 1,
            "at": "2026-01-02T03:04:05+00:00",
            "class": "builtins.RuntimeError",
            "message": "<b>first</b>",
            "traceback": "Traceback: <secret path>",
        },
        {"attempt": 2, "at": "2026-01-02T03:04:09+00:00", "class": "builtins.ValueError", "message": "second"},
    ]

    def test_the_page_lists_failed_attempts_escaped_oldest_first(self, client, alice):
        job = make_job(alice, status=JobStatus.FAILED, errors=self.ERRORS, error_traceback="tb")
        client.force_login(alice)
        html = client.get(job.get_absolute_url()).content.decode()
        items = re.findall(r'<li data-testid="job-attempt">(.*?)</li>', html, re.S)
        assert len(items) == 2
        assert "Attempt 1" in items[0]
        assert "builtins.RuntimeError" in items[0]
        assert "&lt;b&gt;first&lt;/b&gt;" in items[0]
        assert 'datetime="2026-01-02T03:04:05+00:00"' in items[0]
        assert "Attempt 2" in items[1]
        assert "second" in items[1]
        assert "secret path" not in html  # tracebacks are for staff

    def test_staff_see_each_attempts_traceback(self, client, staff):
        job = make_job(staff, status=JobStatus.FAILED, errors=self.ERRORS)
        client.force_login(staff)
        html = client.get(job.get_absolute_url()).content.decode()
        assert "Traceback: &lt;secret path&gt;" in html

    def test_no_history_without_failed_attempts(self, client, alice):
        job = make_job(alice, status=JobStatus.SUCCESSFUL)
        client.force_login(alice)
        assert 'data-testid="job-attempts"' not in client.get(job.get_absolute_url()).content.decode()
