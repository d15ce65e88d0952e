"""The outbox of outbound incident delivery, for an operator (docs/sinks.md)."""

from __future__ import annotations

import time

from flask import Blueprint, jsonify

from aiops.api.util import runtime
from aiops.sinks.setup import sink_names
from aiops.sinks.status import outbox_status

blueprint = Blueprint("sinks", __name__, url_prefix="/api/v1")


@blueprint.get("/sinks")
def sinks_status():
    live = runtime()
    with live.db.connect() as conn:
        return jsonify(outbox_status(conn, sink_names(live.data_dir.sinks), time.time()))
