"""The incident view: server-rendered HTML with SVG pictures, no JavaScript build."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from aiops.api.incidents import incident_subgraph
from aiops.api.svg import timeline_svg, topology_svg
from aiops.api.util import runtime
from aiops.errors import NotFound
from aiops.store import queries

blueprint = Blueprint("views", __name__, template_folder="templates")


@blueprint.get("/")
def index():
    with runtime().db.connect() as conn:
        open_items = queries.list_incidents(conn, "open", 200)
        resolved = queries.list_incidents(conn, "resolved", 50)
        counts = queries.count_incidents(conn)
        unresolved_count, _ = queries.unresolved_alerts(conn, 1)
    return render_template("index.html", open_items=open_items, resolved=resolved,
                           counts=counts, unresolved_count=unresolved_count)


@blueprint.get("/incidents/<incident_id>")
def incident(incident_id: str):
    with runtime().db.connect() as conn:
        try:
            inc = queries.get_incident(conn, incident_id)
        except NotFound:
            abort(404, description=f"no incident with id '{incident_id}'")
    graph = incident_subgraph(inc)
    return render_template("incident.html", inc=inc, timeline=timeline_svg(inc),
                           topology=topology_svg(graph))
