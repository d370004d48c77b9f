"""A job's URLs (its page, poll and actions), as ``reverse()`` gives them."""

from __future__ import annotations

import functools
import uuid

from django.urls import get_script_prefix, get_urlconf, reverse

_MARK = str(uuid.UUID(int=0))


def job_url(name: str, job_id: uuid.UUID) -> str:
    """``reverse(f"jobs_ui:{name}", args=[job_id])``."""
    # Optimization: a panel links to three or four of these, and it is rendered on every
    # poll that finds a change; reverse() cost about as much as the rest of the links'
    # markup. So each URL is reversed once per name, script prefix and URLconf, with a
    # marker where the id goes.
    return _url_with_mark(name, get_script_prefix(), get_urlconf()).replace(_MARK, str(job_id))


@functools.lru_cache(maxsize=64)
def _url_with_mark(name: str, script_prefix: str, urlconf: str | None) -> str:
    return reverse(f"jobs_ui:{name}", urlconf=urlconf, args=[_MARK])


def reset() -> None:
    """Forget the reversed URLs (the URLconf changed)."""
    _url_with_mark.cache_clear()
