"""The generic incident webhook: POST the incident document to a URL.

The body is the document of ``aiops.sinks.document``; headers repeat its key and
version (``X-Aiops-Incident``, ``X-Aiops-Version``) and give an ``Idempotency-Key``
of both, so a receiver that saw a send whose answer we lost can tell the repeat.

With a signing secret every request is signed, as GitHub and Stripe sign theirs: a
bearer token proves who sent a request only if nobody read it on the way, and a
receiver behind a proxy that logs headers would keep it. ``X-Aiops-Timestamp`` is the
Unix time of the send and ``X-Aiops-Signature`` is ``sha256=`` and the hex HMAC-SHA256,
keyed with the secret, of the timestamp, a ``.`` and the body's bytes: a receiver
recomputes it over the bytes it got (before parsing them), compares in constant time,
and refuses a timestamp far from its clock, so a recorded request cannot be replayed
later (docs/sinks.md has the check in a few lines).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from aiops.sinks.deadline import Deadline, deadline_session, late
from aiops.sinks.http import RETRY, USER_AGENT, Outcome, outcome_of, unreachable


def webhook_name(url: str) -> str:
    """The outbox's name for a webhook: its URL without query or credentials, which
    may hold a secret that status pages would show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return "webhook " + urlunsplit((parts.scheme, host, parts.path, "", ""))


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Aiops-Signature`` value of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class WebhookTarget:
    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0,
                 signing_secret: bytes | None = None,
                 clock: Callable[[], float] = time.time):
        self.url = url
        self.name = webhook_name(url)
        query = urlsplit(url).query
        self._hidden = f"?{query}" if query else ""  # kept out of errors as out of names
        self.timeout = timeout
        self.signing_secret = signing_secret
        self.clock = clock
        self.session = deadline_session()
        self.session.headers["User-Agent"] = USER_AGENT
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def send(self, document: dict[str, Any], external_id: str | None) -> Outcome:
        key = f"{document['incident_id']}:{document['version']}"
        headers = {"Content-Type": "application/json", "Idempotency-Key": key,
                   "X-Aiops-Incident": document["incident_id"],
                   "X-Aiops-Version": str(document["version"])}
        body = json.dumps(document).encode("utf-8")
        if self.signing_secret:
            stamp = str(int(self.clock()))
            headers["X-Aiops-Timestamp"] = stamp
            headers["X-Aiops-Signature"] = signature(self.signing_secret, stamp, body)
        what = f"POST {self.name[len('webhook '):]}"
        started = time.monotonic()
        with Deadline(self.timeout) as deadline:
            try:
                # Streamed: an error answer's body is read only as far as it is kept.
                response = self.session.post(self.url, data=body, headers=headers,
                                             timeout=self.timeout, stream=True)
            except requests.RequestException as exc:
                if deadline.expired:
                    return Outcome(RETRY, late(what, deadline))
                return unreachable(what, exc, self._hidden)
            with response:
                left = max(0.0, self.timeout - (time.monotonic() - started))
                return outcome_of(response, what, left)
