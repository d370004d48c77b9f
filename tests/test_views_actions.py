"""Cancel and "Run again" from the panel: owner only, CSRF, clear answers."""

from __future__ import annotations

import re

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from jobs_ui.models import Job, JobStatus
from jobs_ui.views.launch_endpoint import sign_launch
from tests.helpers import HX, make_job

pytestmark = pytest.mark.django_db

CANCEL_BUTTON = re.compile(r"<button [^>]*>\s*Cancel\s*</button>")


def cancel_url(job):
    return f"/jobs/{job.pk}/cancel/"


def rerun_url(job):
    return f"/jobs/{job.pk}/rerun/"


class TestCancel:
    def test_ready_job_is_cancelled_and_the_button_goes(self, client, alice):
        job = make_job(alice)
        client.force_login(alice)
        response = client.post(cancel_url(job), headers=HX)
        assert response.status_code == 200
        job.refresh_from_db()
        assert job.status == JobStatus.CANCELLED
        body = response.content.decode()
        assert 'data-job-status="CANCELLED"' in body
        assert not CANCEL_BUTTON.search(body)
        assert "hx-trigger" not in body
        assert "Cancelled by alice." in body

    def test_running_job_shows_cancelling(self, client, alice):
        job = make_job(alice, status=JobStatus.RUNNING)
        client.force_login(alice)
        response = client.post(cancel_url(job), headers=HX)
        assert response.status_code == 200
        job.refresh_from_db()
        assert job.cancel_requested_at is not None
        body = response.content.decode()
        assert "Cancelling…" in body
        assert 'data-job-status="RUNNING"' in body
        assert "hx-trigger" in body

    def test_finished_job_says_so_and_nothing_changes(self, client, alice):
        job = make_job(alice, status=JobStatus.SUCCESSFUL, finished_at=timezone.now(), result=3)
        client.force_login(alice)
        response = client.post(cancel_url(job), headers=HX)
        assert response.status_code == 200
        assert "This job has already finished (successful)." in response.content.decode()
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCESSFUL
        assert job.cancel_requested_at is None

    def test_without_javascript_redirects_to_the_job_page(self, client, alice):
        job = make_job(alice)
        client.force_login(alice)
        response = client.post(cancel_url(job))
        assert response.status_code == 302
        assert response["Location"] == f"/jobs/{job.pk}/"

    def test_finished_without_javascript_shows_a_message(self, client, alice):
        job = make_job(alice, status=JobStatus.FAILED, finished_at=timezone.now())
        client.force_login(alice)
        response = client.post(cancel_url(job), follow=True)
        assert "This job has already finished (failed)." in response.content.decode()

    def test_someone_elses_job_is_404(self, client, alice, bob):
        job = make_job(alice)
        client.force_login(bob)
        assert client.post(cancel_url(job), headers=HX).status_code == 404
        job.refresh_from_db()
        assert job.status == JobStatus.READY

    def test_public_job_cannot_be_cancelled_by_others(self, client, alice, bob):
        job = make_job(alice, public=True)
        client.force_login(bob)
        assert client.post(cancel_url(job), headers=HX).status_code == 404
        client.logout()
        assert client.post(cancel_url(job), headers=HX).status_code == 404
        job.refresh_from_db()
        assert job.status == JobStatus.READY

    def test_staff_cannot_cancel_someone_elses_job_here(self, client, alice, staff):
        job = make_job(alice)
        client.force_login(staff)
        assert client.post(cancel_url(job), headers=HX).status_code == 404

    def test_anonymous_is_404(self, client, alice):
        job = make_job(alice)
        assert client.post(cancel_url(job), headers=HX).status_code == 404

    def test_get_is_not_allowed(self, client, alice):
        job = make_job(alice)
        client.force_login(alice)
        assert client.get(cancel_url(job)).status_code == 405

    def test_csrf_is_required(self, alice):
        job = make_job(alice)
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice)
        assert client.post(cancel_url(job), headers=HX).status_code == 403
        job.refresh_from_db()
        assert job.status == JobStatus.READY

    def test_the_panel_cancel_form_posts_with_confirm(self, client, alice):
        job = make_job(alice)
        client.force_login(alice)
        body = client.get(f"/jobs/{job.pk}/progress/", headers=HX).content.decode()
        assert f'hx-post="/jobs/{job.pk}/cancel/"' in body
        assert f'action="/jobs/{job.pk}/cancel/"' in body
        assert 'hx-confirm="Cancel this job?"' in body
        # Without script, the form posts from the job's page, which carries the token.
        assert 'name="csrfmiddlewaretoken"' in client.get(f"/jobs/{job.pk}/").content.decode()

    def test_stale_csrf_token_is_a_whole_page_and_the_form_says_why(self, alice):
        # The panel's script shows the form's own message for an answer that is a whole page.
        job = make_job(alice)
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice)
        body = client.get(f"/jobs/{job.pk}/progress/", headers=HX).content.decode()
        response = client.post(cancel_url(job), headers={**HX, "X-CSRFToken": "a" * 32})
        assert response.status_code == 403
        assert "<html" in response.content.decode()
        assert re.search(r"<form [^>]*data-jobs-ui-cancel[^>]*>", body)
        # What the form then says comes with the page's script tag ({% jobs_ui_head %}).
        page = client.get(f"/jobs/{job.pk}/").content.decode()
        assert (
            'data-text-cancel-error-session="Your session changed in another tab: reload the page and try again."'
            in (page)
        )
        assert 'data-text-cancel-error-server="The server hit an error; the job was not cancelled."' in page
        assert re.search(r'<span class="jobs-ui-action-error" role="alert" hidden data-testid="cancel-error">', body)


class TestRerun:
    def test_owner_runs_a_finished_job_again(self, client, alice):
        job = make_job(
            alice,
            task_path="tests.tasks.add",
            kwargs={"b": 2},
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            public=True,
        )
        client.force_login(alice)
        response = client.post(rerun_url(job), headers=HX)
        assert response.status_code == 200
        new = Job.objects.exclude(pk=job.pk).get()
        assert (new.task_path, new.args, new.kwargs, new.owner, new.public) == (
            "tests.tasks.add",
            [1],
            {"b": 2},
            alice,
            True,
        )
        assert f'data-job-id="{new.pk}"' in response.content.decode()

    @pytest.mark.parametrize("name", ["task", "request", "public"])
    def test_task_parameters_named_like_launch_options(self, client, alice, name):
        job = make_job(
            alice,
            task_path="tests.tasks.named_like_launch",
            args=[],
            kwargs={name: "given"},
            status=JobStatus.SUCCESSFUL,
            finished_at=timezone.now(),
        )
        client.force_login(alice)
        response = client.post(rerun_url(job), headers=HX)
        assert response.status_code == 200
        new = Job.objects.exclude(pk=job.pk).get()
        assert (new.kwargs, new.public) == ({name: "given"}, False)

    def test_without_javascript_redirects_to_the_new_job(self, client, alice):
        job = make_job(alice, status=JobStatus.SUCCESSFUL, finished_at=timezone.now())
        client.force_login(alice)
        response = client.post(rerun_url(job))
        new = Job.objects.exclude(pk=job.pk).get()
        assert response["Location"] == f"/jobs/{new.pk}/"

    def test_unfinished_job_is_409(self, client, alice):
        job = make_job(alice, status=JobStatus.RUNNING)
        client.force_login(alice)
        response = client.post(rerun_url(job), headers=HX)
        assert response.status_code == 409
        assert "still running" in response.content.decode()
        assert Job.objects.count() == 1

    def test_vanished_task_is_400(self, client, alice):
        job = make_job(alice, task_path="tests.tasks.gone", status=JobStatus.FAILED, finished_at=timezone.now())
        client.force_login(alice)
        assert client.post(rerun_url(job), headers=HX).status_code == 400
        assert Job.objects.count() == 1

    @override_settings(JOBS_UI={"MAX_UNFINISHED_JOBS_PER_USER": 1, "THREAD_AUTOSTART": False})
    def test_too_many_jobs_is_429_and_keeps_the_panel(self, client, alice):
        make_job(alice)
        job = make_job(alice, status=JobStatus.SUCCESSFUL, finished_at=timezone.now())
        client.force_login(alice)
        response = client.post(rerun_url(job), headers=HX)
        assert response.status_code == 429
        body = response.content.decode()
        assert f'data-job-id="{job.pk}"' in body
        assert "unfinished jobs" in body
        assert Job.objects.count() == 2

    def test_a_unique_job_runs_again_apart_from_another_users(self, client, alice, bob):
        launched = self._launch_as(client, alice, "tests.tasks.unique_job")
        bobs = make_job(bob, task_path="tests.tasks.unique_job", args=[7], status=JobStatus.FAILED)
        client.force_login(bob)
        response = client.post(rerun_url(bobs), headers=HX)
        assert response.status_code == 200
        new = Job.objects.get(owner=bob, status=JobStatus.READY)
        assert f'data-job-id="{new.pk}"' in response.content.decode()
        assert str(launched.pk) not in response.content.decode()

    def test_a_global_unique_job_of_another_user_is_409_without_its_panel(self, client, alice, bob):
        alices = self._launch_as(client, alice, "tests.tasks.unique_global_job")
        bobs = make_job(bob, task_path="tests.tasks.unique_global_job", args=[7], status=JobStatus.FAILED)
        client.force_login(bob)
        response = client.post(rerun_url(bobs), headers=HX)
        assert response.status_code == 409
        body = response.content.decode()
        assert "already running" in body
        assert f'data-job-id="{bobs.pk}"' in body
        assert str(alices.pk) not in body
        assert Job.objects.count() == 2

    @staticmethod
    def _launch_as(client, user, task_path):
        client.force_login(user)
        payload = sign_launch(task_path, [7], {}, public=None, user_id=user.pk)
        assert client.post("/jobs/launch/", {"payload": payload}, headers=HX).status_code == 200
        return Job.objects.get(owner=user, status=JobStatus.READY, unique_key__gt="")

    def test_someone_elses_job_is_404(self, client, alice, bob):
        job = make_job(alice, status=JobStatus.SUCCESSFUL, finished_at=timezone.now(), public=True)
        client.force_login(bob)
        assert client.post(rerun_url(job), headers=HX).status_code == 404
        client.logout()
        assert client.post(rerun_url(job), headers=HX).status_code == 404
        assert Job.objects.count() == 1

    def test_csrf_is_required(self, alice):
        job = make_job(alice, status=JobStatus.SUCCESSFUL, finished_at=timezone.now())
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice)
        assert client.post(rerun_url(job), headers=HX).status_code == 403
        assert Job.objects.count() == 1
