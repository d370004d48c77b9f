"""The websocket routes of jobs_ui, for a project's ``asgi.py`` (README: Live push).

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
import jobs_ui.routing

application = ProtocolTypeRouter({
    "http": get_asgi_application(),
    "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(jobs_ui.routing.websocket_urlpatterns))),
})
"""

from __future__ import annotations

from typing import Any

from django.urls import path

from jobs_ui.conf import get_config
from jobs_ui.consumers import JobConsumer
from jobs_ui.push.notifications import NotificationsConsumer
from jobs_ui.push.staff import StaffConsumer

_prefix = get_config()["WEBSOCKET_URL"].lstrip("/")
# The panel of job <uuid> connects to JOBS_UI["WEBSOCKET_URL"] + "<uuid>/" ("/ws/jobs/<uuid>/");
# each tab of a signed-in user with {% jobs_ui_notifications %} to "mine/" there, and the staff
# dashboard to "staff/".
# Channels routes ASGI applications with Django's path(), whose types expect views.
websocket_urlpatterns: list[Any] = [
    path(f"{_prefix}mine/", NotificationsConsumer.as_asgi()),  # type: ignore[arg-type]
    path(f"{_prefix}staff/", StaffConsumer.as_asgi()),  # type: ignore[arg-type]
    path(f"{_prefix}<uuid:job_id>/", JobConsumer.as_asgi()),  # type: ignore[arg-type]
]
