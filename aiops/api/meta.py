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
    return jsonify({"status": "ok", **runtime().engine.stats()})
