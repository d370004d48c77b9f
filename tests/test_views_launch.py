"""The generic launch endpoint behind {% launch_button %}: signed payloads only."""

from __future__ import annotations

import re

import pytest
from django.core import signing
from django.test import Client, override_settings

from jobs_ui.models import Job
from jobs_ui.views import launch_endpoint
from jobs_ui.views.launch_endpoint import LAUNCH_SALT, sign_launch
from tests.helpers import HX

pytestmark = pytest.mark.django_db

URL = "/jobs/launch/"


def payload_for(user, task_path="tests.tasks.add", args=(1,), kwargs=None, public=None):
    kwargs = {"b": 2} if kwargs is None else kwargs
    return sign_launch(task_path, list(args), kwargs, public=public, user_id=user.pk if user else None)


class TestLaunch:
    def test_htmx_launch_answers_the_panel(self, client, alice):
        client.force_login(alice)
        response = client.post(URL, {"payload": payload_for(alice)}, headers=HX)
        assert response.status_code == 200
        job = Job.objects.get()
        assert job.owner == alice
        assert job.task_path == "tests.tasks.add"
        assert job.args == [1]
        assert job.kwargs == {"b": 2}
        assert job.public is False
        body = response.content.decode()
        assert f'data-job-id="{job.pk}"' in body
        assert "hx-trigger" in body

    def test_the_panel_htmx_brings_has_forms_without_a_csrf_token_of_their_own(self, client, alice, settings):
        # htmx sends the page's token (or jobs_ui.js the cookie's), as for a poll.
        client.force_login(alice)
        response = client.post(URL, {"payload": payload_for(alice)}, headers=HX)
        body = response.content.decode()
        assert "/cancel/" in body
        assert "csrfmiddlewaretoken" not in body
        assert "csrftoken" not in response.cookies
        settings.CSRF_COOKIE_HTTPONLY = True
        kept = client.post(URL, {"payload": payload_for(alice)}, headers=HX).content.decode()
        assert "/cancel/" in kept
        assert 'name="csrfmiddlewaretoken"' in kept

    def test_without_javascript_redirects_to_the_job_page(self, client, alice):
        client.force_login(alice)
        response = client.post(URL, {"payload": payload_for(alice)})
        job = Job.objects.get()
        assert response.status_code == 302
        assert response["Location"] == f"/jobs/{job.pk}/"

    def test_public_flag_travels_signed(self, client, alice):
        client.force_login(alice)
        client.post(URL, {"payload": payload_for(alice, public=True)}, headers=HX)
        assert Job.objects.get().public is True

    def test_task_public_default_applies(self, client, alice):
        client.force_login(alice)
        client.post(URL, {"payload": payload_for(alice, "tests.tasks.public_job", args=(), kwargs={})}, headers=HX)
        assert Job.objects.get().public is True

    def test_tampered_payload_is_400(self, client, alice):
        client.force_login(alice)
        good = payload_for(alice)
        tampered = good[:-3] + ("aaa" if not good.endswith("aaa") else "bbb")
        response = client.post(URL, {"payload": tampered}, headers=HX)
        assert response.status_code == 400
        assert "not valid" in response.content.decode()
        assert 'role="alert"' in response.content.decode()
        assert not Job.objects.exists()

    def test_payload_changed_to_another_task_is_400(self, client, alice):
        client.force_login(alice)
        value, _, signature = payload_for(alice).partition(":")
        forged_value = signing.dumps(
            {"t": "tests.tasks.explode", "a": ["boom"], "k": {}, "p": None, "u": str(alice.pk)},
            salt=LAUNCH_SALT,
            compress=True,
        ).partition(":")[0]
        response = client.post(URL, {"payload": f"{forged_value}:{signature}"}, headers=HX)
        assert response.status_code == 400
        assert not Job.objects.exists()

    def test_payload_signed_for_another_purpose_is_400(self, client, alice):
        client.force_login(alice)
        other = signing.dumps({"t": "tests.tasks.add", "a": [1], "k": {}, "p": None, "u": str(alice.pk)})
        assert client.post(URL, {"payload": other}, headers=HX).status_code == 400
        assert not Job.objects.exists()

    def test_missing_payload_is_400(self, client, alice):
        client.force_login(alice)
        assert client.post(URL, {}, headers=HX).status_code == 400
        assert not Job.objects.exists()

    def test_expired_payload_is_400(self, client, alice, monkeypatch):
        monkeypatch.setattr(launch_endpoint, "LAUNCH_MAX_AGE", -1)
        client.force_login(alice)
        response = client.post(URL, {"payload": payload_for(alice)}, headers=HX)
        assert response.status_code == 400
        assert "expired" in response.content.decode()
        assert not Job.objects.exists()

    def test_payload_made_for_another_user_is_400(self, client, alice, bob):
        client.force_login(bob)
        response = client.post(URL, {"payload": payload_for(alice)}, headers=HX)
        assert response.status_code == 400
        assert "another user" in response.content.decode()
        assert not Job.objects.exists()

    def test_malformed_signed_payload_is_400(self, client, alice):
        client.force_login(alice)
        payload = signing.dumps({"t": "tests.tasks.add", "a": "1", "k": {}}, salt=LAUNCH_SALT)
        assert client.post(URL, {"payload": payload}, headers=HX).status_code == 400
        assert not Job.objects.exists()

    def test_unknown_task_is_400(self, client, alice):
        client.force_login(alice)
        response = client.post(URL, {"payload": payload_for(alice, "tests.tasks.nope")}, headers=HX)
        assert response.status_code == 400
        assert "No task at" in response.content.decode()

    def test_arguments_not_matching_the_task_are_400(self, client, alice):
        client.force_login(alice)
        response = client.post(URL, {"payload": payload_for(alice, kwargs={"c": 3})}, headers=HX)
        assert response.status_code == 400
        assert "do not match" in response.content.decode()
        assert not Job.objects.exists()

    def test_error_without_javascript_is_a_full_page(self, client, alice):
        client.force_login(alice)
        response = client.post(URL, {"payload": "broken"})
        assert response.status_code == 400
        assert "<html" in response.content.decode()
        assert "The job was not started" in response.content.decode()

    @override_settings(JOBS_UI={"MAX_UNFINISHED_JOBS_PER_USER": 1, "THREAD_AUTOSTART": False})
    def test_too_many_jobs_is_429(self, client, alice):
        client.force_login(alice)
        assert client.post(URL, {"payload": payload_for(alice)}, headers=HX).status_code == 200
        response = client.post(URL, {"payload": payload_for(alice)}, headers=HX)
        assert response.status_code == 429
        assert "unfinished jobs" in response.content.decode()
        assert Job.objects.count() == 1

    def test_a_unique_job_is_per_user(self, client, alice, bob):
        client.force_login(alice)
        first = client.post(URL, {"payload": payload_for(alice, "tests.tasks.unique_job", (7,), {})}, headers=HX)
        alices = Job.objects.get(owner=alice)
        client.force_login(bob)
        response = client.post(URL, {"payload": payload_for(bob, "tests.tasks.unique_job", (7,), {})}, headers=HX)
        assert response.status_code == 200
        bobs = Job.objects.get(owner=bob)
        assert f'data-job-id="{bobs.pk}"' in response.content.decode()
        assert str(alices.pk) not in response.content.decode()
        assert f'data-job-id="{alices.pk}"' in first.content.decode()

    def test_a_global_unique_job_of_another_user_is_409_without_its_panel(self, client, alice, bob):
        client.force_login(alice)
        client.post(URL, {"payload": payload_for(alice, "tests.tasks.unique_global_job", (7,), {})}, headers=HX)
        alices = Job.objects.get()
        client.force_login(bob)
        payload = payload_for(bob, "tests.tasks.unique_global_job", (7,), {})
        response = client.post(URL, {"payload": payload}, headers=HX)
        assert response.status_code == 409
        body = response.content.decode()
        assert "already running" in body
        assert 'role="alert"' in body
        assert str(alices.pk) not in body
        assert Job.objects.count() == 1
        # Without JavaScript: the error page, not a redirect to the job.
        response = client.post(URL, {"payload": payload})
        assert response.status_code == 409
        assert str(alices.pk) not in response.content.decode()

    def test_anonymous_htmx_is_403(self, client):
        response = client.post(URL, {"payload": payload_for(None)}, headers=HX)
        assert response.status_code == 403
        assert "Sign in" in response.content.decode()
        assert not Job.objects.exists()

    def test_anonymous_without_javascript_goes_to_login_and_back(self, client):
        response = client.post(URL, {"payload": payload_for(None)}, HTTP_REFERER="http://testserver/reports/")
        assert response.status_code == 302
        assert response["Location"] == "/accounts/login/?next=http%3A//testserver/reports/"
        response = client.post(URL, {"payload": payload_for(None)}, HTTP_REFERER="https://evil.example/")
        assert response["Location"] == "/accounts/login/?next=/"
        assert not Job.objects.exists()

    @pytest.mark.parametrize("name", ["task", "request", "public"])
    def test_task_parameters_named_like_launch_options(self, client, alice, name):
        client.force_login(alice)
        payload = payload_for(alice, "tests.tasks.named_like_launch", args=(), kwargs={name: "given"}, public=True)
        response = client.post(URL, {"payload": payload}, headers=HX)
        assert response.status_code == 200
        job = Job.objects.get()
        assert job.kwargs == {name: "given"}
        assert job.public is True

    def test_get_is_not_allowed(self, client, alice):
        client.force_login(alice)
        assert client.get(URL).status_code == 405

    def test_csrf_is_required(self, alice):
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice)
        assert client.post(URL, {"payload": payload_for(alice)}, headers=HX).status_code == 403
        assert not Job.objects.exists()

    def test_stale_csrf_token_is_a_whole_page_unlike_the_views_refusals(self, client, alice):
        # The button's script swaps fragments in, and says its own message for a whole page.
        stale = Client(enforce_csrf_checks=True)
        stale.force_login(alice)
        stale.get("/jobs/")
        response = stale.post(URL, {"payload": payload_for(alice)}, headers={**HX, "X-CSRFToken": "a" * 32})
        assert response.status_code == 403
        assert "<html" in response.content.decode()
        refusal = client.post(URL, {"payload": payload_for(None)}, headers=HX)
        assert refusal.status_code == 403
        assert "<html" not in refusal.content.decode()
        assert not Job.objects.exists()

    def test_csrf_header_as_htmx_sends_it(self, alice):
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice)
        page = client.get("/jobs/").content.decode()
        token = re.search(r'"X-CSRFToken": "([^"]+)"', page)
        assert token
        headers = {"X-CSRFToken": token.group(1), "HX-Request": "true"}
        response = client.post(URL, {"payload": payload_for(alice)}, headers=headers)
        assert response.status_code == 200
        assert Job.objects.count() == 1
