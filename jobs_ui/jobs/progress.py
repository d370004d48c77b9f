"""The progress write of a running attempt, and the read of its cancel flag."""

from __future__ import annotations

from django.db.models.functions import Now

from jobs_ui.models import Job


def record_progress(job: Job) -> tuple[bool, bool]:
    """Write the progress, ``extra`` and ``workspace`` of ``job``'s attempt; (still running, cancel requested).

    The write also renews the attempt's lease (``heartbeat_at``).
    """
    fields = {
        "progress_done": job.progress_done,
        "progress_total": job.progress_total,
        "progress_message": job.progress_message,
        "extra": job.extra,
        "workspace": job.workspace,
        "progress_at": Now(),
        "heartbeat_at": Now(),
    }
    attempt = Job.objects.attempt(job)
    # Optimization: one query while nobody asked to cancel; a second one
    # only to learn why the first matched no row.
    if attempt.filter(cancel_requested_at__isnull=True).update(**fields):
        return True, False
    return bool(attempt.update(**fields)), True


def cancel_state(job: Job) -> tuple[bool, bool]:
    """Whether ``job``'s attempt still runs, and whether someone asked to cancel it (or it no longer runs)."""
    row = Job.objects.attempt(job).values("cancel_requested_at").first()
    if row is None:
        return False, True
    return True, row["cancel_requested_at"] is not None
