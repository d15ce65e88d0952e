"""The JSON document a receiver gets for an incident change (docs/sinks.md).

Built when the delivery loop sends, from the incident as stored then: a receiver
always gets the latest state, however many changes were queued while it waited.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from typing import Any

import sqlalchemy as sa

from aiops.playbooks.runs import asked_after, waiting_runs
from aiops.sinks.outbox import WAITING, changes, fingerprint
from aiops.store import queries
from aiops.timeutil import to_rfc3339

SCHEMA = "aiops.incident.v1"
ROOT_CAUSES_SENT = 3
REMEDIATIONS_SENT = 3
# Key of a delivered fingerprint: the incident's newest run id when it was sent.
RUNS_SEEN = "playbook_runs_seen"
RUN_CHANGES = ("playbook_run_waiting", "playbook_run_decided")

# (conn, incident dict with alerts) -> ranked remediations; None: no trained model
Remediations = Callable[[sa.Connection, dict[str, Any]], list[dict[str, Any]]]


def stored_fingerprint(incident: dict[str, Any]) -> dict[str, Any]:
    """The fingerprint (``aiops.sinks.outbox``) of a stored incident, or of a document:
    with the runs waiting for approval when it lists them."""
    return fingerprint(incident["status"], incident["severity"], incident["alert_count"],
                       [rc["entity"] for rc in incident["root_causes"]],
                       incident["merged_into"],
                       [run["run_id"] for run in incident.get(WAITING, ())])


def waiting_for_approval(conn: sa.Connection, incident_id: str, base: str,
                         now: float) -> list[dict[str, Any]]:
    """The incident's playbook runs waiting for an operator's yes, as a receiver gets
    them: what waits, since when, until when, and where to say yes or no (the API; the
    incident view, ``url``, has the buttons). Why they are sent at all: a run nobody
    decides on is rejected at its deadline, and the view pages nobody."""
    return [{"run_id": run["id"], "playbook": run["playbook"],
             "requested_by": run["requested_by"],
             "requested_at": to_rfc3339(run["requested_at"]),
             "approve_by": to_rfc3339(run["start_by"]),
             "api_url": f"{base}/api/v1/playbook-runs/{run['id']}",
             "approve_url": f"{base}/api/v1/playbook-runs/{run['id']}/approve",
             "reject_url": f"{base}/api/v1/playbook-runs/{run['id']}/reject"}
            for run in waiting_runs(conn, incident_id, now)]


def event_of(incident: dict[str, Any], delivered_version: int,
             delivered: dict[str, Any] | None,
             unseen: AbstractSet[int] = frozenset()) -> tuple[str, list[str]]:
    """(event, changes): what this send tells the receiver, against what it last got.
    The first send is ``opened``, unless the incident ended before it went out: then the
    receiver's one document is its end (``resolved``, ``merged``), changes ``opened``
    and the end, so that it files the incident as over, not as open. ``unseen``: the
    runs asked for since the last send: one no longer waiting was asked for and decided
    in between, both changes the receiver has not heard of."""
    if delivered_version == 0:
        end = {"resolved": "resolved", "merged": "merged"}.get(incident["status"])
        return (end, ["opened", end]) if end else ("opened", ["opened"])
    changed = changes(delivered, stored_fingerprint(incident))
    if unseen - {run["run_id"] for run in incident.get(WAITING, ())}:
        changed = [c for c in changed if c not in RUN_CHANGES] + list(RUN_CHANGES)
    for event in ("resolved", "merged", "reopened"):
        if event in changed:
            return event, changed
    return "updated", changed


def incident_document(conn: sa.Connection, incident_id: str, version: int,
                      delivered_version: int, delivered: dict[str, Any] | None,
                      public_url: str, remediations: Remediations | None,
                      now: float) -> dict[str, Any]:
    """The document for ``incident_id`` at ``version``; NotFound when not stored."""
    incident = queries.get_incident(conn, incident_id)
    base = public_url.rstrip("/")
    incident[WAITING] = waiting_for_approval(conn, incident_id, base, now)
    seen = (delivered or {}).get(RUNS_SEEN)  # none: sent before runs were counted
    unseen = asked_after(conn, incident_id, seen) if seen is not None else set()
    event, changed = event_of(incident, delivered_version, delivered, unseen)
    fixes = remediations(conn, incident) if remediations is not None else []
    alerts = incident.pop("alerts")
    firing = sum(1 for a in alerts if a["status"] == "firing")
    return {
        "schema": SCHEMA,
        "event": event,
        "changes": changed,
        "incident_id": incident_id,  # the stable key to deduplicate and correlate on
        "version": version,  # grows with every change of this incident
        "status": incident["status"],
        "title": incident["title"],
        "severity": incident["severity"],
        "alert_count": incident["alert_count"],
        "firing_alerts": firing,
        "started_at": incident["started_at"],
        "updated_at": incident["updated_at"],
        "resolved_at": incident["resolved_at"],
        "merged_into": incident["merged_into"],
        "root_causes": [{"entity": rc["entity"], "score": rc["score"],
                         "node_id": rc.get("node_id"), "alert_id": rc.get("alert_id"),
                         "evidence": rc.get("evidence", [])}
                        for rc in incident["root_causes"][:ROOT_CAUSES_SENT]],
        "remediations": fixes[:REMEDIATIONS_SENT],
        WAITING: incident[WAITING],
        "entities": sorted({a["node_id"] or a["entity"] for a in alerts})[:20],
        "url": f"{base}/incidents/{incident_id}",
        "api_url": f"{base}/api/v1/incidents/{incident_id}",
        "sent_at": to_rfc3339(now),
    }


def describe(document: dict[str, Any]) -> str:
    """A ticket's description (ServiceNow's, RT's first message): root causes with
    evidence, remediations, the link to the incident view."""
    lines = [f"aiops incident {document['incident_id']}: {document['title']}",
             f"Severity {document['severity']}, {document['alert_count']} alerts, "
             f"started {document['started_at']}.", "", "Probable root causes:"]
    for i, rc in enumerate(document["root_causes"], 1):
        lines.append(f"{i}. {rc['entity']} (score {rc['score']})")
        lines.extend(f"   - {e}" for e in rc["evidence"])
    if not document["root_causes"]:
        lines.append("(none ranked yet)")
    if document["remediations"]:
        lines += ["", "Remediations that worked before:"]
        lines.extend(f"- {r.get('action')} (score {r.get('score')}, tickets "
                     f"{', '.join(r.get('ticket_ids', []))})" for r in document["remediations"])
    if document[WAITING]:
        lines += ["", *waiting_text(document)]
    lines += ["", f"Incident view: {document['url']}"]
    return "\n".join(lines)


def waiting_text(document: dict[str, Any]) -> list[str]:
    """One sentence per run waiting for approval: which playbook waits for an
    operator's yes, asked by whom, until when, and where to give it."""
    return [f"Playbook {run['playbook']} (run {run['run_id']}, asked by "
            f"{run['requested_by'] or 'an operator'}) waits for an operator's approval "
            f"until {run['approve_by']}; nobody deciding by then rejects it. Approve or "
            f"reject it in the incident view, {document['url']}, or POST "
            f"{run['approve_url']} (or {run['reject_url']})."
            for run in document[WAITING]]


def work_note(document: dict[str, Any]) -> str:
    """A change in a few words (a ServiceNow work note, an RT or Jira comment), with
    the runs waiting for an operator's approval, so the ticket's people see them."""
    top = document["root_causes"][0]["entity"] if document["root_causes"] else "none"
    note = (f"aiops v{document['version']}: {', '.join(document['changes']) or 'updated'}; "
            f"status {document['status']}, severity {document['severity']}, "
            f"{document['alert_count']} alerts ({document['firing_alerts']} firing), "
            f"top root cause {top}. {document['url']}")
    if "playbook_run_decided" in document["changes"] and not document[WAITING]:
        note += " No playbook run waits for approval any more (approved, rejected or " \
                "past its deadline: the incident view says which)."
    return " ".join([note, *waiting_text(document)])
