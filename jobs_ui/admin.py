"""Read-only admin pages for jobs and workers; a worker that has gone silent shows as lost."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from jobs_ui.models import Job, Worker, WorkerState, silent_before


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ["id", "task_path", "status", "owner", "queue_name", "priority", "enqueued_at", "finished_at"]
    list_filter = ["status", "executor", "queue_name", "task_path"]
    search_fields = ["id", "task_path", "owner__username", "error_message"]
    date_hierarchy = "enqueued_at"
    list_select_related = ["owner"]


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
