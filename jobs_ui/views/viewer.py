"""Who is looking at a panel: the owner, checked against their row as Django checks a session, or another
signed-in user with a short-lived signed token that spares their polls a query for their own row."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model, load_backend
from django.contrib.auth.backends import ModelBackend
from django.core import signing
from django.utils.crypto import constant_time_compare

from jobs_ui.views.access import READ_PERMISSION, staff_may

if TYPE_CHECKING:
    from django.http import HttpRequest

    from jobs_ui.models import Job

VIEWER_SALT = "jobs_ui.viewer"
# A token is issued with every rendered panel, so this only bounds how long a
# panel that sees no change keeps skipping the full authentication check.
VIEWER_TOKEN_MAX_AGE = 5 * 60


@dataclass(frozen=True, slots=True)
class Viewer:
    """The user a panel is rendered for: ``user_id`` is None for anonymous visitors.

    ``support``: staff with ``jobs_ui.view_job``, who may read any job (never act on it from its panel).
    """

    user_id: str | None = None
    is_staff: bool = False
    support: bool = False

    @classmethod
    def from_request(cls, request: HttpRequest) -> Viewer:
        return cls.for_user(getattr(request, "user", None))

    @classmethod
    def for_user(cls, user: Any) -> Viewer:
        """The viewer ``user`` is (anonymous for None); a lazy user is read from the database here."""
        if user is None or not user.is_authenticated:
            return cls()
        return cls(str(user.pk), bool(user.is_staff), staff_may(user, READ_PERMISSION))

    def owns(self, job: Job) -> bool:
        return self.user_id is not None and str(job.owner_id) == self.user_id

    def can_see(self, job: Job) -> bool:
        return job.public or self.owns(job) or self.support

    def token(self) -> str:
        return signing.dumps([self.user_id, self.is_staff], salt=VIEWER_SALT)


def viewer_from_token(request: HttpRequest, token: str) -> Viewer | None:
    """The viewer a token was issued to, if it is fresh and the session still belongs to that user.

    The token is bound to the session's user id, so it is useless with another
    session, and a sign-out ends it at once. What the user may do now is not in it:
    ``confirmed()`` checks that against the user's row.
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


@functools.cache
def owner_fields() -> tuple[str, ...]:
    """What ``confirmed()`` reads of a job's owner: the user model's fields among these."""
    names = {field.name for field in get_user_model()._meta.concrete_fields}
    return tuple(name for name in ("password", "is_active", "is_staff") if name in names)


def session_owner(request: HttpRequest, job: Job) -> Viewer | None:
    """The job's owner when the request's session is theirs and ``confirmed()`` by their row; None otherwise."""
    session: Any = getattr(request, "session", None)
    user_id = session.get(SESSION_KEY) if session is not None else None
    if user_id is None or job.owner_id is None or str(user_id) != str(job.owner_id):
        return None
    return confirmed(request, Viewer(str(user_id)), job)


def confirmed(request: HttpRequest, viewer: Viewer, job: Job) -> Viewer | None:
    """``viewer`` as their user row says now, read with the job; None when only Django's full check can tell.

    A change (a new password, ``is_active`` off, staff status) counts from the next poll.
    """
    # Optimization: the owner's row comes with the job (one query), and is checked as
    # django.contrib.auth.get_user() checks the session's user: a backend the settings
    # still list, an active user, the session's hash of the password. A poll then costs
    # the session and the job. Another signed-in user watching a public job sees what
    # anyone with the link sees, unless the token says staff: then their own row is read
    # by the full check.
    if viewer.user_id is None:
        return viewer
    if str(job.owner_id) != viewer.user_id:
        return None if viewer.is_staff else viewer
    session: Any = request.session
    backend_path = session.get(BACKEND_SESSION_KEY)
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    backend = load_backend(backend_path)
    user: Any = job.owner
    if not isinstance(backend, ModelBackend) or not backend.user_can_authenticate(user):
        return None
    # A hash made with a fallback secret is renewed (or the session ended) by the full check.
    hashed = hasattr(user, "get_session_auth_hash")
    if hashed and not constant_time_compare(session.get(HASH_SESSION_KEY) or "", user.get_session_auth_hash()):
        return None
    return Viewer(viewer.user_id, bool(getattr(user, "is_staff", False)))
