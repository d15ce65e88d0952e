"""Ingestion endpoints: canonical alerts, Alertmanager webhooks, mapped webhooks.

A request is validated whole before anything is ingested, and ingested in one
transaction: a bad alert at index 9,999 refuses the request without storing the
other 9,999. Everything here is live (``Engine.ingest``'s ``live``): a time stamped
far ahead of the request's arrival is taken as the arrival time, and the answer's
``clock_ahead`` says so.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from werkzeug.exceptions import RequestEntityTooLarge

from aiops.api.util import json_body, runtime
from aiops.errors import InputError
from aiops.models import Alert, parse_alert
from connectors.alertmanager import parse_webhook
from connectors.webhook_mapping import TooManyAlerts, find_mapping, load_mappings

blueprint = Blueprint("ingest", __name__, url_prefix="/api/v1")


def _check_batch_size(count: int) -> None:
    limit = current_app.config["AIOPS_MAX_BATCH"]
    if count > limit:
        raise RequestEntityTooLarge(f"batch of {count} alerts is over the limit of {limit} "
                                    "per request; split it")


def parse_alert_batch(body: Any) -> list[Alert]:
    """One alert object, an array of them, or ``{"alerts": [...]}``.

    An object with an ``alerts`` field is the wrapped form whatever that field holds
    (no canonical alert has one): taken as one alert, ``{"alerts": null}`` would be
    refused for a missing ``severity``, which is not what was wrong."""
    if isinstance(body, dict) and "alerts" in body:
        items = body["alerts"]
        if not isinstance(items, list):
            raise InputError("field 'alerts' must be an array of alerts", field="alerts")
    elif isinstance(body, list):
        items = body
    elif isinstance(body, dict):
        items = [body]
    else:
        raise InputError("expected an alert object or an array of alerts")
    if not items:
        raise InputError("no alerts in request")
    _check_batch_size(len(items))
    alerts: list[Alert] = []
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        try:
            alert = parse_alert(item)
        except InputError as exc:
            raise exc.located(f"alerts[{i}]") from None
        if alert.id in first:
            raise InputError(f"duplicate alert id '{alert.id}' (also at alerts[{first[alert.id]}])",
                             field="id", where=f"alerts[{i}]")
        first[alert.id] = i
        alerts.append(alert)
    return alerts


@blueprint.post("/alerts")
def post_alerts():
    alerts = parse_alert_batch(json_body())
    runtime().follow_other_processes()
    result = runtime().engine.ingest(alerts, live=True)
    return jsonify(result.to_dict())


@blueprint.post("/webhooks/alertmanager")
def post_alertmanager():
    alerts = parse_webhook(json_body())
    _check_batch_size(len(alerts))
    runtime().follow_other_processes()
    result = runtime().engine.ingest(alerts, live=True)
    return jsonify(result.to_dict())


@blueprint.get("/webhooks")
def list_webhooks():
    """The built-in mappings and the data dir's ``webhooks/*.yml`` (read per request:
    a new or edited mapping needs no restart)."""
    mappings, errors = load_mappings(runtime().data_dir.path / "webhooks")
    return jsonify({"folder": str(runtime().data_dir.path / "webhooks"),
                    "webhooks": [mappings[n].summary_view() for n in sorted(mappings)],
                    "errors": errors})


@blueprint.post("/webhooks/<name>")
def post_mapped_webhook(name: str):
    """A notification in a tool's own JSON, turned into alerts by mapping ``name``."""
    mapping = find_mapping(runtime().data_dir.path / "webhooks", name)
    try:
        mapped = mapping.apply(json_body(), max_items=current_app.config["AIOPS_MAX_BATCH"])
    except TooManyAlerts as exc:  # counted before any of them is mapped
        raise RequestEntityTooLarge(str(exc)) from None
    runtime().follow_other_processes()
    result = runtime().engine.ingest(mapped.alerts, start_unknown=mapped.start_unknown,
                                     state_reports=mapped.state_report, live=True)
    return jsonify(result.to_dict())
