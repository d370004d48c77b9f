"""A Django request made from a websocket's scope, for rendering what a socket sends (panels, dashboard sections)."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware


def scope_request(scope: Any) -> HttpRequest:
    """What rendering reads of a request: host, scheme, user, session, cookies and the CSRF secret.

    The CSRF secret is the browser's own (its cookie, or its session), so a ``{% csrf_token %}``
    rendered here is valid in the page the socket pushes it into.
    """
    request = HttpRequest()
    headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
    server = scope.get("server") or ("localhost", 80)
    request.META = {
        "HTTP_HOST": headers.get("host", f"{server[0]}:{server[1]}"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "wsgi.url_scheme": "https" if scope.get("scheme") in ("wss", "https") else "http",
    }
    cookies = SimpleCookie()
    cookies.load(headers.get("cookie", ""))
    request.COOKIES = {name: morsel.value for name, morsel in cookies.items()}
    user: Any = scope.get("user")
    request.user = user
    if scope.get("session") is not None:
        request.session = scope["session"]
    # (With CSRF_USE_SESSIONS and no session in the scope, forms rendered here carry a new token.)
    if not settings.CSRF_USE_SESSIONS or hasattr(request, "session"):
        CsrfViewMiddleware(lambda request: None).process_request(request)  # type: ignore[arg-type]
    # Pushed like a poll's answer: into a page whose htmx requests carry the CSRF token.
    request.htmx = True  # type: ignore[attr-defined]
    return request
