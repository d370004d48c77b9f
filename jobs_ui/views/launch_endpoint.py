"""The generic launch endpoint behind ``{% launch_button %}``: a signed task path and arguments."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.tasks.exceptions import InvalidTask
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from jobs_ui.exceptions import InvalidJobArguments, JobAlreadyRunning, TooManyJobs, UnknownTask
from jobs_ui.jobs.create import launch_with
from jobs_ui.jobs.registry import resolve_task
from jobs_ui.views.panel import render_panel
from jobs_ui.views.standing import standing
from jobs_ui.views.types import HtmxHttpRequest

LAUNCH_SALT = "jobs_ui.launch"
# A button older than this (a page left open for a day) asks for a reload.
LAUNCH_MAX_AGE = 24 * 60 * 60
ERROR_TEMPLATE = "jobs_ui/launch_error.html"


class BadLaunchPayload(Exception):
    pass


def sign_launch(task_path: str, args: list[Any], kwargs: dict[str, Any], *, public: bool | None, user_id: Any) -> str:
    """The payload a launch button posts: what to run, for whom, signed with the project's SECRET_KEY."""
    data = {"t": task_path, "a": args, "k": kwargs, "p": public, "u": None if user_id is None else str(user_id)}
    return signing.dumps(data, salt=LAUNCH_SALT, compress=True)


def unsign_launch(payload: str) -> dict[str, Any]:
    try:
        data: Any = signing.loads(payload, salt=LAUNCH_SALT, max_age=LAUNCH_MAX_AGE)
    except signing.SignatureExpired as e:
        raise BadLaunchPayload(_("This button has expired. Reload the page and try again.")) from e
    except (signing.BadSignature, ValueError) as e:
        raise BadLaunchPayload(
            _("This launch request is not valid: it was changed or cut short. Reload the page and try again.")
        ) from e
    well_formed = (
        isinstance(data, dict)
        and isinstance(data.get("t"), str)
        and isinstance(data.get("a"), list)
        and isinstance(data.get("k"), dict)
        and data.get("p") in (None, True, False)
        and (data.get("u") is None or isinstance(data.get("u"), str))
    )
    if not well_formed:
        raise BadLaunchPayload(_("This launch request is not valid. Reload the page and try again."))
    checked: dict[str, Any] = data
    return checked


def launch_error(request: HtmxHttpRequest, message: str, *, status: int) -> HttpResponse:
    template = ERROR_TEMPLATE + "#launch-error" if request.htmx else ERROR_TEMPLATE
    return render(request, template, {"message": message}, status=status)


def _login_redirect(request: HttpRequest) -> HttpResponse:
    # Back to the page that had the button, not to this POST-only URL.
    referer = request.headers.get("Referer", "")
    safe = url_has_allowed_host_and_scheme(referer, {request.get_host()}, require_https=request.is_secure())
    return redirect_to_login(referer if safe else "/")


@require_POST
def job_launch(request: HtmxHttpRequest) -> HttpResponse:
    """Launch the task a button signed; 400 when the payload is bad, 429 past the per-user cap,
    409 when another user's job of a unique task is running with these arguments."""
    if not request.user.is_authenticated:
        if request.htmx:
            return launch_error(request, _("Sign in to launch jobs."), status=403)
        return _login_redirect(request)
    try:
        data = unsign_launch(request.POST.get("payload", ""))
        if data["u"] != str(request.user.pk):
            raise BadLaunchPayload(_("This button was made for another user. Reload the page and try again."))
        task = resolve_task(data["t"])
    except (BadLaunchPayload, UnknownTask) as e:
        return launch_error(request, str(e), status=400)
    try:
        job = launch_with(task, request, data["a"], data["k"], public=data["p"])
    except TooManyJobs as e:
        return launch_error(request, str(e), status=429)
    except JobAlreadyRunning as e:
        return launch_error(request, str(e), status=409)
    except (InvalidJobArguments, InvalidTask) as e:
        return launch_error(request, str(e), status=400)
    if request.htmx:
        # Whether a worker is there to run it; its place is read by the panel's first poll.
        return render_panel(request, job, where=standing(job, place=False), watch=True)
    return redirect(job)
