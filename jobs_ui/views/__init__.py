"""The views of ``jobs_ui.urls``, and ``panel_response()`` for a project's own launch views."""

from __future__ import annotations

from jobs_ui.views.actions import job_cancel, job_rerun
from jobs_ui.views.all_jobs import staff_act, staff_jobs
from jobs_ui.views.health import health_json, metrics
from jobs_ui.views.json import job_result, job_status
from jobs_ui.views.launch_endpoint import job_launch
from jobs_ui.views.notifications import notifications
from jobs_ui.views.pages import job_detail, job_list
from jobs_ui.views.panel import job_progress, panel_response
from jobs_ui.views.staff import staff_dashboard, staff_purge_workers, staff_run_schedule, staff_section

__all__ = [
    "health_json",
    "job_cancel",
    "job_detail",
    "job_launch",
    "job_list",
    "job_progress",
    "job_rerun",
    "job_result",
    "job_status",
    "metrics",
    "notifications",
    "panel_response",
    "staff_act",
    "staff_dashboard",
    "staff_purge_workers",
    "staff_run_schedule",
    "staff_jobs",
    "staff_section",
]
