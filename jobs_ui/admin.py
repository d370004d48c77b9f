"""Read-only admin pages for jobs, workers and staff actions; a worker that has gone silent shows as lost.

The staff actions on jobs (cancel, retry, requeue, run now) are admin actions too, for staff with
``jobs_ui.change_job``, and are recorded as the dashboard's are.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from jobs_ui.jobs.staff_actions import ACTIONS, BULK_LIMIT, Action, act
from jobs_ui.models import Job, Schedule, StaffAction, Worker, WorkerState, silent_before
from jobs_ui.views.access import ACT_PERMISSION, staff_may


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _admin_action(action: Action) -> Any:
    def run(model_admin: JobAdmin, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        count = queryset.count()
        if count > BULK_LIMIT:
            model_admin.message_user(
                request,
                _("Select at most %(limit)d jobs for one action.") % {"limit": BULK_LIMIT},
                messages.ERROR,
            )
            return
        outcome = act(action, queryset.order_by("-enqueued_at", "-id"), by=request.user, selection="admin")
        notice = ngettext("%(action)s: %(count)d job.", "%(action)s: %(count)d jobs.", outcome.record.done) % {
            "action": action.label,
            "count": outcome.record.done,
        }
        for reason, skipped in outcome.skipped.items():
            notice += " " + _("%(count)d left as they were: %(reason)s") % {"count": skipped, "reason": reason}
        model_admin.message_user(request, notice, messages.SUCCESS if outcome.record.done else messages.WARNING)

    run.__name__ = f"{action.name}_jobs"
    description = format_lazy(gettext_lazy("{action} the selected jobs"), action=action.label)
    return admin.action(description=description, permissions=["act"])(run)


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ["id", "task_path", "status", "owner", "queue_name", "priority", "enqueued_at", "finished_at"]
    list_filter = ["status", "executor", "queue_name", "task_path"]
    search_fields = ["id", "task_path", "owner__username", "error_message"]
    date_hierarchy = "enqueued_at"
    list_select_related = ["owner"]
    actions = [_admin_action(action) for action in ACTIONS.values()]

    def has_act_permission(self, request: HttpRequest) -> bool:
        """The dashboard's permission to act on jobs (``jobs_ui.change_job``, staff)."""
        return staff_may(request.user, ACT_PERMISSION)


@admin.register(Schedule)
class ScheduleAdmin(ReadOnlyAdmin):
    """Schedules are defined in code and settings; staff run one now from the dashboard."""

    list_display = ["name", "task_path", "cron", "timezone", "last_occurrence", "next_occurrence", "enabled"]
    list_filter = ["enabled"]
    search_fields = ["name", "task_path"]


@admin.register(StaffAction)
class StaffActionAdmin(ReadOnlyAdmin):
    list_display = ["at", "username", "action", "selection", "done", "skipped"]
    list_filter = ["action"]
    search_fields = ["username", "selection"]
    date_hierarchy = "at"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class HealthFilter(admin.SimpleListFilter):
    """By state as shown (``Worker.health``): a silent online or stopping worker is lost."""

    title = "state"
    parameter_name = "health"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(state.value, str(state.label)) for state in WorkerState]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Worker]) -> QuerySet[Worker]:
        value = self.value()
        if not value:
            return queryset
        alive = Q(state__in=[WorkerState.ONLINE, WorkerState.STOPPING])
        silent = alive & Q(heartbeat_at__lt=silent_before())
        if value == WorkerState.LOST:
            return queryset.filter(Q(state=WorkerState.LOST) | silent)
        return queryset.filter(state=value).exclude(silent)


@admin.register(Worker)
class WorkerAdmin(ReadOnlyAdmin):
    # The id (up to 64 characters) is on the worker's own page: the list fits a laptop screen.
    list_display = ["label", "kind", "host", "pid", "health", "heartbeat_at", "succeeded", "failed"]
    list_display_links = ["label"]
    list_filter = [HealthFilter, "kind", "host"]
    search_fields = ["id", "label", "host"]

    @admin.display(description="state", ordering="state")
    def health(self, worker: Worker) -> str:
        return str(worker.health.label)

    @admin.display(description="succeeded", ordering="jobs_succeeded")
    def succeeded(self, worker: Worker) -> int:
        return worker.jobs_succeeded

    @admin.display(description="failed", ordering="jobs_failed")
    def failed(self, worker: Worker) -> int:
        return worker.jobs_failed
