"""The OpenAPI document and a health endpoint."""

from __future__ import annotations

from flask import Blueprint, jsonify

from aiops.api.openapi import openapi_document
from aiops.api.util import runtime

blueprint = Blueprint("meta", __name__, url_prefix="/api/v1")


@blueprint.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@blueprint.get("/health")
def health():
    live = runtime()
    # Whether alert texts count in correlation (AIOPS_TEXT_SIMILARITY), so a check can
    # tell an engine running without its text evidence from one running with it.
    text = "on" if live.data_dir.settings.text_similarity else "off"
    return jsonify({"status": "ok", "text_similarity": text, **live.engine.stats()})
