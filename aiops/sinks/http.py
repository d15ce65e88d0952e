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
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Protocol

import requests

from aiops.sinks.deadline import Deadline, late

DELIVERED = "delivered"
RETRY = "retry"
FAILED = "failed"
MAX_RETRY_AFTER = 3600.0
ANSWER_KEPT = 500  # characters of a receiver's answer recorded with a failure
ANSWER_READ = 64 * 1024  # bytes of an answer read at most (it may be gigabytes)
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
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date), between 0
    and ``MAX_RETRY_AFTER``; None when it says none (``nan`` parses as a float, and
    a NaN wait stored as the next attempt made the row never due again)."""
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
        if when.tzinfo is None:  # "-0000": UTC with no zone said (RFC 5322 3.3)
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def answer_text(response: requests.Response, limit: int = ANSWER_READ,
                timeout: float | None = None) -> str:
    """At most ``limit`` bytes of an answer's body, read for at most ``timeout``
    seconds, as text. A receiver answering a huge body (sent streamed,
    ``stream=True``) is not read whole for the few characters kept of it; one
    dribbling it a byte at a time, each in time for the per-read timeout, does not
    hold the delivery thread (and every other receiver) for as long as it likes."""
    if response.raw is None or getattr(response, "_content_consumed", False):
        return response.text[:limit]
    deadline = None if timeout is None else time.monotonic() + timeout
    body = b""
    try:
        while len(body) < limit and (deadline is None or time.monotonic() < deadline):
            chunk = response.raw.read1(min(8192, limit - len(body)), decode_content=True)
            if not chunk:
                break
            body += chunk
    except Exception:  # a reset, a bad encoding: what was read is kept
        pass
    finally:
        response.close()
    return body[:limit].decode(response.encoding or "utf-8", errors="replace")


def outcome_of(response: requests.Response, what: str,
               timeout: float | None = None) -> Outcome:
    """The outcome of an answer that is not known to be a success; ``timeout``: how
    long its body may take to read (a streamed answer)."""
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(DELIVERED, f"{what}: HTTP {code}")
    detail = f"{what}: HTTP {code} {response.reason or ''}".rstrip() + \
        f": {answer_text(response, timeout=timeout)[:ANSWER_KEPT]}"
    if code in (408, 429) or code >= 500:
        return Outcome(RETRY, detail, retry_after(response.headers.get("Retry-After")))
    return Outcome(FAILED, detail)


def unreachable(what: str, exc: requests.RequestException, hide: str = "") -> Outcome:
    """A receiver not reached: try again. ``hide``: text of the URL the error must not
    repeat (requests names the URL, query and all, in its connection errors; a query
    may hold a token, and the error is logged and served by ``/api/v1/sinks``)."""
    detail = f"{type(exc).__name__}: {exc}"
    if hide:
        detail = detail.replace(hide, "?[hidden]")
    return Outcome(RETRY, f"{what}: {detail}"[:ANSWER_KEPT])


def call(session: requests.Session, method: str, url: str, timeout: float,
         **kwargs: Any) -> tuple[requests.Response | None, Outcome]:
    """One request of a ticket system's sink: its answer and what the answer means (no
    answer, and a retry, when the receiver was not reached or took longer than
    ``timeout`` for the whole exchange; ``session`` from ``deadline_session``)."""
    what = f"{method} {url}"
    with Deadline(timeout) as deadline:
        try:
            response = session.request(method, url, timeout=timeout, **kwargs)
        except requests.RequestException as exc:
            if deadline.expired:
                return None, Outcome(RETRY, late(what, deadline))
            return None, unreachable(what, exc)
    return response, outcome_of(response, what)


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


def create_call(session: requests.Session, url: str, timeout: float, body: dict[str, Any],
                pick: Callable[[Any], Any], field: str) -> Outcome:
    """POST ``body`` to create the receiver's record of an incident: DELIVERED with its
    id (``pick`` reads it from the JSON answer, ``field`` names it in the error), or
    FAILED when a 2xx answer lacks it (sending again would make a second record)."""
    what = f"POST {url}"
    response, outcome = call(session, "POST", url, timeout, data=json.dumps(body))
    if response is None or outcome.kind != DELIVERED:
        return outcome
    try:
        created = pick(response.json())
    except (ValueError, KeyError, IndexError, TypeError):
        return Outcome(FAILED, f"{what}: HTTP {response.status_code} without {field}: "
                               f"{response.text[:200]}")
    return Outcome(DELIVERED, f"{what}: created {created}", external_id=str(created))
