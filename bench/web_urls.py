"""The demo's URLs and the reference of bench/poll.py: a view that reads one column of one job, in one SELECT."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse
from django.urls import path

from demo.urls import urlpatterns as demo_urlpatterns
from jobs_ui.models import Job


def one_select(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    status = Job.objects.filter(pk=job_id).values_list("status", flat=True).get()
    return HttpResponse(status, content_type="text/plain")


urlpatterns = [path("bench/one-select/<uuid:job_id>/", one_select), *demo_urlpatterns]
