from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs_ui.jobs.cancel import cancel
from jobs_ui.models import Job, JobStatus
from tests.helpers import make_job, reads_heavy_columns, succeeded

pytestmark = pytest.mark.django_db


def result_url(job):
    return f"/jobs/{job.pk}/result.json"


def status_url(job):
    return f"/jobs/{job.pk}/status.json"


class TestJobResult:
    def test_unfinished_is_202_with_progress(self, client, alice):
        job = make_job(alice, status=JobStatus.RUNNING, progress_done=3, progress_total=4, progress_message="almost")
        client.force_login(alice)
        response = client.get(result_url(job))
        assert response.status_code == 202
        body = response.json()
        assert body["status"] == "RUNNING"
        assert body["progress"] == {"done": 3, "total": 4, "percent": 75.0, "message": "almost"}
        assert response["Cache-Control"].startswith("max-age=0")

    @pytest.mark.parametrize("value", [{}, [], 0, "", None, {"rows": [1, 2]}])
    def test_successful_is_200_with_any_json_value(self, client, alice, value):
        job = succeeded(alice, value)
        client.force_login(alice)
        response = client.get(result_url(job))
        assert response.status_code == 200
        assert response.json() == value

    @pytest.mark.parametrize("status", [JobStatus.FAILED, JobStatus.CANCELLED])
    def test_failed_or_cancelled_is_409_without_traceback(self, client, alice, status):
        job = make_job(
            alice,
            status=status,
            error_class="builtins.ValueError",
            error_message="bad <input>",
            error_traceback="Traceback: secret",
        )
        client.force_login(alice)
        response = client.get(result_url(job))
        assert response.status_code == 409
        assert response.json()["error"] == {"class": "builtins.ValueError", "message": "bad <input>"}

    def test_staff_owner_sees_traceback(self, client, staff):
        job = make_job(staff, status=JobStatus.FAILED, error_class="builtins.ValueError", error_traceback="TB")
        client.force_login(staff)
        assert client.get(result_url(job)).json()["error"]["traceback"] == "TB"

    def test_expired_is_410(self, client, alice):
        job = succeeded(alice, {"a": 1})
        Job.objects.filter(pk=job.pk).update(result_expires_at=timezone.now() - timedelta(seconds=1))
        client.force_login(alice)
        response = client.get(result_url(job))
        assert response.status_code == 410
        assert "expired" in response.json()["error"]["message"]

    def test_someone_elses_job_is_404(self, client, alice, bob):
        job = succeeded(alice, 1)
        client.force_login(bob)
        assert client.get(result_url(job)).status_code == 404
        assert client.get(status_url(job)).status_code == 404

    def test_anonymous_is_404(self, client, alice):
        job = succeeded(alice, 1)
        assert client.get(result_url(job)).status_code == 404
        assert client.get(status_url(job)).status_code == 404

    def test_unknown_and_malformed_ids_are_404(self, client, alice):
        client.force_login(alice)
        assert client.get(f"/jobs/{uuid.uuid4()}/result.json").status_code == 404
        assert client.get("/jobs/not-a-uuid/result.json").status_code == 404

    def test_public_job_is_readable_by_others(self, client, alice, bob):
        job = succeeded(alice, {"shared": True}, public=True)
        client.force_login(bob)
        assert client.get(result_url(job)).json() == {"shared": True}
        client.logout()
        assert client.get(result_url(job)).json() == {"shared": True}
        assert client.get(status_url(job)).json()["status"] == "SUCCESSFUL"

    def test_post_is_not_allowed(self, client, alice):
        job = succeeded(alice, 1)
        client.force_login(alice)
        assert client.post(result_url(job)).status_code == 405


class TestJobStatus:
    def test_reads_neither_arguments_nor_result_nor_traceback(self, client, alice):
        job = make_job(alice, status=JobStatus.RUNNING, args=["x" * 1000], workspace={"big": "y" * 1000})
        Job.objects.filter(pk=job.pk).update(error_class="builtins.OSError", error_traceback="Traceback …")
        client.force_login(alice)
        # Where the job stands is read once, and kept for a few seconds.
        client.get(status_url(job))
        with CaptureQueriesContext(connection) as queries:
            response = client.get(status_url(job))
        assert response.status_code == 200
        assert response.json()["error"] == {"class": "builtins.OSError", "message": ""}
        # The owner's session comes with the job: one statement.
        [job_query] = [query["sql"] for query in queries]
        assert reads_heavy_columns(job_query) == []
        assert "ORDER BY" not in job_query

    def test_owner_sees_status_and_progress(self, client, alice):
        job = make_job(alice, status=JobStatus.READY)
        client.force_login(alice)
        body = client.get(status_url(job)).json()
        assert body["id"] == str(job.pk)
        assert body["status"] == "READY"
        assert body["task"] == "tests.tasks.echo"
        assert body["progress"]["percent"] is None
        assert body["cancel_requested"] is False
        assert body["enqueued_at"] is not None
        assert "error" not in body


class TestJsonErrors:
    @pytest.mark.parametrize("url", [status_url, result_url])
    def test_someone_elses_job_is_a_json_404(self, client, alice, bob, url):
        job = succeeded(alice, 1)
        client.force_login(bob)
        response = client.get(url(job))
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"error": {"message": "No such job."}}

    @pytest.mark.parametrize("name", ["status.json", "result.json"])
    @pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "not-a-uuid"])
    def test_unknown_and_malformed_ids_are_json_404(self, client, alice, name, job_id):
        client.force_login(alice)
        response = client.get(f"/jobs/{job_id}/{name}")
        assert response.status_code == 404
        assert response.json() == {"error": {"message": "No such job."}}

    @pytest.mark.parametrize("url", [status_url, result_url])
    @pytest.mark.parametrize("method", ["post", "put", "delete"])
    def test_other_methods_are_a_json_405_with_allow(self, client, alice, url, method):
        job = succeeded(alice, 1)
        client.force_login(alice)
        response = getattr(client, method)(url(job))
        assert response.status_code == 405
        assert response["Allow"] == "GET, HEAD"
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"error": {"message": f"Method {method.upper()} is not allowed here; use GET."}}

    @pytest.mark.parametrize("url", [status_url, result_url])
    def test_head_is_allowed(self, client, alice, url):
        job = succeeded(alice, 1)
        client.force_login(alice)
        assert client.head(url(job)).status_code == 200


UNREACHABLE_STORE = {
    "RESULT_STORE": {"BACKEND": "jobs_ui.stores.rabbitmq.RabbitMQResultStore"},
    "AMQP_URL": "amqp://guest:guest@127.0.0.1:1/%2F",
}


class TestUnreadableResult:
    def test_store_error_is_a_generic_503(self, client, alice, settings):
        settings.JOBS_UI = {**settings.JOBS_UI, **UNREACHABLE_STORE}
        job = succeeded(alice, None, public=True)
        client.force_login(alice)
        response = client.get(result_url(job))
        assert response.status_code == 503
        assert response["Retry-After"] == "5"
        assert response.json() == {
            "id": str(job.pk),
            "status": "SUCCESSFUL",
            "error": {"message": "The result cannot be read right now; try again shortly."},
        }
        client.logout()
        assert "detail" not in client.get(result_url(job)).json()["error"]

    def test_staff_get_the_detail(self, client, alice, staff, settings):
        settings.JOBS_UI = {**settings.JOBS_UI, **UNREACHABLE_STORE}
        job = succeeded(alice, None, public=True)
        client.force_login(staff)
        error = client.get(result_url(job)).json()["error"]
        assert error["message"] == "The result cannot be read right now; try again shortly."
        assert "Could not read the result of job" in error["detail"]
        assert "127.0.0.1:1" in error["detail"]


class TestCanceller:
    def test_only_owner_and_staff_learn_who_cancelled(self, client, alice, bob, staff):
        job = cancel(make_job(alice, public=True), by=alice)
        seen = {}
        for user in (alice, staff, bob, None):
            client.logout()
            if user is not None:
                client.force_login(user)
            name = user.username if user else "anonymous"
            seen[name] = (
                client.get(status_url(job)).json()["error"]["message"],
                client.get(result_url(job)).json()["error"]["message"],
            )
        assert seen == {
            "alice": ("Cancelled by alice.", "Cancelled by alice."),
            "staff": ("Cancelled by alice.", "Cancelled by alice."),
            "bob": ("Cancelled.", "Cancelled."),
            "anonymous": ("Cancelled.", "Cancelled."),
        }
