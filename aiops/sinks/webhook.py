"""The generic incident webhook: POST the incident document to a URL.

The body is the document of ``aiops.sinks.document``; headers repeat its key and
version (``X-Aiops-Incident``, ``X-Aiops-Version``) and give an ``Idempotency-Key``
of both, so a receiver that saw a send whose answer we lost can tell the repeat.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from aiops.sinks.http import USER_AGENT, Outcome, outcome_of, unreachable


def webhook_name(url: str) -> str:
    """The outbox's name for a webhook: its URL without query or credentials, which
    may hold a secret that status pages would show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return "webhook " + urlunsplit((parts.scheme, host, parts.path, "", ""))


class WebhookTarget:
    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0):
        self.url = url
        self.name = webhook_name(url)
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def send(self, document: dict[str, Any], external_id: str | None) -> Outcome:
        key = f"{document['incident_id']}:{document['version']}"
        headers = {"Content-Type": "application/json", "Idempotency-Key": key,
                   "X-Aiops-Incident": document["incident_id"],
                   "X-Aiops-Version": str(document["version"])}
        what = f"POST {self.name[len('webhook '):]}"
        try:
            response = self.session.post(self.url, data=json.dumps(document),
                                         headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            return unreachable(what, exc)
        return outcome_of(response, what)
