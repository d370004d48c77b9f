"""The fallback of "your job is done" toasts: a tab whose socket is down asks for the user's jobs finished since."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from jobs_ui.conf import get_config
from jobs_ui.push.notifications import POLL_SECONDS, WATCHED_MAX, finished_since, render_toasts

NOTIFICATIONS_TEMPLATE = "jobs_ui/includes/notifications.html"
POLL_TEMPLATE = "jobs_ui/includes/notifications_poll.html"


def notifications_context(request: HttpRequest) -> dict[str, Any]:
    """What ``{% jobs_ui_notifications %}`` renders for a signed-in user: the region and its poll from now."""
    config = get_config()
    now = timezone.now()
    push_url = f"{config['WEBSOCKET_URL']}mine/?{urlencode({'since': now.isoformat()})}" if config["WEBSOCKETS"] else ""
    return {"push_url": push_url, **_poll_context(now)}


def _poll_context(since: datetime) -> dict[str, Any]:
    url = reverse("jobs_ui:notifications")
    return {"poll_url": f"{url}?{urlencode({'since': since.isoformat()})}", "poll_ms": round(POLL_SECONDS * 1000)}


@never_cache
@require_GET
def notifications(request: HttpRequest) -> HttpResponse:
    """The toasts of the user's jobs finished after ``since``, and the poll that asks again from now."""
    user: Any = request.user
    if not user.is_authenticated:
        return HttpResponse(status=403)
    try:
        since = datetime.fromisoformat(request.GET.get("since", ""))
    except ValueError:
        return HttpResponseBadRequest(_("since must be a time in ISO 8601 form."))
    if timezone.is_naive(since):
        return HttpResponseBadRequest(_("since must say its time zone."))
    # From before the read: a job finishing meanwhile is told by the next poll.
    now = timezone.now()
    jobs = finished_since(user.pk, since)
    # A full batch may have more behind it: the next poll asks from the last one told.
    next_since = jobs[-1].finished_at if len(jobs) == WATCHED_MAX and jobs[-1].finished_at else now
    poll = render_to_string(POLL_TEMPLATE, _poll_context(next_since))
    return HttpResponse(poll + (render_toasts(jobs) if jobs else ""))
