"""A ServiceNow incident per aiops incident, through the Table API.

* first send: ``GET /api/now/table/incident?sysparm_query=correlation_id=ID`` (a
  create whose answer was lost must not make a second record; a record found
  resolved for an incident open again is set back to In Progress, one found closed
  or canceled gets a new record beside it), then ``POST
  /api/now/table/incident`` with ``short_description``, ``description``, ``urgency``
  and ``impact`` from the severity, ``correlation_id`` (our incident id),
  ``correlation_display`` and the fields of ``AIOPS_SINK_SERVICENOW_FIELDS_FILE``
  (what the instance's data policies require: caller, assignment group, category,
  configuration item); the ``sys_id`` of the answer's ``result`` is kept in the
  outbox row;
* later sends: ``PATCH /api/now/table/incident/{sys_id}`` with ``work_notes`` saying
  what changed (and the new urgency and impact when the severity changed);
* resolved (or merged into another incident): the same PATCH with ``state`` 6
  (Resolved), ``close_code`` and ``close_notes``; re-opened: ``state`` 2;
* an incident that ended before its first send: resolved, the record is created and
  resolved at once; merged, no record is made (the incident it went into has one).

ServiceNow is SaaS and cannot run here: the tests run these calls against a local
server that answers with the payloads ServiceNow's Table API documentation shows
(``{"result": {"sys_id": ..., "number": ...}}``, 201 for a create, 200 for an update).
"""

from __future__ import annotations

import json
from typing import Any

from aiops.sinks.deadline import deadline_session
from aiops.sinks.document import describe, work_note
from aiops.sinks.http import DELIVERED, FAILED, USER_AGENT, Outcome, call, create_call
from aiops.sinks.ticket_flow import Found, send_ticket

NAME = "servicenow"
CORRELATION_DISPLAY = "aiops"
# ServiceNow's urgency and impact: 1 high, 2 medium, 3 low (priority follows both).
LEVELS = {"critical": ("1", "1"), "major": ("1", "2"), "minor": ("2", "2"),
          "warning": ("3", "3"), "info": ("3", "3")}
STATE_RESOLVED = "6"
STATE_IN_PROGRESS = "2"
STATES_FINAL = ("7", "8")  # Closed, Canceled: not re-opened by the default workflow
SHORT_DESCRIPTION_CHARS = 160


# Set by the sink on create: a fields file naming one would be overridden unseen.
OWN_FIELDS = ("short_description", "description", "urgency", "impact", "correlation_id",
              "correlation_display")
FIELDS_SETTING = "AIOPS_SINK_SERVICENOW_FIELDS_FILE"


def read_create_fields(path: str) -> dict[str, str]:
    """The extra fields of a create from the JSON file ``path`` names: an object of
    field names to strings (``{"caller_id": "...", "assignment_group": "..."}``);
    ValueError naming the setting, the file and what is wrong with it."""
    where = f"{FIELDS_SETTING} {path}"
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{where} cannot be read: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    try:
        fields = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{where} is not JSON: {exc}") from None
    if not isinstance(fields, dict):
        raise ValueError(f"{where} must hold a JSON object of field names to strings, "
                         f"got {type(fields).__name__}: {text.strip()[:80]}")
    for name, value in fields.items():
        if not name.strip():
            raise ValueError(f"{where}: a field name is empty")
        if not isinstance(value, str):
            raise ValueError(f"{where}: field {name!r} must be a string (a sys_id or a "
                             f"value), got {type(value).__name__} {json.dumps(value)[:80]}")
        if name in OWN_FIELDS:
            raise ValueError(f"{where}: field {name!r} is set by aiops itself (one of "
                             f"{', '.join(OWN_FIELDS)}); remove it")
    return fields


class ServiceNowTarget:
    name = NAME
    kind = "record"

    def __init__(self, url: str, user: str, password: str, timeout: float = 10.0,
                 close_code: str = "Solution provided",
                 create_fields: dict[str, str] | None = None):
        self.base = url.rstrip("/")
        self.timeout = timeout
        self.close_code = close_code
        self.create_fields = dict(create_fields or {})  # the instance's required fields
        self.session = deadline_session()
        self.session.auth = (user, password)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json",
                                     "Content-Type": "application/json"})

    @property
    def table(self) -> str:
        return f"{self.base}/api/now/table/incident"

    def send(self, document: dict[str, Any], external_id: str | None) -> Outcome:
        return send_ticket(self, document, external_id)

    def find(self, document: dict[str, Any]) -> Found | None | Outcome:
        """The newest record correlated with the incident; one closed for good (Closed,
        Canceled: the default workflow does not re-open those) is not it when the
        incident is open again: a new record is made for the re-opening."""
        found = self._find(document["incident_id"])
        if found is None or isinstance(found, Outcome):
            return found
        sys_id, state = found
        if state in STATES_FINAL and document["status"] == "open":
            return None
        # Resolved there, open here: the incident re-opened after its outbox row was
        # pruned (docs/sinks.md, "Retention"); the record re-opens with it.
        return Found(sys_id, reopen=state == STATE_RESOLVED and document["status"] == "open")

    def _find(self, incident_id: str) -> tuple[str, str] | None | Outcome:
        """(sys_id, state) of the newest record correlated with ``incident_id``."""
        what = f"GET {self.table}"
        response, outcome = call(self.session, "GET", self.table, self.timeout, params={
            "sysparm_query": f"correlation_id={incident_id}^ORDERBYDESCsys_created_on",
            "sysparm_fields": "sys_id,state", "sysparm_limit": "1"})
        if response is None or outcome.kind != DELIVERED:
            return outcome
        try:
            result = response.json()["result"]
            return (str(result[0]["sys_id"]), str(result[0].get("state", ""))) \
                if result else None
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return Outcome(FAILED, f"{what}: the answer is not a Table API result: "
                                   f"{response.text[:200]}")

    def create(self, document: dict[str, Any]) -> Outcome:
        urgency, impact = LEVELS.get(document["severity"], ("3", "3"))
        body = {**self.create_fields,
                "short_description": f"[aiops] {document['title']}"[:SHORT_DESCRIPTION_CHARS],
                "description": describe(document), "urgency": urgency, "impact": impact,
                "correlation_id": document["incident_id"],
                "correlation_display": CORRELATION_DISPLAY}
        return create_call(self.session, self.table, self.timeout, body,
                           lambda answer: answer["result"]["sys_id"], "result.sys_id")

    def update(self, document: dict[str, Any], sys_id: str,
                reopen: bool = False) -> Outcome:
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
        elif reopen or "reopened" in document["changes"]:
            body["state"] = STATE_IN_PROGRESS
        _, outcome = call(self.session, "PATCH", f"{self.table}/{sys_id}", self.timeout,
                          data=json.dumps(body))
        # The sys_id is kept whatever the PATCH did: a retry must not create again.
        return Outcome(outcome.kind, outcome.detail, outcome.retry_after, sys_id)
