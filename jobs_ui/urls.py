from __future__ import annotations

from django.urls import path

from jobs_ui import views

app_name = "jobs_ui"

urlpatterns = [
    path("<uuid:job_id>/status.json", views.job_status, name="job_status"),
    path("<uuid:job_id>/result.json", views.job_result, name="job_result"),
]
