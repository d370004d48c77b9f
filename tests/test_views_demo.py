"""The demo site's own views: the home page, the count form (user input), the CSV download."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone

from jobs_ui.models import Job, JobStatus
from jobs_ui.views.launch_endpoint import unsign_launch
from tests.helpers import HX, make_job

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("demo_urls"),
]


@pytest.fixture
def demo_urls():
    templates = [{**settings.TEMPLATES[0], "DIRS": [ROOT / "demo" / "templates", ROOT / "templates"]}]
    with override_settings(ROOT_URLCONF="demo.urls", TEMPLATES=templates):
        yield


def export_job(owner, **fields):
    now = timezone.now()
    defaults = {
        "task_path": "demo.tasks.export_customers",
        "args": [],
        "status": JobStatus.SUCCESSFUL,
        "finished_at": now,
        "result": {"filename": "customers.csv", "rows": 1, "csv": "id,name\r\n1,Ada\r\n", "preview": [["1", "Ada"]]},
        "result_expires_at": now + timedelta(hours=1),
    }
    return make_job(owner, **{**defaults, **fields})


class TestHome:
    def test_anonymous_is_invited_to_sign_in(self, client):
        response = client.get("/")
        assert response.status_code == 200
        body = response.content.decode()
        assert "Sign in to try it" in body
        assert "/jobs/launch/" not in body

    def test_signed_in_sees_every_demo(self, client, alice):
        client.force_login(alice)
        body = client.get("/").content.decode()
        payloads = [unsign_launch(p) for p in re.findall(r'name="payload" value="([^"]+)"', body)]
        assert {p["t"] for p in payloads} == {
            "demo.tasks.export_customers",
            "demo.tasks.import_broken_file",
            "demo.tasks.rebuild_index",
            "demo.tasks.crawl_intranet",
            "demo.tasks.build_status_report",
            "demo.tasks.render_monthly_report",
        }
        assert all(p["u"] == str(alice.pk) for p in payloads)
        assert 'hx-post="/demo/count/"' in body
        assert "<script>" not in body

    def test_the_worker_demo_says_it_waits_for_a_worker(self, client, alice):
        client.force_login(alice)
        body = client.get("/").content.decode()
        [payload] = [
            p for p in re.findall(r'name="payload" value="([^"]+)"', body) if "render_monthly" in str(unsign_launch(p))
        ]
        panel = client.post("/jobs/launch/", {"payload": payload}, headers={"HX-Request": "true"}).content.decode()
        assert "No worker is running jobs of this kind right now" in panel


class TestCountStart:
    def test_launches_with_the_users_number(self, client, alice):
        client.force_login(alice)
        response = client.post("/demo/count/", {"n": "7"}, headers=HX)
        assert response.status_code == 200
        job = Job.objects.get()
        assert (job.task_path, job.args, job.owner) == ("demo.tasks.count_to", [7], alice)
        assert f'data-job-id="{job.pk}"' in response.content.decode()

    @pytest.mark.parametrize("value", ["0", "501", "ten", ""])
    def test_bad_number_is_400_and_no_job(self, client, alice, value):
        client.force_login(alice)
        response = client.post("/demo/count/", {"n": value}, headers=HX)
        assert response.status_code == 400
        assert 'role="alert"' in response.content.decode()
        assert not Job.objects.exists()

    def test_without_javascript_redirects(self, client, alice):
        client.force_login(alice)
        response = client.post("/demo/count/", {"n": "3"})
        assert response["Location"] == f"/jobs/{Job.objects.get().pk}/"

    def test_anonymous_is_403(self, client):
        assert client.post("/demo/count/", {"n": "3"}, headers=HX).status_code == 403
        assert not Job.objects.exists()

    def test_csrf_is_required(self, alice):
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice)
        assert client.post("/demo/count/", {"n": "3"}, headers=HX).status_code == 403

    @override_settings(JOBS_UI={"MAX_UNFINISHED_JOBS_PER_USER": 0, "THREAD_AUTOSTART": False})
    def test_too_many_jobs_is_429(self, client, alice):
        client.force_login(alice)
        response = client.post("/demo/count/", {"n": "3"}, headers=HX)
        assert response.status_code == 429
        assert not Job.objects.exists()


class TestExportDownload:
    def test_owner_downloads_the_csv(self, client, alice):
        job = export_job(alice)
        client.force_login(alice)
        response = client.get(f"/demo/exports/{job.pk}/customers.csv")
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == 'attachment; filename="customers.csv"'
        assert response.content == b"id,name\r\n1,Ada\r\n"

    def test_the_panel_links_to_it(self, client, alice):
        job = export_job(alice)
        client.force_login(alice)
        body = client.get(f"/jobs/{job.pk}/progress/", headers=HX).content.decode()
        assert f'href="/demo/exports/{job.pk}/customers.csv"' in body
        assert "1 customers exported." in body

    def test_someone_elses_export_is_404(self, client, alice, bob):
        job = export_job(alice)
        client.force_login(bob)
        assert client.get(f"/demo/exports/{job.pk}/customers.csv").status_code == 404

    def test_unfinished_expired_or_other_tasks_are_404(self, client, alice):
        client.force_login(alice)
        for job in [
            export_job(alice, status=JobStatus.RUNNING, finished_at=None),
            export_job(alice, result_expires_at=timezone.now() - timedelta(seconds=1)),
            export_job(alice, task_path="demo.tasks.count_to"),
        ]:
            assert client.get(f"/demo/exports/{job.pk}/customers.csv").status_code == 404


class TestNotFound:
    def test_someone_elses_job_shows_the_demo_404_page(self, client, alice, bob):
        job = export_job(alice)
        client.force_login(bob)
        response = client.get(f"/jobs/{job.pk}/")
        assert response.status_code == 404
        assert "Page not found" in response.content.decode()
