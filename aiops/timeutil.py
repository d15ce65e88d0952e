"""Timestamps: everything inside the engine is float epoch seconds (UTC).

Sources send RFC 3339 strings or epoch numbers; converting once at the edge keeps
comparisons in the hot path to plain float arithmetic.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from aiops.errors import InputError

# Alertmanager uses Go's zero time for "not set".
_GO_ZERO_PREFIX = "0001-01-01"
# The instants ``to_rfc3339`` can write: years 1 to 9999 in UTC (to the whole second
# at the end: a float a hair below year 10000 rounds up into it).
_EARLIEST = datetime.min.replace(tzinfo=UTC).timestamp()
_LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()


# Texts that ``to_rfc3339`` writes for their own instant: UTC, 'Z', six digits of
# microseconds unless there are none. ASCII digits only ('\d' takes any script's).
_CANONICAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{6})?Z")
# Up to this instant (2106) a float's spacing is under half a microsecond, so the text
# ``to_rfc3339`` writes for a parsed canonical text is that text (``_remember``).
_EXACT_UNTIL = float(2 ** 32)
_MEMO_SIZE = 1 << 16  # about 10 MB when full; a replay of 30,000 alerts fits
_formatted: dict[float, str] = {}  # instant -> its text, filled by parse_timestamp
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _remember(ts: float, text: str) -> None:
    """Keep ``text`` as the RFC 3339 form of ``ts`` when it is what ``to_rfc3339`` would
    write, so formatting it again (a raw event's payload, the replay's output) is a
    dictionary look-up: formatting was a twentieth of a replay.

    Why it is exact: ``datetime.timestamp`` rounds the text's whole microseconds to the
    nearest float, off by at most half a float's spacing (under 0.25 µs up to 2106), and
    ``datetime.fromtimestamp`` rounds the fraction back to the nearest microsecond, so it
    finds the text's date, time and microseconds again; ``isoformat`` writes them with
    six digits unless they are zero, as ``_CANONICAL`` (and the '.000000' test) demand.
    """
    if 0.0 <= ts < _EXACT_UNTIL and _CANONICAL.fullmatch(text) and not text.endswith(
            ".000000Z"):
        if len(_formatted) >= _MEMO_SIZE:
            _formatted.clear()  # bounded; refilled as stamps are parsed
        _formatted[ts] = text


def _in_range(ts: float, field: str, value: object) -> float:
    """``ts`` if every time format can show it; a stamp past year 9999 in UTC (epoch
    1e12, or ``9999-12-31T23:00:00-05:00``) or before year 1 would be taken in and
    then fail where it is written back as RFC 3339 (the raw event, the API, replay)."""
    if not _EARLIEST <= ts <= _LATEST:
        raise ValueError(f"field '{field}' must be from 0001-01-01T00:00:00Z to "
                         f"9999-12-31T23:59:59Z, got {value!r}")
    return ts


def parse_timestamp(value: object, field: str) -> float:
    """Parse an RFC 3339 string or epoch seconds; raise ValueError naming ``field``."""
    if isinstance(value, bool):
        raise ValueError(
            f"field '{field}' must be an RFC 3339 string or epoch seconds, got a boolean")
    if isinstance(value, (int, float)):
        ts = float(value)
        if not math.isfinite(ts) or ts < 0:
            raise ValueError(f"field '{field}' must be a non-negative finite number, got {value!r}")
        return _in_range(ts, field, value)
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"field '{field}' is not an RFC 3339 timestamp: {value!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        ts = _in_range(parsed.timestamp(), field, value)
        _remember(ts, text)
        return ts
    raise ValueError(
        f"field '{field}' must be an RFC 3339 string or epoch seconds, got {type(value).__name__}"
    )


def epoch_or_text(text: str) -> float | str:
    """A timestamp written as text (a query parameter, a CSV cell), typed for
    ``parse_timestamp``: epoch seconds when it reads as a number, else the text (RFC
    3339): neither a URL nor a CSV file says which it is."""
    try:
        return float(text)
    except ValueError:
        return text


def is_go_zero_time(value: object) -> bool:
    """True for Go's zero time, which Alertmanager sends for an unset ``endsAt``."""
    return isinstance(value, str) and value.startswith(_GO_ZERO_PREFIX)


def to_rfc3339(ts: float | None) -> str | None:
    """Format epoch seconds as RFC 3339 UTC with a ``Z`` suffix (None stays None)."""
    if ts is None:
        return None
    known = _formatted.get(ts)
    if known is not None:
        return known
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


def parse_duration(text: str | float, name: str = "window") -> float:
    """``24h``, ``90m``, ``7d`` or seconds; an error naming ``name`` otherwise. Here
    rather than in the drift module so a light command (``aiops tokens new
    --expires 90d``) need not import the learning code."""
    match = _DURATION.match(str(text))
    seconds = float(match[1]) * _UNIT[match[2]] if match else 0.0
    if seconds <= 0 or not math.isfinite(seconds):
        raise InputError(f"'{name}' must be a duration such as 24h, 90m, 7d or seconds, "
                         f"got {text!r}", field=name)
    return seconds
