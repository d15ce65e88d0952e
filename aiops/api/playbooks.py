"""Playbook endpoints: which playbooks fit an incident, run one, follow its runs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from aiops.api.access import acting_as
from aiops.api.util import int_arg, json_object, runtime
from aiops.engine.feedback import check_text
from aiops.errors import InputError, NotFound
from aiops.playbooks import runs
from aiops.playbooks.match import matching
from aiops.playbooks.request import dispatch, load, playbooks_dir, submit_run
from aiops.tickets.recommend import incident_detail

blueprint = Blueprint("playbooks", __name__, url_prefix="/api/v1")
RUN_FIELDS = ("requested_by", "dry_run", "idempotency_key", "force")
KEY_HEADER = "Idempotency-Key"
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
    when empty, so no web page can send it cross-site); fields checked by name. The
    idempotency key may come as the ``Idempotency-Key`` header (what HTTP clients and
    proxies that retry know) or the ``idempotency_key`` field, not as two different
    ones."""
    body = json_object(RUN_FIELDS, optional=True)
    for name in ("requested_by", "idempotency_key"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise InputError(f"'{name}' must be a string", field=name)
    for name in ("dry_run", "force"):
        if not isinstance(body.get(name, False), bool):
            raise InputError(f"'{name}' must be true or false", field=name)
    header = request.headers.get(KEY_HEADER)
    if header is not None:
        if body.get("idempotency_key") not in (None, header):
            raise InputError(f"the {KEY_HEADER} header and 'idempotency_key' differ; send "
                             "one", field="idempotency_key")
        body["idempotency_key"] = header
    return body


@blueprint.post("/incidents/<incident_id>/playbooks/<name>/runs")
def run_playbook(incident_id: str, name: str):
    body = _run_body()
    dry_run = bool(body.get("dry_run", False))
    record, created = submit_run(runtime(), incident_id, name,
                                 acting_as(body.get("requested_by")),
                                 dry_run, idempotency_key=body.get("idempotency_key"),
                                 force=bool(body.get("force", False)))
    if not created:  # asked for before with this key: the run as it is now, nothing new
        view = runs.current_run(runtime().db, record["id"], runtime().data_dir.playbook)
        return jsonify({"run": view, "dispatched": None, "replayed": True}), 200
    if dry_run:
        return jsonify({"run": runs.run_view(record), "dispatched": None,
                        "replayed": False}), 201
    where = dispatch(runtime(), record["id"])
    return jsonify({"run": runs.run_view(record), "dispatched": where, "replayed": False}), 202


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


@blueprint.post("/playbook-runs/<int:run_id>/approve")
def approve_run(run_id: int):
    """An operator's yes to a run a policy asked for with ``approval``: it runs now."""
    record = _decide(run_id, approve=True)
    where = dispatch(runtime(), run_id)
    return jsonify({"run": runs.run_view(record), "dispatched": where}), 202


@blueprint.post("/playbook-runs/<int:run_id>/reject")
def reject_run(run_id: int):
    """An operator's no: the run ends ``rejected``, nothing executes."""
    return jsonify({"run": runs.run_view(_decide(run_id, approve=False))}), 200


def _decide(run_id: int, approve: bool) -> dict[str, Any]:
    body = json_object(("by", "comment"), optional=True)
    by = check_text(body.get("by"), "author", "by")
    note = check_text(body.get("comment"), "comment")
    if run_id > MAX_RUN_ID:
        raise NotFound(f"no playbook run with id {run_id}")
    return runs.decide(runtime().db, run_id, approve, acting_as(by), note,
                       runtime().data_dir.playbook)
