"""A Request Tracker ticket per aiops incident, through RT 5's REST2 API.

Why RT beside ServiceNow: network operators (ISPs, universities, NOCs) run RT as their
ticket system, and the engine already pulls RT's resolved tickets to learn
remediations (connectors/rt.py); pushing its incidents there closes the loop.

* first send: look for a ticket whose subject carries the tag ``[aiops ID]`` (``GET
  /REST/2.0/tickets?query=...``: a create whose answer was lost must not make a second
  ticket; RT has no correlation field without a custom one a site would have to add),
  then ``POST /REST/2.0/ticket`` with ``Queue``, ``Subject`` (the tag and the
  incident's title), ``Content`` (root causes with evidence, remediations, the link)
  and ``Priority`` from the severity; the answer's ``id`` is kept in the outbox row;
* later sends: ``POST /REST/2.0/ticket/{id}/comment`` saying what changed;
* resolved (or merged into another incident): the comment, then ``PUT
  /REST/2.0/ticket/{id}`` with ``Status: resolved``; re-opened: ``Status: open``
  (also when the first send of a row finds the ticket resolved while the incident is
  open: it re-opened after its outbox row was pruned);
* an incident that ended before its first send: resolved, the ticket is created,
  commented and resolved at once; merged, no ticket is made.

Tested against a real RT 5 (Debian's ``request-tracker5``, tests/sinks/test_rt_sink.py).
"""

from __future__ import annotations

import json
from typing import Any

from aiops.sinks.deadline import deadline_session
from aiops.sinks.document import describe, work_note
from aiops.sinks.http import DELIVERED, FAILED, USER_AGENT, Outcome, call, create_call
from aiops.sinks.ticket_flow import Found, send_ticket

NAME = "rt"
# RT's priority is a number, 0..99 by default; higher is more urgent.
PRIORITY = {"critical": 90, "major": 70, "minor": 50, "warning": 30, "info": 10}
SUBJECT_CHARS = 200
INACTIVE = ("resolved", "rejected")  # RT's default lifecycle: statuses a ticket ends in


def tag(incident_id: str) -> str:
    """The subject's tag: ``[aiops inc-1]`` is no substring of ``[aiops inc-17]``."""
    return f"[aiops {incident_id}]"


class RequestTrackerTarget:
    name = NAME
    kind = "ticket"

    def __init__(self, url: str, queue: str = "General", *, user: str | None = None,
                 password: str | None = None, token: str | None = None,
                 timeout: float = 10.0):
        self.base = url.rstrip("/") + "/REST/2.0"
        self.queue = queue
        self.timeout = timeout
        self.session = deadline_session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json",
                                     "Content-Type": "application/json"})
        if token:  # RT::Authen::Token, RT 5's own
            self.session.headers["Authorization"] = f"token {token}"
        else:
            self.session.auth = (user or "", password or "")

    def send(self, document: dict[str, Any], external_id: str | None) -> Outcome:
        return send_ticket(self, document, external_id)

    def find(self, document: dict[str, Any]) -> Found | None | Outcome:
        found = self._find(document["incident_id"])
        if found is None or isinstance(found, Outcome):
            return found
        ticket, status = found
        # Resolved there, open here: the incident re-opened after its outbox row was
        # pruned (docs/sinks.md, "Retention"); the ticket re-opens with it.
        return Found(ticket, reopen=status in INACTIVE and document["status"] == "open")

    def _find(self, incident_id: str) -> tuple[str, str] | None | Outcome:
        """(id, status) of the ticket whose subject carries the incident's tag."""
        url = f"{self.base}/tickets"
        what = f"GET {url}"
        query = (f"Queue = '{_quoted(self.queue)}' AND "
                 f"Subject LIKE '{_quoted(tag(incident_id))}'")
        response, outcome = call(self.session, "GET", url, self.timeout, params={
            "query": query, "fields": "Subject,Status", "per_page": "20",
            "orderby": "id", "order": "DESC"})
        if response is None or outcome.kind != DELIVERED:
            return outcome
        try:
            items = response.json()["items"]
            for item in items:  # LIKE is a substring match: check the tag is the start
                if str(item.get("Subject", "")).startswith(tag(incident_id)):
                    return str(item["id"]), str(item.get("Status", ""))
            return None
        except (ValueError, KeyError, TypeError, AttributeError):
            return Outcome(FAILED, f"{what}: the answer is not an RT ticket collection: "
                                   f"{response.text[:200]}")

    def create(self, document: dict[str, Any]) -> Outcome:
        url = f"{self.base}/ticket"
        body = {"Queue": self.queue,
                "Subject": f"{tag(document['incident_id'])} {document['title']}"[
                    :SUBJECT_CHARS],
                "Content": describe(document), "ContentType": "text/plain",
                "Priority": PRIORITY.get(document["severity"], 10)}
        return create_call(self.session, url, self.timeout, body,
                           lambda answer: answer["id"], "the ticket's id")

    def update(self, document: dict[str, Any], ticket: str,
                reopen: bool = False) -> Outcome:
        outcome = self._comment(document, ticket)
        if outcome.kind == DELIVERED:
            status = None
            if document["status"] in ("resolved", "merged"):
                status = "resolved"
            elif reopen or "reopened" in document["changes"]:
                status = "open"
            if status is not None:
                outcome = self._set_status(ticket, status)
        # The ticket's id is kept whatever happened: a retry must not create again.
        return Outcome(outcome.kind, outcome.detail, outcome.retry_after, ticket)

    def _comment(self, document: dict[str, Any], ticket: str) -> Outcome:
        url = f"{self.base}/ticket/{ticket}/comment"
        text = work_note(document)
        if document["status"] == "merged" and document["merged_into"]:
            text += f" Merged into {document['merged_into']}."
        return call(self.session, "POST", url, self.timeout,
                    data=json.dumps({"Content": text, "ContentType": "text/plain"}))[1]

    def _set_status(self, ticket: str, status: str) -> Outcome:
        url = f"{self.base}/ticket/{ticket}"
        return call(self.session, "PUT", url, self.timeout,
                    data=json.dumps({"Status": status}))[1]


def _quoted(text: str) -> str:
    """A value inside TicketSQL's single quotes."""
    return text.replace("\\", "\\\\").replace("'", "\\'")
