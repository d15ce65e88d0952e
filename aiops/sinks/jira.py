"""A Jira (Service Management, or any Jira project) issue per aiops incident, through
Jira's REST API.

Why Jira beside ServiceNow and RT: many operations teams keep their incidents in Jira
Service Management, and the engine already pulls resolved Jira issues to learn
remediations (connectors/jira.py); pushing its incidents there closes the loop.

* first send: look for an issue labelled ``aiops-ID`` in the project (a create whose
  answer was lost must not make a second issue; a label is an exact match in JQL,
  unlike a summary search), through the search the site has: Cloud's ``GET
  /rest/api/3/search/jql`` (``AIOPS_SINK_JIRA_API_VERSION=3``, the default; Atlassian
  removed the older search from Cloud in 2025) or Data Center's ``GET
  /rest/api/2/search``; then ``POST /rest/api/2/issue`` with the project, issue type,
  ``summary``, ``description`` (root causes with evidence, remediations, the link),
  ``labels`` ``["aiops", "aiops-ID"]`` and, when configured, a priority name per
  severity; the answer's ``key`` is kept in the outbox row. Version 2 of the issue
  resources takes plain text on Cloud and Data Center alike (version 3 only takes
  Atlassian Document Format);
* later sends: ``POST /rest/api/2/issue/{key}/comment`` saying what changed;
* resolved (or merged into another incident): the comment, then the issue's
  transition to a status of the category ``done`` (``GET`` then ``POST
  /rest/api/2/issue/{key}/transitions``; a transition named by
  ``AIOPS_SINK_JIRA_RESOLVE_TRANSITION`` first), with the resolution
  ``AIOPS_SINK_JIRA_RESOLUTION`` when one is set (some workflows' screens require it);
  re-opened: a transition out of ``done`` (``AIOPS_SINK_JIRA_REOPEN_TRANSITION`` first).
  An issue already in the wanted state is left as it is.

Jira Cloud is SaaS and Jira Data Center cannot be installed here: the tests run these
calls against a local server answering with the payloads Atlassian's REST API
documentation shows (tests/sinks/jira_standin.py).
"""

from __future__ import annotations

import json
from typing import Any

from aiops.sinks.deadline import deadline_session
from aiops.sinks.document import describe, work_note
from aiops.sinks.http import DELIVERED, FAILED, USER_AGENT, Outcome, call, create_call
from aiops.sinks.ticket_flow import Found, send_ticket

NAME = "jira"
SUMMARY_CHARS = 240  # Jira's summary holds 255 characters
LABEL = "aiops"
# Search resources per REST API version: Cloud's enhanced search, Data Center's search.
SEARCH_PATHS = {"3": "/rest/api/3/search/jql", "2": "/rest/api/2/search"}


def incident_label(incident_id: str) -> str:
    """The label that finds the issue again: labels hold no spaces, ids have none."""
    return f"aiops-{incident_id}"


class JiraTarget:
    name = NAME
    kind = "issue"

    def __init__(self, url: str, project: str, *, token: str, user: str = "",
                 issue_type: str = "Task", api_version: str = "3",
                 priorities: dict[str, str] | None = None, resolve_transition: str = "",
                 reopen_transition: str = "", resolution: str = "",
                 timeout: float = 10.0):
        self.base = url.rstrip("/")
        self.project = project
        self.issue_type = issue_type
        self.search_path = SEARCH_PATHS[api_version]
        self.priorities = priorities or {}
        self.resolve_transition = resolve_transition
        self.reopen_transition = reopen_transition
        self.resolution = resolution
        self.timeout = timeout
        self.session = deadline_session()  # AIOPS_SINK_TIMEOUT bounds a whole exchange
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json",
                                     "Content-Type": "application/json"})
        if user:  # Cloud: the account's e-mail and an API token
            self.session.auth = (user, token)
        else:  # Data Center: a personal access token
            self.session.headers["Authorization"] = f"Bearer {token}"

    def send(self, document: dict[str, Any], external_id: str | None) -> Outcome:
        return send_ticket(self, document, external_id)

    def find(self, document: dict[str, Any]) -> Found | None | Outcome:
        found = self._find(document["incident_id"])
        if found is None or isinstance(found, Outcome):
            return found
        # Found by its label: a create whose answer was lost, or an incident that
        # re-opened after its outbox row was pruned (docs/sinks.md, "Retention"), whose
        # issue may be done there and must leave done with it (the transition looks).
        return Found(found, reopen=document["status"] == "open")

    def _find(self, incident_id: str) -> str | None | Outcome:
        url = f"{self.base}{self.search_path}"
        jql = (f'project = "{_quoted(self.project)}" AND '
               f'labels = "{incident_label(incident_id)}" ORDER BY created ASC')
        response, outcome = call(self.session, "GET", url, self.timeout, params={
            "jql": jql, "fields": "labels", "maxResults": "5"})
        if response is None or outcome.kind != DELIVERED:
            return outcome
        try:
            issues = response.json()["issues"]
            return str(issues[0]["key"]) if issues else None
        except (ValueError, KeyError, IndexError, TypeError):
            return Outcome(FAILED, f"GET {url}: the answer is not a Jira search result: "
                                   f"{response.text[:200]}")

    def create(self, document: dict[str, Any]) -> Outcome:
        url = f"{self.base}/rest/api/2/issue"
        fields: dict[str, Any] = {
            "project": {"key": self.project}, "issuetype": {"name": self.issue_type},
            "summary": f"[aiops] {document['title']}"[:SUMMARY_CHARS],
            "description": describe(document),
            "labels": [LABEL, incident_label(document["incident_id"])]}
        priority = self.priorities.get(document["severity"])
        if priority:
            fields["priority"] = {"name": priority}
        return create_call(self.session, url, self.timeout, {"fields": fields},
                           lambda answer: answer["key"], "the issue's key")

    def update(self, document: dict[str, Any], key: str, reopen: bool = False) -> Outcome:
        text = work_note(document)
        if document["status"] == "merged" and document["merged_into"]:
            text += f" Merged into {document['merged_into']}."
        _, outcome = call(self.session, "POST", f"{self.base}/rest/api/2/issue/{key}/comment",
                          self.timeout, data=json.dumps({"body": text}))
        if outcome.kind == DELIVERED:
            if document["status"] in ("resolved", "merged"):
                outcome = self._transition(key, done=True)
            elif reopen or "reopened" in document["changes"]:
                outcome = self._transition(key, done=False)
        # The issue's key is kept whatever happened: a retry must not create again.
        return Outcome(outcome.kind, outcome.detail, outcome.retry_after, key)

    def _transition(self, key: str, *, done: bool) -> Outcome:
        """Move the issue into (``done``) or out of a status of the category done,
        unless it is there already (an operator resolved it by hand, or a retry after
        the transition's answer was lost)."""
        issue_url = f"{self.base}/rest/api/2/issue/{key}"
        response, outcome = call(self.session, "GET", issue_url, self.timeout,
                                 params={"fields": "status"})
        if response is None or outcome.kind != DELIVERED:
            return outcome
        try:
            status = response.json()["fields"]["status"]
            current = str(status["statusCategory"]["key"])
        except (ValueError, KeyError, TypeError):
            return Outcome(FAILED, f"GET {issue_url}: the answer has no fields.status."
                                   f"statusCategory: {response.text[:200]}")
        if (current == "done") == done:
            return Outcome(DELIVERED, f"GET {issue_url}: already {status.get('name')}; "
                                      "left as it is")
        url = f"{issue_url}/transitions"
        response, outcome = call(self.session, "GET", url, self.timeout)
        if response is None or outcome.kind != DELIVERED:
            return outcome
        try:
            available = list(response.json()["transitions"])
            chosen = _choose(available, done,
                             self.resolve_transition if done else self.reopen_transition)
        except (ValueError, KeyError, TypeError, AttributeError):
            return Outcome(FAILED, f"GET {url}: the answer is not a list of transitions: "
                                   f"{response.text[:200]}")
        if chosen is None:
            names = ", ".join(str(t.get("name")) for t in available) or "none"
            # The workflow offers this user no way there: sending again cannot help, and
            # the operator sees which transitions there were.
            return Outcome(FAILED, f"GET {url}: no transition {'into' if done else 'out of'}"
                                   f" a done status offered (offered: {names}); name one "
                                   f"with AIOPS_SINK_JIRA_{'RESOLVE' if done else 'REOPEN'}"
                                   "_TRANSITION")
        body: dict[str, Any] = {"transition": {"id": str(chosen["id"])}}
        if done and self.resolution:
            body["fields"] = {"resolution": {"name": self.resolution}}
        return call(self.session, "POST", url, self.timeout, data=json.dumps(body))[1]


def _category(transition: dict[str, Any]) -> str:
    target = transition.get("to") or {}
    return str((target.get("statusCategory") or {}).get("key", ""))


def _choose(transitions: list[dict[str, Any]], done: bool,
            named: str) -> dict[str, Any] | None:
    """The transition named ``named`` (case-insensitively) if offered, else the first
    into (``done``) or out of the status category done."""
    if named:
        for transition in transitions:
            if str(transition.get("name", "")).casefold() == named.casefold():
                return transition
    for transition in transitions:
        if (_category(transition) == "done") == done:
            return transition
    return None


def _quoted(text: str) -> str:
    """A value inside JQL's double quotes."""
    return text.replace("\\", "\\\\").replace('"', '\\"')
