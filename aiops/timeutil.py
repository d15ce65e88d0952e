"""Timestamps: everything inside the engine is float epoch seconds (UTC).

Sources send RFC 3339 strings or epoch numbers; converting once at the edge keeps
comparisons in the hot path to plain float arithmetic.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

# Alertmanager uses Go's zero time for "not set".
_GO_ZERO_PREFIX = "0001-01-01"


def parse_timestamp(value: object, field: str) -> float:
    """Parse an RFC 3339 string or epoch seconds; raise ValueError naming ``field``."""
    if isinstance(value, bool):
        raise ValueError(
            f"field '{field}' must be an RFC 3339 string or epoch seconds, got a boolean")
    if isinstance(value, (int, float)):
        ts = float(value)
        if not math.isfinite(ts) or ts < 0:
            raise ValueError(f"field '{field}' must be a non-negative finite number, got {value!r}")
        return ts
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"field '{field}' is not an RFC 3339 timestamp: {value!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    raise ValueError(
        f"field '{field}' must be an RFC 3339 string or epoch seconds, got {type(value).__name__}"
    )


def is_go_zero_time(value: object) -> bool:
    """True for Go's zero time, which Alertmanager sends for an unset ``endsAt``."""
    return isinstance(value, str) and value.startswith(_GO_ZERO_PREFIX)


def to_rfc3339(ts: float | None) -> str | None:
    """Format epoch seconds as RFC 3339 UTC with a ``Z`` suffix (None stays None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")
