"""A job's URLs as reverse() gives them, under any script prefix and URLconf."""

from __future__ import annotations

import uuid

import pytest
from django.test import override_settings
from django.urls import clear_script_prefix, include, path, reverse, set_script_prefix

from jobs_ui.views.links import job_url

urlpatterns = [path("elsewhere/tasks/", include("jobs_ui.urls"))]

NAMES = ["job_detail", "job_progress", "job_cancel", "job_rerun", "job_status", "job_result"]


@pytest.mark.parametrize("name", NAMES)
def test_as_reverse_gives_them(name):
    job_id = uuid.uuid4()
    assert job_url(name, job_id) == reverse(f"jobs_ui:{name}", args=[job_id])
    assert str(job_id) in job_url(name, job_id)


def test_under_a_script_prefix():
    job_id = uuid.uuid4()
    set_script_prefix("/mounted/")
    try:
        assert job_url("job_detail", job_id) == f"/mounted/jobs/{job_id}/"
    finally:
        clear_script_prefix()
    assert job_url("job_detail", job_id) == f"/jobs/{job_id}/"


def test_after_the_urlconf_changed():
    job_id = uuid.uuid4()
    assert job_url("job_cancel", job_id) == f"/jobs/{job_id}/cancel/"
    with override_settings(ROOT_URLCONF=__name__):
        assert job_url("job_cancel", job_id) == f"/elsewhere/tasks/{job_id}/cancel/"
    assert job_url("job_cancel", job_id) == f"/jobs/{job_id}/cancel/"
