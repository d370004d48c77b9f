"""What staff may do to jobs, one or many at a time, each time recorded in a ``StaffAction``:
cancel, retry as a new linked job, requeue, run now."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from jobs_ui.exceptions import JobsUiException
from jobs_ui.jobs.cancel import cancel
from jobs_ui.jobs.requeue import requeue, run_now
from jobs_ui.jobs.retry import retry
from jobs_ui.models import Job, StaffAction

logger = logging.getLogger(__name__)

# One action changes at most this many jobs; the rest of a filter is left for the next one.
BULK_LIMIT = 1000
# Ids kept in the record of an action (the count is always whole).
IDS_KEPT = 100


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    label: Any  # a lazy translation
    apply: Callable[[Job, Any], Job]
    """Act on one job for a user; returns the job changed, or the new job; a ``JobsUiException`` says why not."""


ACTIONS = {
    action.name: action
    for action in (
        Action("cancel", _("Cancel"), lambda job, by: cancel(job, by=by)),
        Action("retry", _("Retry"), lambda job, by: retry(job)),
        Action("requeue", _("Requeue"), lambda job, by: requeue(job)),
        Action("run_now", _("Run now"), lambda job, by: run_now(job)),
    )
}
# The action that deletes the rows of ended workers (jobs_ui.views.staff), recorded as the others.
PURGE_WORKERS = "purge_workers"
# Running a schedule's task now (jobs_ui.views.staff), recorded too.
RUN_SCHEDULE = "run_schedule"


@dataclass(frozen=True, slots=True)
class Outcome:
    record: StaffAction
    skipped: Counter[str]
    """How many jobs were left as they were, by the reason."""
    new_jobs: list[Job]
    """The jobs a retry made (or the unfinished twin of a unique task)."""


def act(action: Action, jobs: Iterable[Job], *, by: Any, selection: str) -> Outcome:
    """Apply ``action`` to each of ``jobs`` (at most ``BULK_LIMIT``), then record who did what.

    A job the action does not apply to (finished, already running, its task gone) is skipped,
    counted by the reason; the others are done, each on its own, as an owner's action would be.
    """
    skipped: Counter[str] = Counter()
    done: list[Job] = []
    new_jobs: list[Job] = []
    for job in jobs:
        if len(done) + skipped.total() >= BULK_LIMIT:
            break
        try:
            changed = action.apply(job, by)
        except JobsUiException as e:
            skipped[str(e)] += 1
            continue
        done.append(job)
        if changed.pk != job.pk:
            new_jobs.append(changed)
    new_ids = [str(job.pk) for job in new_jobs[:IDS_KEPT]]
    record = record_action(action.name, by, selection, [str(job.pk) for job in done], skipped.total(), new_ids)
    return Outcome(record, skipped, new_jobs)


def record_action(
    name: str, by: Any, selection: str, ids: list[str], skipped: int = 0, new_job_ids: list[str] | None = None
) -> StaffAction:
    """Save (and log) that ``by`` did ``name`` to ``ids`` (of jobs, or of workers) chosen by ``selection``."""
    user = by if getattr(by, "is_authenticated", False) else None
    record = StaffAction.objects.create(
        user=user,
        username=user.get_username() if user is not None else "",
        action=name,
        selection=selection[:500],
        done=len(ids),
        skipped=skipped,
        ids=ids[:IDS_KEPT],
        new_job_ids=new_job_ids or [],
    )
    logger.info("%s: %s on %s: %d done, %d skipped", record.username, name, selection, record.done, skipped)
    return record
