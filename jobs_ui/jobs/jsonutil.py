"""JSON encoding with a size limit, for job arguments, results and progress extras."""

from __future__ import annotations

import json
from typing import Any


def encode_limited(value: Any, *, limit: int, what: str, error: type[Exception]) -> str:
    """``value`` as compact JSON text, or ``error`` when it is not JSON or over ``limit`` bytes."""
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise error(f"{what} must be JSON: {e}") from e
    size = len(text.encode())
    if size > limit:
        raise error(f"{what} too large: {size} bytes, over the limit of {limit} bytes.")
    return text
