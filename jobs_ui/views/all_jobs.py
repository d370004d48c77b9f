"""Staff's list of every job (filters, keyset pages) and their actions on jobs, one or many, each confirmed first."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from jobs_ui.jobs.ids import first_id_at
from jobs_ui.jobs.staff_actions import ACTIONS, BULK_LIMIT, act
from jobs_ui.models import Job, JobQuerySet, JobStatus
from jobs_ui.views.access import ACT_PERMISSION, READ_PERMISSION
from jobs_ui.views.staff import staff_only
from jobs_ui.views.types import HtmxHttpRequest

JOBS_TEMPLATE = "jobs_ui/staff_jobs.html"
CONFIRM_TEMPLATE = "jobs_ui/staff_confirm.html"
PAGE_SIZE = 50
# Jobs named on the confirmation page; the count is always whole.
CONFIRM_SHOWN = 20
# What the list reads of each job: not its arguments, result, workspace or tracebacks.
LISTED_FIELDS = (
    "id",
    "task_path",
    "status",
    "queue_name",
    "owner",
    "public",
    "enqueued_at",
    "started_at",
    "finished_at",
    "run_after",
    "cancel_requested_at",
    "attempts",
    "max_attempts",
    "worker_id",
    "error_class",
    "error_message",
    "retry_of",
)


# How far a web process's clock (which makes ids) may be from the database's (which stamps enqueued_at).
CLOCK_MARGIN = timedelta(minutes=1)


def _id_at(when: datetime) -> uuid.UUID:
    return first_id_at(int(when.timestamp() * 1000))


class JobFilter(forms.Form):
    """Which jobs the staff list shows, and which jobs an action "on the filter" changes."""

    status = forms.ChoiceField(
        label=gettext_lazy("Status"), required=False, choices=[("", gettext_lazy("Any")), *JobStatus.choices]
    )
    task = forms.CharField(label=gettext_lazy("Task"), required=False, max_length=255)
    queue = forms.CharField(label=gettext_lazy("Queue"), required=False, max_length=100)
    owner = forms.CharField(label=gettext_lazy("Owner"), required=False, max_length=150)
    q = forms.CharField(label=gettext_lazy("Job id or error"), required=False, max_length=200)
    since = forms.DateTimeField(label=gettext_lazy("Enqueued from"), required=False)
    until = forms.DateTimeField(label=gettext_lazy("to"), required=False)

    FIELDS = ("status", "task", "queue", "owner", "q", "since", "until")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise forms.ValidationError(_("The start of the time range is after its end."))
        return cleaned

    def jobs(self) -> JobQuerySet:
        """The jobs that match, newest first (``is_valid()`` first)."""
        data = self.cleaned_data
        # Optimization: newest first through the primary key (time-ordered ids), which every launch
        # writes anyway; a time range narrows it by the ids such times make (a minute either side
        # for the clocks of web processes), then enqueued_at says exactly.
        jobs = Job.objects.order_by("-id")
        if data["status"]:
            jobs = jobs.filter(status=data["status"])
        if data["task"]:
            # A full path, or the task's name alone.
            task = data["task"].strip()
            jobs = jobs.filter(task_path=task) if "." in task else jobs.filter(task_path__endswith=f".{task}")
        if data["queue"]:
            jobs = jobs.filter(queue_name=data["queue"].strip())
        if data["owner"]:
            jobs = jobs.filter(**{f"owner__{get_user_model().USERNAME_FIELD}": data["owner"].strip()})
        if data["q"]:
            text = data["q"].strip()
            try:
                jobs = jobs.filter(pk=uuid.UUID(text))
            except ValueError:
                # Among the jobs that have an error (jobs_ui_job_error_idx), not every job.
                errors = jobs.exclude(error_class="")
                jobs = errors.filter(Q(error_class__icontains=text) | Q(error_message__icontains=text))
        if data["since"]:
            jobs = jobs.filter(pk__gte=_id_at(data["since"] - CLOCK_MARGIN), enqueued_at__gte=data["since"])
        if data["until"]:
            jobs = jobs.filter(pk__lt=_id_at(data["until"] + CLOCK_MARGIN), enqueued_at__lte=data["until"])
        return jobs

    def query(self) -> dict[str, str]:
        """The filter as it was asked for, without the empty fields: for links and the record of an action."""
        return {name: str(self.data[name]).strip() for name in self.FIELDS if str(self.data.get(name, "")).strip()}


@never_cache
@require_GET
@staff_only(READ_PERMISSION)
def staff_jobs(request: HtmxHttpRequest) -> HttpResponse:
    """Every job, newest first (by id: ids are time-ordered), filtered; keyset pages on the id."""
    form = JobFilter(request.GET)
    user: Any = request.user
    context: dict[str, Any] = {
        "form": form,
        "can_act": user.has_perm(ACT_PERMISSION),
        "actions": ACTIONS.values(),
        "jobs_url": reverse("jobs_ui:staff_jobs"),
        "act_url": reverse("jobs_ui:staff_act"),
        "dashboard_url": reverse("jobs_ui:staff"),
        "rows": [],
        "bulk_limit": BULK_LIMIT,
    }
    if not form.is_valid():
        return render(request, JOBS_TEMPLATE, context, status=400)
    jobs = form.jobs()
    cursor = request.GET.get("cursor", "")
    if cursor:
        try:
            jobs = jobs.filter(pk__lt=uuid.UUID(cursor))
        except ValueError:
            context["cursor_error"] = _("This page link is not valid; start again from the newest jobs.")
            return render(request, JOBS_TEMPLATE, context, status=400)
    page = list(jobs.select_related("owner").only(*LISTED_FIELDS, "owner__username")[: PAGE_SIZE + 1])
    query = form.query()
    context.update(
        rows=page[:PAGE_SIZE],
        query=query,
        filtered=bool(query),
        here=request.get_full_path(),
        next_url=f"?{urlencode({**query, 'cursor': str(page[PAGE_SIZE - 1].pk)})}" if len(page) > PAGE_SIZE else "",
        first_url=f"?{urlencode(query)}" if cursor else "",
    )
    return render(request, JOBS_TEMPLATE, context)


@require_POST
@staff_only(ACT_PERMISSION)
def staff_act(request: HtmxHttpRequest) -> HttpResponse:
    """An action on the selected jobs (``job``, one or more ids) or on every job the filter matches
    (``scope=filter`` and the filter's fields): first a confirmation page, then, with ``confirmed``, the action."""
    action = ACTIONS.get(request.POST.get("action", ""))
    back = _back_url(request)
    if action is None:
        return _refused(request, back, _("Choose an action: %s.") % ", ".join(ACTIONS))
    scope = request.POST.get("scope", "selected")
    query: dict[str, str] = {}
    if scope == "filter":
        form = JobFilter(request.POST)
        if not form.is_valid():
            return _refused(request, back, _("The filter is not valid: %s") % _errors(form))
        jobs, query = form.jobs(), form.query()
        selection = urlencode(query) or "all"
    elif scope == "selected":
        try:
            ids = [uuid.UUID(value) for value in request.POST.getlist("job")]
        except ValueError:
            return _refused(request, back, _("A selected job id is not valid."))
        if not ids:
            return _refused(request, back, _("Select at least one job, or act on every job of the filter."))
        jobs = Job.objects.filter(pk__in=ids).order_by("-enqueued_at", "-id")
        selection = f"job={ids[0]}" if len(ids) == 1 else f"{len(ids)} selected"
    else:
        return _refused(request, back, _("Act on the selected jobs or on the filter."))
    if request.POST.get("confirmed") != "1":
        count = jobs.count()
        context = {
            "action": action,
            "count": count,
            "over_limit": count > BULK_LIMIT,
            "bulk_limit": BULK_LIMIT,
            "shown": list(jobs.select_related("owner").only(*LISTED_FIELDS, "owner__username")[:CONFIRM_SHOWN]),
            "scope": scope,
            "ids": request.POST.getlist("job"),
            "query": query,
            "back": back,
            "act_url": reverse("jobs_ui:staff_act"),
        }
        return render(request, CONFIRM_TEMPLATE, context)
    ids = list(jobs.values_list("pk", flat=True)[:BULK_LIMIT])
    outcome = act(action, _in_chunks(ids), by=request.user, selection=selection)
    done = outcome.record.done
    notice = ngettext("%(action)s: %(count)d job.", "%(action)s: %(count)d jobs.", done) % {
        "action": action.label,
        "count": done,
    }
    for reason, count in outcome.skipped.items():
        notice += " " + ngettext(
            "%(count)d left as it was: %(reason)s", "%(count)d left as they were: %(reason)s", count
        ) % {
            "count": count,
            "reason": reason,
        }
    (messages.success if done else messages.warning)(request, notice, fail_silently=True)
    if len(outcome.new_jobs) == 1 and scope == "selected" and len(ids) == 1:
        # One job retried: its new page, which links to the old one.
        return HttpResponseRedirect(outcome.new_jobs[0].get_absolute_url())
    return HttpResponseRedirect(back)


def _in_chunks(ids: list[uuid.UUID], size: int = 100) -> Any:
    for start in range(0, len(ids), size):
        yield from Job.objects.filter(pk__in=ids[start : start + size]).order_by("-enqueued_at", "-id")


def _back_url(request: HtmxHttpRequest) -> str:
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, {request.get_host()}, require_https=request.is_secure()):
        return back
    return reverse("jobs_ui:staff_jobs")


def _refused(request: HtmxHttpRequest, back: str, reason: str) -> HttpResponse:
    context = {"refusal": reason, "back": back}
    return render(request, CONFIRM_TEMPLATE, context, status=400)


def _errors(form: forms.Form) -> str:
    return " ".join(str(error) for errors in form.errors.values() for error in errors)
