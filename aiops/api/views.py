"""The incident view: server-rendered HTML with SVG pictures, no JavaScript build."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, render_template, request
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from aiops.api.display import visible_controls
from aiops.api.incident_args import FILTER_PARAMETERS, incident_filter
from aiops.api.incidents import incident_subgraph
from aiops.api.timeline_svg import timeline_svg
from aiops.api.topology_svg import topology_svg
from aiops.api.util import runtime
from aiops.engine.alert_status import is_suppressed
from aiops.errors import InputError, NotFound
from aiops.models import SEVERITIES
from aiops.playbooks.match import matching
from aiops.playbooks.request import load as load_playbooks
from aiops.playbooks.runs import current_runs, in_flight
from aiops.store import queries
from aiops.tickets.recommend import incident_detail

blueprint = Blueprint("views", __name__, template_folder="templates")


@blueprint.app_template_filter("shown")
def shown(value: object) -> str:
    """Text from outside (alerts, names, tickets) with its bidi controls made visible;
    still escaped by the template (aiops.api.display says why)."""
    return visible_controls(value)


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


# The incident page's "suppressed" badge: every kind the engine counts (alert_status).
blueprint.add_app_template_global(is_suppressed, "is_suppressed")

OPEN_PAGE, RESOLVED_PAGE = 200, 50  # rows per table of the incident list


def _offset_arg(name: str) -> int:
    """A table's first row from the query string; a bad value is a 400 page naming it."""
    raw = request.args.get(name, "0")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        abort(400, description=f"query parameter '{name}' must be a whole number of rows "
                               f"from 0 to 999999999, got {raw!r}")
    return int(raw)


@blueprint.get("/")
def index():
    """Open and recently resolved incidents, newest first, a page of each, of those the
    filter form keeps.

    The open table stopped at 200 rows with nothing saying so: the 201st open incident
    and older (the start of a long outage) were out of sight while the counts above
    said there were more. Each table now says which rows it shows and links the rest.
    The filters are the API's (aiops.api.incident_args) in the query string of a GET
    form, so a filtered list is a link to bookmark or send, and paging keeps them.
    """
    open_from, resolved_from = _offset_arg("open_offset"), _offset_arg("resolved_offset")
    try:
        chosen, _ = incident_filter()
    except InputError as exc:
        abort(400, description=str(exc))
    with runtime().db.connect() as conn:
        open_items = queries.list_incidents(conn, "open", OPEN_PAGE, open_from, chosen)
        resolved = queries.list_incidents(conn, "resolved", RESOLVED_PAGE, resolved_from,
                                          chosen)
        counts = queries.count_incidents(conn)
        matching = counts if chosen.is_empty() else queries.count_incidents(conn, chosen)
        unresolved_count, _ = queries.unresolved_alerts(conn, 1)
    kept = filter_args()
    pages = {
        "open": _page("open", open_from, OPEN_PAGE, matching.get("open", 0), resolved_from,
                      kept),
        "resolved": _page("resolved", resolved_from, RESOLVED_PAGE,
                          matching.get("resolved", 0), open_from, kept),
    }
    shown_total = sum(n for s, n in matching.items() if s != "merged")
    listed_total = sum(n for s, n in counts.items() if s != "merged")
    return render_template("index.html", open_items=open_items, resolved=resolved,
                           counts=counts, unresolved_count=unresolved_count, pages=pages,
                           form=kept, filtered=not chosen.is_empty(),
                           matched=(shown_total, listed_total), severities=SEVERITIES)


def filter_args() -> dict[str, str]:
    """The filters of this request as given, blanks left out: what the form shows
    again and what the paging links carry."""
    return {name: request.args[name] for name in FILTER_PARAMETERS
            if request.args.get(name, "").strip()}


def _page(status: str, first: int, size: int, total: int, other_from: int,
          kept: dict[str, str]) -> dict[str, Any]:
    """Which rows of ``total`` one table shows and the links to its other pages (the
    other table's page and the filters ``kept`` are kept in the links)."""
    other = "resolved" if status == "open" else "open"

    def link(start: int) -> str:
        query = {f"{status}_offset": start, f"{other}_offset": other_from}
        pairs = [*kept.items(), *((k, v) for k, v in sorted(query.items()) if v)]
        return f"/?{urlencode(pairs)}" if pairs else "/"

    if first >= total > 0:  # past the end (the list shrank since the link was made)
        return {"first": first + 1, "last": first, "total": total,
                "newer": link((total - 1) // size * size), "older": None}
    return {"first": first + 1, "last": min(first + size, total), "total": total,
            "newer": link(max(0, first - size)) if first > 0 else None,
            "older": link(first + size) if first + size < total else None}


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


@blueprint.errorhandler(400)
@blueprint.errorhandler(404)
def error_page(err: HTTPException):
    """A page for people (the API keeps its JSON errors): what was wrong, and a way back."""
    heading = "Not found" if err.code == 404 else "Bad request"
    return render_template("not_found.html", heading=heading, message=err.description), err.code
