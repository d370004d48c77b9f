"""Who is looking at a panel, and a short-lived signed token that spares every poll the user lookup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth import SESSION_KEY
from django.core import signing

if TYPE_CHECKING:
    from django.http import HttpRequest

    from jobs_ui.models import Job

VIEWER_SALT = "jobs_ui.viewer"
# A token is issued with every rendered panel, so this only bounds how long a
# panel that sees no change keeps skipping the full authentication check.
VIEWER_TOKEN_MAX_AGE = 5 * 60


@dataclass(frozen=True, slots=True)
class Viewer:
    """The user a panel is rendered for: ``user_id`` is None for anonymous visitors."""

    user_id: str | None = None
    is_staff: bool = False

    @classmethod
    def from_request(cls, request: HttpRequest) -> Viewer:
        user: Any = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return cls()
        return cls(str(user.pk), bool(user.is_staff))

    def owns(self, job: Job) -> bool:
        return self.user_id is not None and str(job.owner_id) == self.user_id

    def can_see(self, job: Job) -> bool:
        return job.public or self.owns(job)

    def token(self) -> str:
        return signing.dumps([self.user_id, self.is_staff], salt=VIEWER_SALT)


def viewer_from_token(request: HttpRequest, token: str) -> Viewer | None:
    """The viewer a token was issued to, if it is fresh and the session still belongs to that user.

    Optimization: a poll then costs the session row and the job row, not the
    user row too. The token was issued after Django's full check (session
    hash, active user); it is bound to the session's user id, so it is useless
    with another session, and a sign-out ends it at once.
    """
    try:
        user_id, is_staff = signing.loads(token, salt=VIEWER_SALT, max_age=VIEWER_TOKEN_MAX_AGE)
    except (signing.BadSignature, TypeError, ValueError):
        return None
    if user_id is not None and not isinstance(user_id, str):
        return None
    session = getattr(request, "session", None)
    session_user = session.get(SESSION_KEY) if session is not None else None
    if (None if session_user is None else str(session_user)) != user_id:
        return None
    return Viewer(user_id, bool(is_staff))
