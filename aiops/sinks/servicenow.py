"""A ServiceNow incident per aiops incident, through the Table API.

* first send: ``GET /api/now/table/incident?sysparm_query=correlation_id=ID`` (a
  create whose answer was lost must not make a second record), then ``POST
  /api/now/table/incident`` with ``short_description``, ``description``, ``urgency``
  and ``impact`` from the severity, ``correlation_id`` (our incident id) and
  ``correlation_display``; the ``sys_id`` of the answer's ``result`` is kept in the
  outbox row;
* later sends: ``PATCH /api/now/table/incident/{sys_id}`` with ``work_notes`` saying
  what changed (and the new urgency and impact when the severity changed);
* resolved (or merged into another incident): the same PATCH with ``state`` 6
  (Resolved), ``close_code`` and ``close_notes``; re-opened: ``state`` 2.

ServiceNow is SaaS and cannot run here: the tests run these calls against a local
server that answers with the payloads ServiceNow's Table API documentation shows
(``{"result": {"sys_id": ..., "number": ...}}``, 201 for a create, 200 for an update).
"""

from __future__ import annotations

import json
from typing import Any

import requests

from aiops.sinks.document import describe, work_note
from aiops.sinks.http import DELIVERED, FAILED, USER_AGENT, Outcome, call

NAME = "servicenow"
CORRELATION_DISPLAY = "aiops"
# ServiceNow's urgency and impact: 1 high, 2 medium, 3 low (priority follows both).
LEVELS = {"critical": ("1", "1"), "major": ("1", "2"), "minor": ("2", "2"),
          "warning": ("3", "3"), "info": ("3", "3")}
STATE_RESOLVED = "6"
STATE_IN_PROGRESS = "2"
SHORT_DESCRIPTION_CHARS = 160


class ServiceNowTarget:
    name = NAME

    def __init__(self, url: str, user: str, password: str, timeout: float = 10.0,
                 close_code: str = "Solution provided"):
        self.base = url.rstrip("/")
        self.timeout = timeout
        self.close_code = close_code
        self.session = requests.Session()
        self.session.auth = (user, password)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json",
                                     "Content-Type": "application/json"})

    @property
    def table(self) -> str:
        return f"{self.base}/api/now/table/incident"

    def send(self, document: dict[str, Any], external_id: str | None) -> Outcome:
        sys_id = external_id
        if sys_id is None:
            found = self._find(document["incident_id"])
            if isinstance(found, Outcome):
                return found
            sys_id = found
            if sys_id is None:
                created = self._create(document)
                if created.kind != DELIVERED or document["event"] == "opened" and \
                        document["status"] == "open":
                    return created
                sys_id = created.external_id
                return self._update(document, sys_id, created=True)
        return self._update(document, sys_id)

    def _find(self, incident_id: str) -> str | None | Outcome:
        what = f"GET {self.table}"
        response, outcome = call(self.session, "GET", self.table, self.timeout, params={
            "sysparm_query": f"correlation_id={incident_id}",
            "sysparm_fields": "sys_id", "sysparm_limit": "1"})
        if response is None or outcome.kind != DELIVERED:
            return outcome
        try:
            result = response.json()["result"]
            return result[0]["sys_id"] if result else None
        except (ValueError, KeyError, IndexError, TypeError):
            return Outcome(FAILED, f"{what}: the answer is not a Table API result: "
                                   f"{response.text[:200]}")

    def _create(self, document: dict[str, Any]) -> Outcome:
        urgency, impact = LEVELS.get(document["severity"], ("3", "3"))
        body = {"short_description": f"[aiops] {document['title']}"[:SHORT_DESCRIPTION_CHARS],
                "description": describe(document), "urgency": urgency, "impact": impact,
                "correlation_id": document["incident_id"],
                "correlation_display": CORRELATION_DISPLAY}
        what = f"POST {self.table}"
        response, outcome = call(self.session, "POST", self.table, self.timeout,
                                 data=json.dumps(body))
        if response is None or outcome.kind != DELIVERED:
            return outcome
        try:
            sys_id = response.json()["result"]["sys_id"]
        except (ValueError, KeyError, TypeError):
            return Outcome(FAILED, f"{what}: HTTP {response.status_code} without "
                                   f"result.sys_id: {response.text[:200]}")
        return Outcome(DELIVERED, f"{what}: created {sys_id}", external_id=str(sys_id))

    def _update(self, document: dict[str, Any], sys_id: str | None,
                created: bool = False) -> Outcome:
        body: dict[str, Any] = {"work_notes": work_note(document)}
        if "severity_changed" in document["changes"]:
            body["urgency"], body["impact"] = LEVELS.get(document["severity"], ("3", "3"))
        if document["status"] in ("resolved", "merged"):
            merged = document["merged_into"]
            body.update({"state": STATE_RESOLVED,
                         "close_code": "Duplicate" if merged else self.close_code,
                         "close_notes": (f"aiops merged {document['incident_id']} into "
                                         f"{merged}" if merged else
                                         f"aiops: every alert of {document['incident_id']} "
                                         f"cleared; resolved at {document['resolved_at']}")})
        elif "reopened" in document["changes"]:
            body["state"] = STATE_IN_PROGRESS
        _, outcome = call(self.session, "PATCH", f"{self.table}/{sys_id}", self.timeout,
                          data=json.dumps(body))
        # The sys_id is kept whatever the PATCH did: a retry must not create again.
        return Outcome(outcome.kind, outcome.detail, outcome.retry_after, sys_id)
