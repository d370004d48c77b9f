from __future__ import annotations

from jobs_ui.views.json import job_result, job_status

__all__ = ["job_result", "job_status"]
