"""``{% load jobs_ui %}``: launch buttons, the panel, and the CSS/JS they need."""

from __future__ import annotations

import uuid
from typing import Any

from django import template
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.template.defaultfilters import floatformat
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy

from jobs_ui.backend import JobTask
from jobs_ui.jobs.create import validate_arguments
from jobs_ui.jobs.registry import resolve_task
from jobs_ui.models import Job
from jobs_ui.views.launch_endpoint import sign_launch
from jobs_ui.views.notifications import NOTIFICATIONS_TEMPLATE, notifications_context
from jobs_ui.views.panel import WATCH_TEMPLATE, panel_context
from jobs_ui.views.viewer import Viewer

register = template.Library()

BUTTON_TEMPLATE = "jobs_ui/includes/launch_button.html"
# What jobs_ui.js says when a panel's request fails; the script has these in English too.
SCRIPT_TEXTS = {
    "cancel-error": gettext_lazy(
        "The server could not be reached, so the job was not cancelled. Check your connection and try again."
    ),
    "cancel-error-session": gettext_lazy("Your session changed in another tab: reload the page and try again."),
    "cancel-error-server": gettext_lazy("The server hit an error; the job was not cancelled."),
    "launch-error": gettext_lazy("The server could not be reached. Check your connection and try again."),
    "launch-error-session": gettext_lazy("Your session changed in another tab: reload the page and try again."),
    "launch-error-server": gettext_lazy("The server hit an error; the job was not started."),
    "lost": gettext_lazy("Connection lost, retrying…"),
    "gone": gettext_lazy("This job can no longer be shown here. Reload the page."),
}


def _request(context: template.Context) -> HttpRequest:
    request = context.get("request")
    if not isinstance(request, HttpRequest):
        raise ImproperlyConfigured(
            "jobs_ui's template tags need the request in the context: "
            "add 'django.template.context_processors.request' to your template context processors."
        )
    return request


@register.simple_tag(takes_context=True)
def jobs_ui_head(context: template.Context) -> SafeString:
    """The stylesheet and script of jobs_ui; put it in ``<head>`` after ``{% htmx_script %}``."""
    nonce = context.get("csp_nonce")
    # What the script needs to send the CSRF cookie's token (Django's names, configurable),
    # and what a panel says when its request fails, translated once per page.
    csrf = format_html(
        ' data-csrf-cookie="{}" data-csrf-header="{}"',
        settings.CSRF_COOKIE_NAME,
        settings.CSRF_HEADER_NAME.removeprefix("HTTP_").replace("_", "-"),
    ) + format_html_join("", ' data-text-{}="{}"', ((name, str(text)) for name, text in SCRIPT_TEXTS.items()))
    script = (
        format_html('<script src="{}" defer{} nonce="{}"></script>', static("jobs_ui/jobs_ui.js"), csrf, nonce)
        if nonce
        else format_html('<script src="{}" defer{}></script>', static("jobs_ui/jobs_ui.js"), csrf)
    )
    return format_html('<link rel="stylesheet" href="{}">\n{}', static("jobs_ui/jobs_ui.css"), script)


@register.simple_tag(takes_context=True)
def launch_button(
    context: template.Context,
    task: JobTask | str,
    /,
    *args: Any,
    label: str | None = None,
    target: str | None = None,
    public: bool | None = None,
    **kwargs: Any,
) -> SafeString:
    """A button that launches ``task(*args, **kwargs)`` for the signed-in user and shows its panel.

    ``task`` is a task or its dotted path. The task path and arguments are
    signed into the form, so users cannot change them. The panel goes into
    ``target`` (a CSS selector) or, by default, a slot right after the button.
    ``label``, ``target`` and ``public`` are the tag's own options, not task arguments
    (give a task argument of one of these names positionally).
    """
    request = _request(context)
    job_task = task if isinstance(task, JobTask) else resolve_task(str(task))
    # Fails at render, in front of the developer, rather than at the click.
    args_list, kwargs_dict = validate_arguments(job_task, list(args), dict(kwargs))
    user: Any = getattr(request, "user", None)
    user_id = user.pk if user is not None and user.is_authenticated else None
    slot_id = "" if target else f"jobs-ui-slot-{uuid.uuid4().hex[:12]}"
    return render_to_string(
        BUTTON_TEMPLATE,
        {
            "payload": sign_launch(job_task.module_path, args_list, kwargs_dict, public=public, user_id=user_id),
            "label": label or job_task.display_name,
            "target": target or f"#{slot_id}",
            "slot_id": slot_id,
            "csrf_token": get_token(request),
        },
        request=request,
    )


@register.simple_tag(takes_context=True)
def job_panel(context: template.Context, job: Job) -> SafeString:
    """The live progress panel of ``job`` (which the request's user may see), for your own pages."""
    request = _request(context)
    return render_to_string(WATCH_TEMPLATE, panel_context(request, job, Viewer.from_request(request)), request=request)


@register.simple_tag(takes_context=True)
def jobs_ui_notifications(context: template.Context) -> SafeString:
    """For a project's base template: on any page, a toast when one of the signed-in user's jobs finishes
    ("Export customers (CSV) finished: open"), over a socket per tab (``WEBSOCKETS``) or else by polling."""
    request = _request(context)
    user: Any = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return SafeString("")
    return render_to_string(NOTIFICATIONS_TEMPLATE, notifications_context(request), request=request)


@register.simple_tag
def jobs_ui_progress_bar(value: float | None) -> SafeString:
    """A job's ``<progress>`` at ``value`` percent; indeterminate when None."""
    # A tag rather than an include: a panel draws one on every poll that finds a change.
    label = gettext("Progress")
    if value is None:
        return format_html(
            '<progress class="jobs-ui-progress" aria-label="{}">{}</progress>', label, gettext("In progress")
        )
    return format_html(
        '<progress class="jobs-ui-progress" aria-label="{}" max="100" value="{}">{}%</progress>',
        label,
        f"{value:.1f}",
        floatformat(value, 0),
    )


@register.filter
def jobs_ui_duration(seconds: float | None) -> str:
    """``75`` → ``1:15``, ``3725`` → ``1:02:05``; empty for None."""
    if seconds is None:
        return ""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
