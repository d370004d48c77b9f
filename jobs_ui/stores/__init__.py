"""Result stores, where return values are kept: the configured one, built on first use."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

from jobs_ui.conf import get_config
from jobs_ui.exceptions import InvalidBackend

if TYPE_CHECKING:
    from jobs_ui.stores.base import BaseResultStore


@cache
def get_result_store() -> BaseResultStore:
    """The configured result store, built on first use."""
    spec = get_config()["RESULT_STORE"]
    try:
        store_class = import_string(spec["BACKEND"])
    except ImportError as e:
        raise InvalidBackend(f"Could not import result store {spec['BACKEND']!r}: {e}") from e
    store: BaseResultStore = store_class(spec.get("OPTIONS", {}))
    return store
