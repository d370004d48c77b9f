"""The URLs of jobs_ui's pages, panel, actions and JSON endpoints (namespace ``jobs_ui``)."""

from __future__ import annotations

from django.urls import path

from jobs_ui import views

app_name = "jobs_ui"

urlpatterns = [
    path("", views.job_list, name="job_list"),
    path("launch/", views.job_launch, name="job_launch"),
    path("health.json", views.health_json, name="health"),
    path("notifications/", views.notifications, name="notifications"),
    path("metrics", views.metrics, name="metrics"),
    path("staff/", views.staff_dashboard, name="staff"),
    path("staff/workers/", views.staff_section, {"section": "workers"}, name="staff_workers"),
    path("staff/queues/", views.staff_section, {"section": "queues"}, name="staff_queues"),
    path("staff/throughput/", views.staff_section, {"section": "throughput"}, name="staff_throughput"),
    path("staff/failures/", views.staff_section, {"section": "failures"}, name="staff_failures"),
    path("staff/schedules/", views.staff_section, {"section": "schedules"}, name="staff_schedules"),
    path("staff/schedules/<int:schedule_id>/run/", views.staff_run_schedule, name="staff_run_schedule"),
    path("staff/workers/purge/", views.staff_purge_workers, name="staff_purge_workers"),
    path("staff/jobs/", views.staff_jobs, name="staff_jobs"),
    path("staff/jobs/act/", views.staff_act, name="staff_act"),
    path("<uuid:job_id>/", views.job_detail, name="job_detail"),
    path("<uuid:job_id>/progress/", views.job_progress, name="job_progress"),
    path("<uuid:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("<uuid:job_id>/rerun/", views.job_rerun, name="job_rerun"),
    path("<str:job_id>/status.json", views.job_status, name="job_status"),
    path("<str:job_id>/result.json", views.job_result, name="job_result"),
]
