"""What every outbound receiver shares: one HTTP answer read as delivered, try again
later, or failed for good.

Any 2xx is delivered. A receiver that is down (no connection, a timeout), busy (429,
408) or broken for now (5xx) is tried again later, after its ``Retry-After`` when it
gives one. Any other 4xx says the request itself is wrong (bad credentials, a field
the receiver refuses); sending it again cannot help, so it is recorded as failed
with the receiver's answer, for an operator to see (``aiops sinks status``).
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any, Protocol

import requests

DELIVERED = "delivered"
RETRY = "retry"
FAILED = "failed"
MAX_RETRY_AFTER = 3600.0
ANSWER_KEPT = 500  # characters of a receiver's answer recorded with a failure
USER_AGENT = "aiops-engine incident sink"


@dataclass(frozen=True)
class Outcome:
    kind: str  # DELIVERED, RETRY or FAILED
    detail: str = ""
    retry_after: float | None = None  # seconds the receiver asked us to wait
    external_id: str | None = None  # the receiver's id of the incident, when known


class Target(Protocol):
    """One receiver: ``send`` delivers an incident document and says how it went."""

    name: str

    def send(self, document: dict[str, Any], external_id: str | None) -> Outcome: ...


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def outcome_of(response: requests.Response, what: str) -> Outcome:
    """The outcome of an answer that is not known to be a success."""
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(DELIVERED, f"{what}: HTTP {code}")
    detail = f"{what}: HTTP {code} {response.reason or ''}".rstrip() + \
        f": {response.text[:ANSWER_KEPT]}"
    if code in (408, 429) or code >= 500:
        return Outcome(RETRY, detail, retry_after(response.headers.get("Retry-After")))
    return Outcome(FAILED, detail)


def unreachable(what: str, exc: requests.RequestException) -> Outcome:
    return Outcome(RETRY, f"{what}: {type(exc).__name__}: {exc}"[:ANSWER_KEPT])


def read_secret_file(path: str, setting: str) -> str:
    """A secret from the file a setting names; ValueError naming the setting."""
    try:
        with open(path, encoding="utf-8") as handle:
            secret = handle.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{setting} {path} cannot be read: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    if not secret:
        raise ValueError(f"{setting} {path} is empty")
    return secret
