"""{% load jobs_ui %}: launch_button, job_panel, jobs_ui_head, jobs_ui_duration."""

from __future__ import annotations

import html
import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.template import Context, Template
from django.test import RequestFactory
from django.test.client import Client

from jobs_ui.exceptions import InvalidJobArguments, UnknownTask
from jobs_ui.models import Job
from jobs_ui.templatetags.jobs_ui import jobs_ui_duration
from jobs_ui.views.launch_endpoint import unsign_launch
from tests import tasks

pytestmark = pytest.mark.django_db


def render(source, user=None, **context):
    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().get("/page/")
    request.user = user or AnonymousUser()
    return Template("{% load jobs_ui %}" + source).render(Context({"request": request, **context}))


def payload_in(output):
    match = re.search(r'name="payload" value="([^"]+)"', output)
    assert match
    return unsign_launch(html.unescape(match.group(1)))


class TestLaunchButton:
    def test_renders_a_form_with_a_signed_payload(self, alice):
        output = render('{% launch_button "tests.tasks.add" 1 b=2 label="Add them" %}', alice)
        assert re.search(r"<button [^>]*>Add them</button>", output)
        assert 'action="/jobs/launch/"' in output
        assert 'hx-post="/jobs/launch/"' in output
        assert 'method="post"' in output
        assert 'name="csrfmiddlewaretoken"' in output
        assert 'hx-headers=\'{"X-CSRFToken": "' in output
        assert payload_in(output) == {"t": "tests.tasks.add", "a": [1], "k": {"b": 2}, "p": None, "u": str(alice.pk)}

    def test_swaps_into_its_own_slot_by_default(self, alice):
        output = render('{% launch_button "tests.tasks.add" 1 %}', alice)
        slot = re.search(r'<div id="(jobs-ui-slot-[0-9a-f]+)" class="jobs-ui-slot">', output)
        assert slot
        assert f'hx-target="#{slot.group(1)}"' in output
        assert 'hx-swap="innerHTML"' in output

    def test_target_option(self, alice):
        output = render('{% launch_button "tests.tasks.add" 1 target="#here" %}', alice)
        assert 'hx-target="#here"' in output
        assert "jobs-ui-slot" not in output

    def test_accepts_the_task_object(self, alice):
        output = render("{% launch_button task 5 %}", alice, task=tasks.add)
        assert payload_in(output)["t"] == "tests.tasks.add"
        assert ">Add</button>" in output

    def test_public_option_is_signed(self, alice):
        assert payload_in(render('{% launch_button "tests.tasks.add" 1 public=True %}', alice))["p"] is True

    def test_label_defaults_to_the_task_label(self, alice):
        assert ">Templated result</button>" in render('{% launch_button "tests.tasks.templated_result" "x" %}', alice)

    def test_label_is_escaped(self, alice):
        output = render('{% launch_button "tests.tasks.add" 1 label=label %}', alice, label="<b>x</b>")
        assert "&lt;b&gt;x&lt;/b&gt;" in output

    def test_says_what_went_wrong_when_the_server_cannot_answer(self, alice):
        output = render('{% launch_button "tests.tasks.add" 1 %}', alice)
        assert 'data-jobs-ui-error="The server could not be reached. Check your connection and try again."' in output
        assert 'data-jobs-ui-error-session="Your session changed in another tab: reload the page and try again."' in (
            output
        )
        assert 'data-jobs-ui-error-server="The server hit an error; the job was not started."' in output

    def test_anonymous_payload_has_no_user(self):
        assert payload_in(render('{% launch_button "tests.tasks.add" 1 %}'))["u"] is None

    def test_wrong_arguments_fail_at_render(self, alice):
        with pytest.raises(InvalidJobArguments):
            render('{% launch_button "tests.tasks.add" 1 c=3 %}', alice)

    def test_unknown_task_fails_at_render(self, alice):
        with pytest.raises(UnknownTask):
            render('{% launch_button "tests.tasks.nope" %}', alice)

    def test_needs_the_request(self):
        with pytest.raises(ImproperlyConfigured):
            Template('{% load jobs_ui %}{% launch_button "tests.tasks.add" 1 %}').render(Context({}))

    def test_rendered_button_launches(self, alice):
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice)
        client.get("/jobs/")  # Sets the CSRF cookie.
        output = render('{% launch_button "tests.tasks.add" 1 b=2 %}', alice)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', output)
        payload = re.search(r'name="payload" value="([^"]+)"', output)
        assert csrf
        assert payload
        response = client.post(
            "/jobs/launch/",
            {"payload": html.unescape(payload.group(1))},
            HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 200
        job = Job.objects.get()
        assert (job.args, job.kwargs, job.owner) == ([1], {"b": 2}, alice)

    @pytest.mark.parametrize(
        ("source", "args", "kwargs", "public"),
        [
            ('task="given"', [], {"task": "given"}, None),
            ('request="given"', [], {"request": "given"}, None),
            ('"" "" "given" public=True', ["", "", "given"], {}, True),
        ],
    )
    def test_task_parameters_named_like_launch_options(self, alice, source, args, kwargs, public):
        output = render(f'{{% launch_button "tests.tasks.named_like_launch" {source} %}}', alice)
        data = payload_in(output)
        assert (data["a"], data["k"], data["p"]) == (args, kwargs, public)


class TestJobPanel:
    def test_renders_the_panel_for_the_viewer(self, alice):
        job = Job.objects.create(task_path="tests.tasks.echo", owner=alice)
        output = render("{% job_panel job %}", alice, job=job)
        assert f'data-job-id="{job.pk}"' in output
        assert 'data-job-status="READY"' in output
        assert re.search(r"<button [^>]*>\s*Cancel\s*</button>", output)


class TestJobsUiHead:
    def test_links_css_and_js(self):
        output = render("{% jobs_ui_head %}")
        assert '<link rel="stylesheet" href="/static/jobs_ui/jobs_ui.css">' in output
        assert '<script src="/static/jobs_ui/jobs_ui.js" defer data-csrf-cookie="csrftoken"' in output
        assert 'data-csrf-header="X-CSRFTOKEN"' in output
        assert output.endswith("></script>")

    def test_csp_nonce(self):
        output = render("{% jobs_ui_head %}", csp_nonce="abc123")
        assert output.endswith(' nonce="abc123"></script>')

    def test_names_the_projects_csrf_cookie_and_header(self, settings):
        settings.CSRF_COOKIE_NAME = "shop_csrf"
        settings.CSRF_HEADER_NAME = "HTTP_X_SHOP_CSRF"
        output = render("{% jobs_ui_head %}")
        assert 'data-csrf-cookie="shop_csrf" data-csrf-header="X-SHOP-CSRF"' in output

    def test_gives_the_script_what_a_panel_says_when_a_request_fails(self):
        output = render("{% jobs_ui_head %}")
        assert 'data-text-lost="Connection lost, retrying…"' in output
        assert 'data-text-gone="This job can no longer be shown here. Reload the page."' in output
        assert 'data-text-cancel-error-server="The server hit an error; the job was not cancelled."' in output
        assert 'data-text-launch-error-server="The server hit an error; the job was not started."' in output
        assert (
            'data-text-cancel-error-session="Your session changed in another tab: reload the page and try again."'
            in output
        )


class TestDuration:
    @pytest.mark.parametrize(
        ("seconds", "text"),
        [(None, ""), (0, "0:00"), (9.9, "0:09"), (75, "1:15"), (3600, "1:00:00"), (3725, "1:02:05"), (-3, "0:00")],
    )
    def test_format(self, seconds, text):
        assert jobs_ui_duration(seconds) == text
