"""Incident endpoints: list, detail with alerts, the topology around one, and the
operator's corrections (merge, split), which change live state and are stored as
feedback for the next training."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from aiops.api.access import acting_as
from aiops.api.incident_args import incident_filter
from aiops.api.util import int_arg, json_object, runtime
from aiops.engine.feedback import FeedbackOutcome
from aiops.errors import InputError
from aiops.store import queries
from aiops.store.feedback import feedback_view
from aiops.tickets.recommend import incident_detail
from aiops.timeutil import parse_timestamp

blueprint = Blueprint("incidents", __name__, url_prefix="/api/v1")


@blueprint.get("/incidents")
def list_incidents():
    """A page of incidents, newest first, of those the filters keep (incident_args).

    ``counts`` are all incidents per status, as before; ``matching`` those the filters
    keep, per status, and ``total`` the ones of the status asked for (without: open
    and resolved): what paging goes through."""
    status = request.args.get("status")
    if status is not None and status not in queries.INCIDENT_STATUSES:
        raise InputError(f"query parameter 'status' must be one of "
                         f"{', '.join(queries.INCIDENT_STATUSES)}, got {status!r}",
                         field="status")
    limit = int_arg("limit", 100, 1, 1000)
    offset = int_arg("offset", 0, 0, 10_000_000)
    chosen, said = incident_filter()
    with runtime().db.connect() as conn:
        items = queries.list_incidents(conn, status, limit, offset, chosen)
        counts = queries.count_incidents(conn)
        matching = counts if chosen.is_empty() else queries.count_incidents(conn, chosen)
    total = (matching.get(status, 0) if status
             else sum(n for s, n in matching.items() if s != "merged"))
    return jsonify({"incidents": items, "counts": counts, "matching": matching,
                    "total": total, "filters": said, "limit": limit, "offset": offset})


@blueprint.get("/incidents/<incident_id>")
def get_incident(incident_id: str):
    with runtime().db.connect() as conn:
        return jsonify(incident_detail(conn, runtime(), incident_id))


def incident_subgraph(incident: dict[str, Any], radius: int = 1) -> dict[str, Any]:
    """Nodes around the incident, each marked alarming / root cause / silent."""
    # the topology of its latest alert, which it was ranked against, as the analysis saw
    # it: ports merged into their devices (``TopologyGraph.device_view``), so a switch is
    # drawn with its neighbours, not with its 48 ports marked "silent"
    topology = runtime().topology_at(
        parse_timestamp(incident["updated_at"], "updated_at")).device_view()
    alarming = {a["node_id"] for a in incident["alerts"] if a["node_id"]}
    causes = {rc.get("node_id") for rc in incident["root_causes"] if rc.get("node_id")}
    top = incident["root_causes"][0].get("node_id") if incident["root_causes"] else None
    nodes, edges = topology.subgraph(alarming | causes, radius)
    return {
        "incident_id": incident["id"],
        "nodes": [{**n.to_dict(), "alarming": n.id in alarming, "root_cause": n.id == top,
                   "candidate": n.id in causes, "silent": n.id not in alarming}
                  for n in nodes],
        "edges": [e.to_dict() for e in edges],
        "unresolved_entities": sorted({a["entity"] for a in incident["alerts"]
                                       if not a["node_id"]}),
    }


@blueprint.get("/incidents/<incident_id>/topology")
def get_incident_topology(incident_id: str):
    radius = int_arg("radius", 1, 0, 3)
    with runtime().db.connect() as conn:
        incident = queries.get_incident(conn, incident_id)
    return jsonify(incident_subgraph(incident, radius))


def _feedback_answer(outcome: FeedbackOutcome):
    with runtime().db.connect() as conn:
        touched = [queries.incident_summary(row) for row in queries.incident_rows(
            conn, outcome.incidents)]
    return jsonify({"feedback": feedback_view(outcome.record), "incidents": touched})


@blueprint.post("/incidents/<incident_id>/merge")
def merge_incidents(incident_id: str):
    body = json_object(("incident_ids", "author", "comment"))
    if "incident_ids" not in body:
        raise InputError("field 'incident_ids' is required: the incidents to fold into "
                         f"'{incident_id}'", field="incident_ids")
    outcome = runtime().engine.merge_incidents(
        incident_id, body["incident_ids"], author=acting_as(body.get("author")),
        comment=body.get("comment"))
    return _feedback_answer(outcome)


@blueprint.post("/incidents/<incident_id>/split")
def split_incident(incident_id: str):
    body = json_object(("alert_ids", "author", "comment"))
    if "alert_ids" not in body:
        raise InputError("field 'alert_ids' is required: the alerts to move to a new "
                         "incident", field="alert_ids")
    outcome = runtime().engine.split_incident(
        incident_id, body["alert_ids"], author=acting_as(body.get("author")),
        comment=body.get("comment"))
    return _feedback_answer(outcome)


@blueprint.get("/alerts/unresolved")
def get_unresolved():
    limit = int_arg("limit", 100, 1, 1000)
    with runtime().db.connect() as conn:
        total, items = queries.unresolved_alerts(conn, limit)
    return jsonify({"count": total, "alerts": items})
