"""The incident view: server-rendered HTML with SVG pictures, no JavaScript build."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, render_template
from markupsafe import Markup, escape
from werkzeug.exceptions import NotFound as HTTPNotFound

from aiops.api.incidents import incident_subgraph
from aiops.api.timeline_svg import timeline_svg
from aiops.api.topology_svg import topology_svg
from aiops.api.util import runtime
from aiops.errors import NotFound
from aiops.playbooks.match import matching
from aiops.playbooks.request import load as load_playbooks
from aiops.playbooks.runs import current_runs, in_flight
from aiops.store import queries
from aiops.tickets.recommend import incident_detail

blueprint = Blueprint("views", __name__, template_folder="templates")


@blueprint.app_template_filter("when")
def when(value: str | None) -> Markup:
    """An RFC 3339 stamp as ``YYYY-MM-DD HH:MM:SS`` in a ``<time>`` element.

    The stored form carries microseconds and a zone letter, which wraps table cells
    into two unreadable lines; the full value stays in ``datetime`` and the tooltip.
    """
    if not value:
        return Markup("—")
    try:
        short = datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return Markup(escape(value))
    return Markup(f'<time datetime="{escape(value)}" title="{escape(value)}">{short}</time>')


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
            inc = incident_detail(conn, runtime(), incident_id)
        except NotFound:
            abort(404, description=f"no incident with id '{incident_id}'")
    playbook_runs = current_runs(runtime().db, runtime().data_dir.playbook, incident_id, 20)
    books, book_errors = load_playbooks(runtime())  # files: read with no connection held
    graph = incident_subgraph(inc)
    alarming = {a["node_id"] for a in inc["alerts"] if a["node_id"]}
    root_alert = inc["root_causes"][0].get("alert_id") if inc["root_causes"] else None
    return render_template("incident.html", inc=inc, timeline=timeline_svg(inc),
                           topology=topology_svg(graph, inc["root_causes"]),
                           alarming=alarming, root_alert=root_alert,
                           playbooks=matching(books, inc), playbook_errors=book_errors,
                           playbook_runs=playbook_runs,
                           runs_pending=any(in_flight(r) for r in playbook_runs))


@blueprint.errorhandler(404)
def not_found(err: HTTPNotFound):
    """A page for people (the API keeps its JSON errors): what was missing, and a way back."""
    return render_template("not_found.html", message=err.description), 404
