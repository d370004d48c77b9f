"""The progress panel partial: who sees it, what it shows, and what a poll costs."""

from __future__ import annotations

import html
import json
import re
import uuid
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import jobs_ui
from jobs_ui.jobs.cancel import cancel
from jobs_ui.models import Job, JobStatus
from jobs_ui.views.viewer import Viewer
from tests.helpers import HX, make_job, reads_heavy_columns, succeeded

pytestmark = pytest.mark.django_db


def running(owner, **fields):
    now = timezone.now()
    defaults = {
        "status": JobStatus.RUNNING,
        "started_at": now - timedelta(seconds=10),
        "progress_done": 3,
        "progress_total": 10,
        "progress_message": "step 3",
        "progress_at": now,
    }
    return make_job(owner, **{**defaults, **fields})


def failed(owner, **fields):
    defaults = {
        "status": JobStatus.FAILED,
        "finished_at": timezone.now(),
        "error_class": "builtins.ValueError",
        "error_message": "bad row 4",
        "error_traceback": "Traceback (most recent call last): SECRET-TB",
    }
    return make_job(owner, **{**defaults, **fields})


def progress_url(job):
    return f"/jobs/{job.pk}/progress/"


def poll_url_in(content: bytes) -> str:
    match = re.search(r'hx-get="([^"]+)"', content.decode())
    assert match, "no hx-get in the panel"
    return html.unescape(match.group(1))


class TestPanelAccess:
    def test_owner_gets_polling_partial(self, client, alice):
        job = running(alice)
        client.force_login(alice)
        response = client.get(progress_url(job), headers=HX)
        assert response.status_code == 200
        body = response.content.decode()
        assert "<html" not in body
        assert f'data-job-id="{job.pk}"' in body
        assert 'data-job-status="RUNNING"' in body
        assert 'hx-trigger="every 1000ms, jobs-ui:poll"' in body
        assert 'hx-swap="outerHTML"' in body
        assert '<progress class="jobs-ui-progress"' in body
        assert 'value="30.0"' in body
        assert "step 3" in body
        assert re.search(r"<button [^>]*>\s*Cancel\s*</button>", body)

    def test_someone_elses_job_is_404(self, client, alice, bob):
        job = running(alice)
        client.force_login(bob)
        assert client.get(progress_url(job), headers=HX).status_code == 404

    def test_anonymous_is_404(self, client, alice):
        job = running(alice)
        assert client.get(progress_url(job), headers=HX).status_code == 404

    def test_staff_cannot_see_someone_elses_private_job(self, client, alice, staff):
        job = failed(alice)
        client.force_login(staff)
        assert client.get(progress_url(job), headers=HX).status_code == 404

    def test_public_job_is_read_only_for_others(self, client, alice, bob):
        job = running(alice, public=True)
        client.force_login(bob)
        response = client.get(progress_url(job), headers=HX)
        assert response.status_code == 200
        assert "step 3" in response.content.decode()
        assert "/cancel/" not in response.content.decode()
        client.logout()
        response = client.get(progress_url(job), headers=HX)
        assert response.status_code == 200
        assert "/cancel/" not in response.content.decode()

    def test_unknown_and_malformed_ids_are_404(self, client, alice):
        client.force_login(alice)
        assert client.get(f"/jobs/{uuid.uuid4()}/progress/", headers=HX).status_code == 404
        assert client.get("/jobs/nope/progress/", headers=HX).status_code == 404

    def test_post_is_not_allowed(self, client, alice):
        job = running(alice)
        client.force_login(alice)
        assert client.post(progress_url(job), headers=HX).status_code == 405


class TestPanelContent:
    def test_a_polled_panel_has_forms_without_a_csrf_token_of_their_own(self, client, alice):
        job = running(alice)
        client.force_login(alice)
        page = client.get(f"/jobs/{job.pk}/")
        assert page.content.decode().count('name="csrfmiddlewaretoken"') >= 1
        client.cookies.pop("csrftoken", None)
        polled = client.get(progress_url(job), headers=HX)
        assert polled.status_code == 200
        assert "/cancel/" in polled.content.decode()
        assert "csrfmiddlewaretoken" not in polled.content.decode()
        # No token was used, so the CSRF cookie is not set again.
        assert "csrftoken" not in polled.cookies
        Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCESSFUL, finished_at=timezone.now(), result=1)
        final = client.get(progress_url(job), headers=HX)
        assert final.status_code == 286
        assert "/rerun/" in final.content.decode()
        assert "csrfmiddlewaretoken" not in final.content.decode()

    @pytest.mark.parametrize("setting", ["CSRF_COOKIE_HTTPONLY", "CSRF_USE_SESSIONS"])
    def test_where_the_script_cannot_read_the_csrf_cookie_polled_forms_keep_a_token(
        self, client, alice, settings, setting
    ):
        setattr(settings, setting, True)
        job = running(alice)
        client.force_login(alice)
        polled = client.get(progress_url(job), headers=HX)
        assert polled.status_code == 200
        assert 'name="csrfmiddlewaretoken"' in polled.content.decode()

    def test_numbers_the_browser_reads_are_not_localized(self, client, alice, settings):
        # With thousands grouped ("2,000"), htmx would not parse the trigger and the
        # clocks would show NaN.
        settings.USE_THOUSAND_SEPARATOR = True
        settings.JOBS_UI = {**settings.JOBS_UI, "POLL_INTERVAL": 2}
        job = running(alice)
        client.force_login(alice)
        body = client.get(progress_url(job), headers=HX).content.decode()
        assert 'hx-trigger="every 2000ms, jobs-ui:poll"' in body
        assert 'data-jobs-ui-interval="2000"' in body
        now_ms = re.search(r'data-jobs-ui-now="([^"]*)"', body)
        started_ms = re.search(r'data-jobs-ui-from="([^"]*)"', body)
        assert now_ms is not None
        assert now_ms.group(1).isdigit()
        assert started_ms is not None
        assert started_ms.group(1) == str(int(job.started_at.timestamp() * 1000))
        listed = client.get("/jobs/").content.decode()
        assert "every 2,000ms" not in listed

    def test_finished_answers_286_without_trigger(self, client, alice):
        job = succeeded(alice, {"rows": 3})
        client.force_login(alice)
        response = client.get(progress_url(job), headers=HX)
        assert response.status_code == 286
        body = response.content.decode()
        assert "hx-trigger" not in body
        assert "hx-get" not in body
        assert 'data-job-status="SUCCESSFUL"' in body
        assert "/cancel/" not in body
        assert "Run again" in body
        assert "jobs-ui:job-finished" in response["HX-Trigger"]

    def test_result_is_pretty_json_escaped_and_hx_disabled(self, client, alice):
        job = succeeded(alice, {"html": '<button hx-get="/evil">x</button>', "n": [1, 2]})
        client.force_login(alice)
        body = client.get(progress_url(job), headers=HX).content.decode()
        assert '<button hx-get="/evil">' not in body
        assert r"&lt;button hx-get=\&quot;/evil\&quot;&gt;" in body
        assert re.search(r'<div class="jobs-ui-result" hx-disable', body)
        assert "&quot;n&quot;: [\n    1,\n    2\n  ]" in body

    @pytest.mark.parametrize("value", [{}, [], 0, ""])
    def test_falsy_results_are_shown(self, client, alice, value):
        job = succeeded(alice, value)
        client.force_login(alice)
        body = client.get(progress_url(job), headers=HX).content.decode()
        assert "Result" in body
        assert "expired" not in body

    def test_message_is_escaped_in_an_hx_disabled_live_region(self, client, alice):
        job = running(alice, progress_message='<img src=x onerror="alert(1)"> <a hx-get="/x">')
        client.force_login(alice)
        body = client.get(progress_url(job), headers=HX).content.decode()
        assert "<img src=x" not in body
        assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in body
        assert re.search(r'<p class="jobs-ui-message" aria-live="polite" hx-disable', body)

    def test_task_result_template(self, client, alice):
        job = succeeded(alice, {"greeting": "Hello <b>"}, task_path="tests.tasks.templated_result")
        client.force_login(alice)
        body = client.get(progress_url(job), headers=HX).content.decode()
        assert '<p class="tests-result" data-testid="custom-result">Hello &lt;b&gt;</p>' in body
        assert "Templated result" in body

    def test_expired_result(self, client, alice):
        job = succeeded(alice, {"a": 1}, result_expires_at=timezone.now() - timedelta(seconds=1))
        client.force_login(alice)
        body = client.get(progress_url(job), headers=HX).content.decode()
        assert "The result has expired." in body

    def test_error_without_traceback_for_owner(self, client, alice):
        job = failed(alice)
        client.force_login(alice)
        response = client.get(progress_url(job), headers=HX)
        assert response.status_code == 286
        body = response.content.decode()
        assert "bad row 4" in body
        assert "SECRET-TB" not in body
        assert re.search(r'<div class="jobs-ui-error" role="alert" hx-disable', body)

    def test_staff_owner_sees_traceback(self, client, staff):
        job = failed(staff)
        client.force_login(staff)
        body = client.get(progress_url(job), headers=HX).content.decode()
        assert "SECRET-TB" in body
        assert "builtins.ValueError" in body

    def test_staff_sees_traceback_of_public_job(self, client, alice, staff):
        job = failed(alice, public=True)
        client.force_login(staff)
        assert "SECRET-TB" in client.get(progress_url(job), headers=HX).content.decode()

    def test_no_total_is_indeterminate(self, client, alice):
        job = running(alice, progress_total=None, progress_done=7)
        client.force_login(alice)
        body = client.get(progress_url(job), headers=HX).content.decode()
        assert re.search(r'<progress class="jobs-ui-progress" aria-label="Progress">', body)
        assert "%" not in body.split('class="jobs-ui-percent"')[1].split("</span>")[0]

    def test_elapsed_and_eta_from_progress_rate(self, client, alice):
        now = timezone.now()
        job = running(alice, started_at=now - timedelta(seconds=30), progress_at=now, progress_done=3)
        client.force_login(alice)
        body = client.get(progress_url(job), headers=HX).content.decode()
        # 3 of 10 in 30 s: 70 s left.
        assert re.search(r'data-testid="job-eta">1:(09|10)<', body)
        assert re.search(r'data-testid="job-elapsed">0:3\d<', body)

    def test_cancelling_shows_disabled_cancel(self, client, alice):
        job = running(alice, cancel_requested_at=timezone.now())
        client.force_login(alice)
        body = client.get(progress_url(job), headers=HX).content.decode()
        assert "Cancelling…" in body
        assert re.search(r'<button type="submit" class="jobs-ui-button jobs-ui-button-danger" disabled>', body)

    def test_cancelled_shows_reason_and_no_cancel(self, client, alice):
        job = make_job(
            alice, status=JobStatus.CANCELLED, finished_at=timezone.now(), error_message="Cancelled by alice."
        )
        client.force_login(alice)
        response = client.get(progress_url(job), headers=HX)
        assert response.status_code == 286
        assert "Cancelled by alice." in response.content.decode()
        assert "/cancel/" not in response.content.decode()

    def test_public_job_shows_share_link_to_owner(self, client, alice):
        job = running(alice, public=True)
        client.force_login(alice)
        body = client.get(progress_url(job), headers=HX).content.decode()
        assert f'value="http://testserver/jobs/{job.pk}/"' in body


class TestPollingCost:
    def test_poll_costs_one_query_and_so_does_the_final_one(self, client, alice, django_assert_num_queries):
        job = running(alice)
        client.force_login(alice)
        poll = poll_url_in(client.get(f"/jobs/{job.pk}/").content)
        with django_assert_num_queries(1):
            response = client.get(poll, headers=HX)
        assert response.status_code == 200
        Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCESSFUL, finished_at=timezone.now(), result=1)
        # The same statement brings the result once the job has finished.
        with django_assert_num_queries(1):
            response = client.get(poll, headers=HX)
        assert response.status_code == 286
        assert 'data-testid="job-result"' in response.content.decode()

    def test_unchanged_poll_reads_the_polled_columns_and_the_session_in_one_statement(self, client, alice):
        job = running(alice, args=["x" * 1000], workspace={"big": "y" * 1000})
        Job.objects.filter(pk=job.pk).update(error_traceback="Traceback …", error_message="An earlier attempt failed.")
        client.force_login(alice)
        poll = poll_url_in(client.get(f"/jobs/{job.pk}/").content)
        etag = client.get(poll, headers=HX)["ETag"]
        with CaptureQueriesContext(connection) as queries:
            response = client.get(poll, HTTP_IF_NONE_MATCH=etag, headers=HX)
        assert response.status_code == 304
        [job_query] = [query["sql"] for query in queries]
        assert "jobs_ui_job" in job_query
        assert "django_session" in job_query
        assert reads_heavy_columns(job_query) == []
        assert "ORDER BY" not in job_query

    def test_changed_poll_renders_from_the_polled_columns(self, client, alice):
        job = running(alice)
        Job.objects.filter(pk=job.pk).update(error_traceback="Traceback …", error_message="An earlier attempt failed.")
        client.force_login(alice)
        poll = poll_url_in(client.get(f"/jobs/{job.pk}/").content)
        etag = client.get(poll, headers=HX)["ETag"]
        Job.objects.filter(pk=job.pk).update(
            progress_done=4, progress_total=10, progress_message="Halfway", progress_at=timezone.now()
        )
        with CaptureQueriesContext(connection) as queries:
            response = client.get(poll, HTTP_IF_NONE_MATCH=etag, headers=HX)
        assert response.status_code == 200
        assert "Halfway" in response.content.decode()
        assert "An earlier attempt failed." in response.content.decode()
        assert len(queries) == 1
        assert reads_heavy_columns(" ".join(query["sql"] for query in queries)) == []

    def test_unchanged_job_is_304_without_rendering(self, client, alice):
        job = running(alice)
        client.force_login(alice)
        first = client.get(progress_url(job), headers=HX)
        etag = first["ETag"]
        assert etag.startswith('"')
        assert f'data-jobs-ui-etag="{html.escape(etag)}"' in first.content.decode()
        second = client.get(progress_url(job), HTTP_IF_NONE_MATCH=etag, headers=HX)
        assert second.status_code == 304
        assert second.content == b""
        assert second.templates == []
        Job.objects.filter(pk=job.pk).update(progress_done=4, progress_at=timezone.now() + timedelta(seconds=1))
        third = client.get(progress_url(job), HTTP_IF_NONE_MATCH=etag, headers=HX)
        assert third.status_code == 200
        assert third["ETag"] != etag

    def test_cancel_request_changes_etag(self, client, alice):
        job = running(alice)
        client.force_login(alice)
        etag = client.get(progress_url(job), headers=HX)["ETag"]
        Job.objects.filter(pk=job.pk).update(cancel_requested_at=timezone.now())
        response = client.get(progress_url(job), HTTP_IF_NONE_MATCH=etag, headers=HX)
        assert response.status_code == 200
        assert "Cancelling…" in response.content.decode()

    def test_finished_job_is_286_even_with_matching_etag(self, client, alice):
        job = running(alice)
        client.force_login(alice)
        etag = client.get(progress_url(job), headers=HX)["ETag"]
        Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCESSFUL, finished_at=timezone.now(), result=1)
        assert client.get(progress_url(job), HTTP_IF_NONE_MATCH=etag, headers=HX).status_code == 286

    def test_viewer_token_of_another_user_falls_back_to_full_check(self, client, alice, bob):
        job = running(alice)
        token = Viewer(str(alice.pk)).token()
        client.force_login(bob)
        assert client.get(progress_url(job), {"v": token}, headers=HX).status_code == 404

    def test_viewer_token_after_sign_out_is_useless(self, client, alice):
        job = running(alice)
        client.force_login(alice)
        poll = poll_url_in(client.get(f"/jobs/{job.pk}/").content)
        client.logout()
        assert client.get(poll, headers=HX).status_code == 404

    def test_tampered_token_falls_back_to_full_check(self, client, alice, bob):
        job = running(alice, public=True)
        client.force_login(alice)
        response = client.get(progress_url(job), {"v": "tampered:token"}, headers=HX)
        assert response.status_code == 200
        # The owner is recognised from the session: their panel carries no token.
        assert "v=" not in poll_url_in(response.content)
        client.force_login(bob)
        response = client.get(progress_url(job), {"v": "tampered:token"}, headers=HX)
        assert response.status_code == 200
        assert "v=" in poll_url_in(response.content)

    def test_poll_of_the_owner_or_a_token_holder_costs_one_query(self, client, alice, bob, django_assert_num_queries):
        job = running(alice)
        client.force_login(alice)
        poll = poll_url_in(client.get(f"/jobs/{job.pk}/").content)
        with django_assert_num_queries(1):
            assert client.get(poll, headers=HX).status_code == 200
        public = running(alice, public=True)
        client.force_login(bob)
        poll = poll_url_in(client.get(f"/jobs/{public.pk}/").content)
        with django_assert_num_queries(1):
            assert client.get(poll, headers=HX).status_code == 200

    @pytest.mark.parametrize("end", ["deleted", "expired"])
    def test_a_session_ended_elsewhere_ends_the_poll_at_once(self, client, alice, end):
        # The browser still sends the cookie of a session that a sign-out on another
        # device (or its expiry) ended: the session's row decides, as Django's own check does.
        job = running(alice)
        client.force_login(alice)
        poll = poll_url_in(client.get(f"/jobs/{job.pk}/").content)
        etag = client.get(poll, headers=HX)["ETag"]
        sessions = Session.objects.filter(session_key=client.session.session_key)
        if end == "deleted":
            sessions.delete()
        else:
            sessions.update(expire_date=timezone.now() - timedelta(seconds=1))
        assert client.get(poll, HTTP_IF_NONE_MATCH=etag, headers=HX).status_code == 404
        assert client.get(f"/jobs/{job.pk}/status.json").status_code == 404

    @pytest.mark.parametrize("engine", ["cached_db", "cache", "signed_cookies"])
    def test_other_session_backends_are_read_as_django_reads_them(self, client, alice, settings, engine):
        settings.SESSION_ENGINE = f"django.contrib.sessions.backends.{engine}"
        job = running(alice)
        client.force_login(alice)
        poll = poll_url_in(client.get(f"/jobs/{job.pk}/").content)
        etag = client.get(poll, headers=HX)["ETag"]
        with CaptureQueriesContext(connection) as queries:
            assert client.get(poll, HTTP_IF_NONE_MATCH=etag, headers=HX).status_code == 304
        assert not any("django_session" in query["sql"] for query in queries if "jobs_ui_job" in query["sql"])
        client.logout()
        assert client.get(poll, HTTP_IF_NONE_MATCH=etag, headers=HX).status_code == 404

    def test_old_page_stops_after_a_password_change(self, client, alice):
        job = running(alice)
        client.force_login(alice)
        poll = poll_url_in(client.get(f"/jobs/{job.pk}/").content)
        assert client.get(poll, headers=HX).status_code == 200
        alice.set_password("changed elsewhere")
        alice.save()
        assert client.get(poll, headers=HX).status_code == 404
        # As every other endpoint answers a signed-out user.
        assert client.get(f"/jobs/{job.pk}/status.json").status_code == 404

    def test_old_page_stops_once_the_user_is_inactive(self, client, alice):
        job = running(alice)
        client.force_login(alice)
        poll = poll_url_in(client.get(f"/jobs/{job.pk}/").content)
        type(alice).objects.filter(pk=alice.pk).update(is_active=False)
        assert client.get(poll, headers=HX).status_code == 404
        assert client.get(f"/jobs/{job.pk}/status.json").status_code == 404

    @pytest.mark.parametrize("own", [True, False])
    def test_demoted_staff_sees_no_traceback_in_the_next_poll(self, client, alice, staff, own):
        job = running(staff if own else alice, public=True)
        client.force_login(staff)
        poll = poll_url_in(client.get(f"/jobs/{job.pk}/").content)
        type(staff).objects.filter(pk=staff.pk).update(is_staff=False)
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            error_class="builtins.ValueError",
            error_message="bad row 4",
            error_traceback="Traceback (most recent call last): SECRET-TB",
        )
        response = client.get(poll, headers=HX)
        assert response.status_code == 286
        assert "bad row 4" in response.content.decode()
        assert "SECRET-TB" not in response.content.decode()

    def test_forged_staff_token_is_refused(self, client, alice):
        job = failed(alice)
        client.force_login(alice)
        forged = signing.dumps([str(alice.pk), True], salt="not-the-viewer-salt")
        assert "SECRET-TB" not in client.get(progress_url(job), {"v": forged}, headers=HX).content.decode()


class TestPanelResponse:
    def test_htmx_gets_the_panel(self, rf, alice):
        from django_htmx.middleware import HtmxDetails

        request = rf.post("/start/", HTTP_HX_REQUEST="true")
        request.user = alice
        request.htmx = HtmxDetails(request)
        job = make_job(alice)
        response = jobs_ui.panel_response(request, job)
        assert response.status_code == 200
        assert f'data-job-id="{job.pk}"' in response.content.decode()

    def test_others_get_json_with_the_poll_url(self, rf, alice):
        from django_htmx.middleware import HtmxDetails

        request = rf.post("/start/")
        request.user = alice
        request.htmx = HtmxDetails(request)
        job = make_job(alice)
        response = jobs_ui.panel_response(request, job)
        assert response.status_code == 202
        body = json.loads(response.content)
        assert body["id"] == str(job.pk)
        assert body["status"] == "READY"
        assert body["poll_url"] == f"http://testserver/jobs/{job.pk}/result.json"
        assert body["url"] == f"http://testserver/jobs/{job.pk}/"
        assert response["Location"] == body["poll_url"]


UNREACHABLE_STORE = {
    "RESULT_STORE": {"BACKEND": "jobs_ui.stores.rabbitmq.RabbitMQResultStore"},
    "AMQP_URL": "amqp://guest:guest@127.0.0.1:1/%2F",
}


def poll_interval_in(content: bytes) -> int:
    match = re.search(r'hx-trigger="every (\d+)ms', content.decode())
    assert match, "the panel does not poll"
    return int(match.group(1))


class TestExtra:
    def test_extra_is_a_key_value_list_under_the_message(self, client, alice):
        extra = {"rows": 3, "source": "<b>upload.csv</b>", "tags": ["a", "<x>"], "ok": True, "none": None}
        job = running(alice, extra=extra)
        client.force_login(alice)
        body = client.get(progress_url(job), headers=HX).content.decode()
        block = re.search(r'<dl class="jobs-ui-extra" hx-disable data-testid="job-extra">(.*?)</dl>', body, re.S)
        assert block, "no extra list in the panel"
        assert body.index('data-testid="job-message"') < block.start()
        pairs = re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", block.group(1), re.S)
        # In the order the database keeps (PostgreSQL's jsonb sorts keys).
        assert sorted(pairs) == [
            ("none", "null"),
            ("ok", "true"),
            ("rows", "3"),
            ("source", "&lt;b&gt;upload.csv&lt;/b&gt;"),
            ("tags", "[&quot;a&quot;, &quot;&lt;x&gt;&quot;]"),
        ]

    def test_keys_are_escaped(self, client, alice):
        job = succeeded(alice, 1, extra={'<img src=x onerror="alert(1)">': "v"})
        client.force_login(alice)
        body = client.get(progress_url(job), headers=HX).content.decode()
        assert "<img src=x" not in body
        assert "<dt>&lt;img src=x onerror=&quot;alert(1)&quot;&gt;</dt>" in body

    def test_no_extra_no_list(self, client, alice):
        job = running(alice)
        client.force_login(alice)
        assert "jobs-ui-extra" not in client.get(progress_url(job), headers=HX).content.decode()

    def test_long_values_are_cut(self, client, alice):
        job = running(alice, extra={"log": "x" * 5000})
        client.force_login(alice)
        body = client.get(progress_url(job), headers=HX).content.decode()
        assert "x" * 5000 not in body
        assert "x" * 100 in body


class TestUnreadableResult:
    def test_store_error_is_generic_and_the_panel_keeps_polling(self, client, alice, settings):
        settings.JOBS_UI = {**settings.JOBS_UI, **UNREACHABLE_STORE}
        job = succeeded(alice, None, result_store="rabbitmq", public=True)
        client.force_login(alice)
        for response in (client.get(f"/jobs/{job.pk}/"), client.get(progress_url(job), headers=HX)):
            assert response.status_code == 200
            body = response.content.decode()
            assert "The result cannot be read right now; retrying…" in body
            assert "127.0.0.1" not in body
            assert "RabbitMQ" not in body
            assert "hx-get" in body
            assert "HX-Trigger" not in response
        client.logout()
        body = client.get(progress_url(job), headers=HX).content.decode()
        assert "The result cannot be read right now; retrying…" in body
        assert "127.0.0.1" not in body

    def test_staff_see_the_detail(self, client, alice, staff, settings):
        settings.JOBS_UI = {**settings.JOBS_UI, **UNREACHABLE_STORE}
        job = succeeded(alice, None, result_store="rabbitmq", public=True)
        client.force_login(staff)
        body = client.get(progress_url(job), headers=HX).content.decode()
        assert "The result cannot be read right now; retrying…" in body
        assert "Could not read the result of job" in body
        assert "127.0.0.1:1" in body

    def test_polls_back_off_and_stop_once_the_result_is_read(self, client, alice, settings):
        settings.JOBS_UI = {**settings.JOBS_UI, **UNREACHABLE_STORE, "POLL_INTERVAL": 1.0}
        job = succeeded(alice, None, result_store="rabbitmq")
        client.force_login(alice)
        response = client.get(f"/jobs/{job.pk}/")
        intervals = [poll_interval_in(response.content)]
        for _ in range(6):
            response = client.get(poll_url_in(response.content), headers=HX)
            assert response.status_code == 200
            intervals.append(poll_interval_in(response.content))
        assert intervals == [2000, 4000, 8000, 16000, 30000, 30000, 30000]
        settings.JOBS_UI = {
            **settings.JOBS_UI,
            "RESULT_STORE": {"BACKEND": "jobs_ui.stores.database.DatabaseResultStore"},
        }
        Job.objects.filter(pk=job.pk).update(result_store="database", result={"rows": 3})
        final = client.get(poll_url_in(response.content), headers=HX)
        assert final.status_code == 286
        assert "jobs-ui:job-finished" in final["HX-Trigger"]
        assert "&quot;rows&quot;: 3" in final.content.decode()


class TestCanceller:
    def cancelled_by(self, owner, **fields):
        return cancel(make_job(owner, **fields), by=owner)

    def test_owner_sees_who_cancelled(self, client, alice):
        job = self.cancelled_by(alice)
        client.force_login(alice)
        assert "Cancelled by alice." in client.get(progress_url(job), headers=HX).content.decode()

    def test_staff_see_who_cancelled_a_public_job(self, client, alice, staff):
        job = self.cancelled_by(alice, public=True)
        client.force_login(staff)
        assert "Cancelled by alice." in client.get(progress_url(job), headers=HX).content.decode()

    def test_others_do_not_learn_who_cancelled_a_public_job(self, client, alice, bob):
        job = self.cancelled_by(alice, public=True)
        client.force_login(bob)
        for body in (
            client.get(progress_url(job), headers=HX).content.decode(),
            client.get(f"/jobs/{job.pk}/").content.decode(),
        ):
            assert "alice" not in body
            assert re.search(r'data-testid="job-cancelled">Cancelled\.<', body)
        client.logout()
        assert "alice" not in client.get(progress_url(job), headers=HX).content.decode()
