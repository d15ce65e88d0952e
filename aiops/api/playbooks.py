"""Playbook endpoints: which playbooks fit an incident, run one, follow its runs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from aiops.api.util import int_arg, json_object, runtime
from aiops.errors import InputError, NotFound
from aiops.playbooks import runs
from aiops.playbooks.match import matching
from aiops.playbooks.request import dispatch, load, playbooks_dir, request_run
from aiops.tickets.recommend import incident_detail

blueprint = Blueprint("playbooks", __name__, url_prefix="/api/v1")
RUN_FIELDS = ("requested_by", "dry_run")
# Run ids are the database's INTEGER key: PostgreSQL's is 32 bits and SQLite cannot
# even compare with more than 64; a larger number in the path names no run.
MAX_RUN_ID = 2**31 - 1


@blueprint.get("/playbooks")
def list_playbooks():
    playbooks, errors = load(runtime())
    return jsonify({"folder": str(playbooks_dir(runtime())),
                    "playbooks": [playbooks[n].summary() for n in sorted(playbooks)],
                    "errors": errors})


@blueprint.get("/incidents/<incident_id>/playbooks")
def incident_playbooks(incident_id: str):
    playbooks, errors = load(runtime())
    with runtime().db.connect() as conn:
        incident = incident_detail(conn, runtime(), incident_id)
    past = runs.current_runs(runtime().db, runtime().data_dir.playbook, incident_id)
    return jsonify({"incident_id": incident_id, "playbooks": matching(playbooks, incident),
                    "errors": errors, "runs": past})


def _run_body() -> dict[str, Any]:
    """The optional JSON object of a run request (``json_object``: sent as JSON even
    when empty, so no web page can send it cross-site); fields checked by name."""
    body = json_object(RUN_FIELDS, optional=True)
    by = body.get("requested_by")
    if by is not None and not isinstance(by, str):
        raise InputError("'requested_by' must be a string", field="requested_by")
    if not isinstance(body.get("dry_run", False), bool):
        raise InputError("'dry_run' must be true or false", field="dry_run")
    return body


@blueprint.post("/incidents/<incident_id>/playbooks/<name>/runs")
def run_playbook(incident_id: str, name: str):
    body = _run_body()
    dry_run = bool(body.get("dry_run", False))
    record = request_run(runtime(), incident_id, name, body.get("requested_by"), dry_run)
    if dry_run:
        return jsonify({"run": runs.run_view(record), "dispatched": None}), 201
    where = dispatch(runtime(), record["id"])
    return jsonify({"run": runs.run_view(record), "dispatched": where}), 202


@blueprint.get("/playbook-runs")
def list_runs():
    incident_id = request.args.get("incident_id") or None
    limit = int_arg("limit", 100, 1, 1000)
    settings = runtime().data_dir.playbook
    return jsonify({"runs": runs.current_runs(runtime().db, settings, incident_id, limit)})


@blueprint.get("/playbook-runs/<int:run_id>")
def get_run(run_id: int):
    if run_id > MAX_RUN_ID:  # else the database refuses the query: a 500 or a 503
        raise NotFound(f"no playbook run with id {run_id}")
    return jsonify(runs.current_run(runtime().db, run_id, runtime().data_dir.playbook))
