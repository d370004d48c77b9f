"""The demo's URLs and the references: a view that reads one column of one job, in one SELECT
(bench/poll.py), and one that writes a job's row, in one INSERT (bench/launch.py)."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_POST

from demo.urls import urlpatterns as demo_urlpatterns
from jobs_ui.models import Job


def one_select(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    status = Job.objects.filter(pk=job_id).values_list("status", flat=True).get()
    return HttpResponse(status, content_type="text/plain")


@require_POST
def one_insert(request: HttpRequest) -> HttpResponse:
    # What a launch writes, as a plain Django view writes it: the signed-in user's job, READY.
    user = getattr(request, "user", None)
    owner = user if user is not None and user.is_authenticated else None
    job = Job.objects.create(task_path="bench.tasks.noop", args=["/dev/null"], executor="worker", owner=owner)
    return HttpResponse(str(job.pk), content_type="text/plain")


urlpatterns = [
    path("bench/one-select/<uuid:job_id>/", one_select),
    path("bench/one-insert/", one_insert),
    *demo_urlpatterns,
]
