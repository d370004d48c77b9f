"""Staff's list of every job, their actions on jobs (confirmed, recorded), read-only pages of others' jobs,
and the same actions in the admin."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs_ui.jobs.ids import first_id_at
from jobs_ui.models import Job, JobStatus, StaffAction
from tests.helpers import HX, make_job

pytestmark = pytest.mark.django_db

LIST = "/jobs/staff/jobs/"
ACT = "/jobs/staff/jobs/act/"


def listed(body: str) -> list[str]:
    return re.findall(r'data-testid="staff-job" data-job-id="([^"]+)"', body)


def failed(owner, **fields):
    defaults = {
        "status": JobStatus.FAILED,
        "finished_at": timezone.now(),
        "error_class": "builtins.ValueError",
        "error_message": "The file is empty.",
    }
    return make_job(owner, **{**defaults, **fields})


class TestWhoMay:
    def test_anonymous_goes_to_the_login_page(self, client):
        assert client.get(LIST)["Location"].startswith("/accounts/login/?next=")
        assert client.post(ACT, {"action": "cancel"})["Location"].startswith("/accounts/login/?next=")

    @pytest.mark.parametrize(
        ("kind", "answer"),
        [("user", 403), ("staff", 403), ("staff-reader", 403), ("staff-actor", 302), ("superuser", 302)],
    )
    def test_acting_takes_change_job_and_changes_nothing_otherwise(self, client, signed_in, alice, kind, answer):
        job = make_job(alice)
        user = signed_in(client, kind)
        response = client.post(ACT, {"action": "cancel", "job": job.pk, "confirmed": "1"})
        assert response.status_code == answer
        job.refresh_from_db()
        assert job.status == (JobStatus.CANCELLED if answer == 302 else JobStatus.READY)
        assert StaffAction.objects.filter(user=user).count() == (answer == 302)

    def test_a_reader_sees_no_checkboxes_nor_actions(self, client, signed_in, alice):
        make_job(alice)
        signed_in(client, "staff-reader")
        body = client.get(LIST).content.decode()
        assert len(listed(body)) == 1
        assert 'name="job"' not in body
        assert 'data-testid="staff-bulk"' not in body


class TestList:
    def test_every_owners_jobs_newest_first_with_keyset_pages(self, client, signed_in, alice, bob, monkeypatch):
        monkeypatch.setattr("jobs_ui.views.all_jobs.PAGE_SIZE", 3)
        jobs = [make_job(alice if i % 2 else bob) for i in range(7)]
        newest_first = [str(job.pk) for job in sorted(jobs, key=lambda job: (job.enqueued_at, job.pk), reverse=True)]
        signed_in(client, "staff-reader")
        seen = []
        url = LIST
        while url:
            body = client.get(url).content.decode()
            seen += listed(body)
            found = re.search(r'href="(\?[^"]*cursor=[^"]+)" data-testid="staff-jobs-next"', body)
            url = LIST + found.group(1).replace("&amp;", "&") if found else ""
        assert seen == newest_first

    def test_filters(self, client, signed_in, alice, bob):
        since = timezone.now() - timedelta(days=2)
        # Made three days ago: its id is of that time too (ids are time-ordered).
        three_days_ago = since - timedelta(days=1)
        old = make_job(alice, queue_name="mail", id=first_id_at(int(three_days_ago.timestamp() * 1000)))
        Job.objects.filter(pk=old.pk).update(enqueued_at=three_days_ago)
        mail = make_job(alice, queue_name="mail")
        adds = make_job(bob, task_path="tests.tasks.add")
        broken = failed(bob, error_message="The file is empty.")
        signed_in(client, "staff-reader")

        def ids(query: str) -> set[str]:
            response = client.get(LIST + query)
            assert response.status_code == 200
            return set(listed(response.content.decode()))

        assert ids("?status=FAILED") == {str(broken.pk)}
        assert ids("?queue=mail") == {str(old.pk), str(mail.pk)}
        assert ids("?task=tests.tasks.add") == ids("?task=add") == {str(adds.pk)}
        assert ids("?owner=bob") == {str(adds.pk), str(broken.pk)}
        assert ids("?q=FILE+IS+EMPTY") == ids("?q=valueerror") == {str(broken.pk)}
        assert ids(f"?q={mail.pk}") == {str(mail.pk)}
        assert ids(f"?since={since:%Y-%m-%dT%H:%M}&queue=mail") == {str(mail.pk)}
        assert ids(f"?until={since:%Y-%m-%dT%H:%M}") == {str(old.pk)}
        assert ids("?owner=nobody") == set()

    @pytest.mark.parametrize(
        ("query", "error"),
        [
            ("?status=DONE", "Select a valid choice"),
            ("?since=yesterday", "Enter a valid date/time"),
            ("?since=2026-01-02T00:00&until=2026-01-01T00:00", "start of the time range is after its end"),
            ("?cursor=nonsense", "This page link is not valid"),
        ],
    )
    def test_bad_input_is_a_400_that_says_why(self, client, signed_in, query, error):
        make_job()
        signed_in(client, "staff-reader")
        response = client.get(LIST + query)
        assert response.status_code == 400
        body = response.content.decode()
        assert error in body
        assert listed(body) == []


class TestActions:
    def test_a_confirmation_first_which_changes_nothing(self, client, signed_in, alice):
        jobs = [make_job(alice) for _ in range(3)]
        signed_in(client, "staff-actor")
        response = client.post(ACT, {"action": "cancel", "job": [job.pk for job in jobs[:2]], "next": LIST})
        assert response.status_code == 200
        body = response.content.decode()
        assert "Cancel: 2 jobs?" in body
        assert body.count('type="hidden" name="job"') == 2
        assert 'name="confirmed" value="1"' in body
        assert Job.objects.filter(status=JobStatus.READY).count() == 3
        assert not StaffAction.objects.exists()

    def test_bulk_cancel_by_filter(self, client, signed_in, alice):
        mail = [make_job(alice, queue_name="mail") for _ in range(3)]
        other = make_job(alice)
        done = make_job(alice, queue_name="mail", status=JobStatus.SUCCESSFUL)
        user = signed_in(client, "staff-actor")
        form = {"action": "cancel", "scope": "filter", "queue": "mail", "next": f"{LIST}?queue=mail"}
        assert "Cancel: 4 jobs?" in client.post(ACT, form).content.decode()
        response = client.post(ACT, {**form, "confirmed": "1"}, follow=True)
        assert response.redirect_chain == [(f"{LIST}?queue=mail", 302)]
        assert "Cancel: 3 jobs. 1 left as it was: This job has already finished (successful)." in (
            response.content.decode()
        )
        statuses = dict(Job.objects.values_list("pk", "status"))
        assert [statuses[job.pk] for job in mail] == [JobStatus.CANCELLED] * 3
        assert (statuses[other.pk], statuses[done.pk]) == (JobStatus.READY, JobStatus.SUCCESSFUL)
        record = StaffAction.objects.get()
        assert (record.user, record.action, record.selection, record.done, record.skipped) == (
            user,
            "cancel",
            "queue=mail",
            3,
            1,
        )

    def test_retrying_one_failed_job_opens_the_new_job_which_links_to_the_old(self, client, signed_in, alice):
        old = failed(alice, task_path="tests.tasks.add", args=[2], kwargs={"b": 3})
        signed_in(client, "staff-actor")
        response = client.post(ACT, {"action": "retry", "job": old.pk, "confirmed": "1", "next": "/jobs/staff/"})
        new = Job.objects.get(retry_of=old)
        assert response["Location"] == f"/jobs/{new.pk}/"
        assert (new.owner, new.args, new.kwargs, new.status) == (alice, [2], {"b": 3}, JobStatus.READY)
        new_page = client.get(f"/jobs/{new.pk}/").content.decode()
        assert f'href="/jobs/{old.pk}/"' in new_page
        assert 'data-testid="job-retry-of"' in new_page
        old_page = client.get(f"/jobs/{old.pk}/").content.decode()
        assert f'href="/jobs/{new.pk}/"' in old_page
        # The owner sees both links too.
        client.force_login(alice)
        assert f'href="/jobs/{old.pk}/"' in client.get(f"/jobs/{new.pk}/").content.decode()

    @pytest.mark.parametrize(
        ("form", "reason"),
        [
            ({"action": "delete"}, "Choose an action"),
            ({"action": "cancel"}, "Select at least one job"),
            ({"action": "cancel", "job": "not-a-uuid"}, "A selected job id is not valid"),
            ({"action": "cancel", "scope": "everything"}, "on the selected jobs or on the filter"),
            ({"action": "cancel", "scope": "filter", "status": "DONE"}, "The filter is not valid"),
        ],
    )
    def test_bad_input_is_a_400_that_says_why_and_changes_nothing(self, client, signed_in, form, reason):
        make_job()
        signed_in(client, "staff-actor")
        response = client.post(ACT, {**form, "confirmed": "1"})
        assert response.status_code == 400
        assert reason in response.content.decode()
        assert Job.objects.get().status == JobStatus.READY
        assert not StaffAction.objects.exists()

    def test_back_only_to_this_site(self, client, signed_in):
        job = make_job()
        signed_in(client, "staff-actor")
        response = client.post(
            ACT, {"action": "cancel", "job": job.pk, "confirmed": "1", "next": "https://evil.example/"}
        )
        assert response["Location"] == LIST


class TestFailures:
    def test_the_newest_failures_with_their_attempts_and_a_retry_for_actors(self, client, signed_in, alice):
        at = timezone.now().isoformat()
        broken = failed(
            alice,
            attempts=2,
            errors=[
                {"attempt": 1, "at": at, "class": "builtins.OSError", "message": "Disk full."},
                {"attempt": 2, "at": at, "class": "builtins.ValueError", "message": "The file is empty."},
            ],
        )
        make_job(alice, status=JobStatus.SUCCESSFUL)
        signed_in(client, "staff-reader")
        body = client.get("/jobs/staff/failures/", headers=HX).content.decode()
        assert re.findall(r'data-testid="staff-failure" data-job-id="([^"]+)"', body) == [str(broken.pk)]
        assert "Disk full." in body
        assert "2 failed attempts" in body
        assert 'data-testid="staff-retry"' not in body
        client.logout()
        signed_in(client, "staff-actor")
        assert 'data-testid="staff-retry"' in client.get("/jobs/staff/failures/").content.decode()


class TestStaffReadOnlyPages:
    @pytest.mark.parametrize(("kind", "answer"), [("user", 404), ("staff", 404), ("staff-reader", 200)])
    def test_any_job_for_staff_with_view_job_and_no_one_else(self, client, signed_in, alice, kind, answer):
        job = make_job(alice)
        signed_in(client, kind)
        for url in (f"/jobs/{job.pk}/", f"/jobs/{job.pk}/progress/", f"/jobs/{job.pk}/status.json"):
            assert client.get(url).status_code == answer, url

    def test_read_only(self, client, signed_in, alice):
        job = make_job(alice)
        signed_in(client, "staff-reader")
        body = client.get(f"/jobs/{job.pk}/").content.decode()
        assert "You see alice's job as staff." in body
        assert "Read only." in body
        assert "/cancel/" not in body
        assert client.post(f"/jobs/{job.pk}/cancel/").status_code == 404
        assert Job.objects.get().status == JobStatus.READY

    @pytest.mark.parametrize(
        ("status", "fields", "buttons"),
        [
            (JobStatus.READY, {}, ["cancel", "requeue"]),
            (JobStatus.READY, {"run_after": timezone.now() + timedelta(hours=1)}, ["cancel", "requeue", "run_now"]),
            (JobStatus.RUNNING, {}, ["cancel", "requeue"]),
            (JobStatus.FAILED, {}, ["retry"]),
            (JobStatus.CANCELLED, {}, ["retry"]),
            (JobStatus.SUCCESSFUL, {}, []),
        ],
    )
    def test_actors_get_the_actions_that_apply_to_the_job_on_its_page(
        self, client, signed_in, alice, status, fields, buttons
    ):
        job = make_job(alice, status=status, **fields)
        signed_in(client, "staff-actor")
        body = client.get(f"/jobs/{job.pk}/").content.decode()
        assert re.findall(r'name="action" value="([a-z_]+)"', body) == buttons
        client.logout()
        signed_in(client, "staff-reader")
        assert 'data-testid="job-staff-actions"' not in client.get(f"/jobs/{job.pk}/").content.decode()


class TestAdmin:
    def test_actors_retry_from_the_admin_and_it_is_recorded(self, client, signed_in, alice):
        old = failed(alice)
        signed_in(client, "staff-actor")
        changelist = client.get("/admin/jobs_ui/job/").content.decode()
        assert 'value="retry_jobs"' in changelist
        response = client.post("/admin/jobs_ui/job/", {"action": "retry_jobs", "_selected_action": [old.pk]})
        assert response.status_code == 302
        new = Job.objects.get(retry_of=old)
        assert new.status == JobStatus.READY
        assert StaffAction.objects.get().selection == "admin"

    def test_readers_have_no_actions(self, client, signed_in, alice):
        old = failed(alice)
        signed_in(client, "staff-reader")
        assert 'value="retry_jobs"' not in client.get("/admin/jobs_ui/job/").content.decode()
        client.post("/admin/jobs_ui/job/", {"action": "retry_jobs", "_selected_action": [old.pk]})
        assert Job.objects.count() == 1
