"""Model endpoints: which correlation model versions exist, shadow comparisons, drift."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from aiops.api.util import runtime
from aiops.errors import InputError
from aiops.timeutil import parse_timestamp

blueprint = Blueprint("models", __name__, url_prefix="/api/v1/models")


@blueprint.get("/correlation")
def correlation_versions():
    from aiops.learning.training import MODEL_NAME

    registry = runtime().registry
    items = []
    for version in registry.versions(MODEL_NAME):
        meta = (registry.load(MODEL_NAME, version) or {}).get("meta", {})
        items.append({"version": version, "meta": meta})
    return jsonify({"promoted": registry.promoted_version(MODEL_NAME), "versions": items})


@blueprint.get("/correlation/shadow")
def correlation_shadow():
    """Regroup a window of stored alerts with a version and the promoted model."""
    from aiops.shadow import shadow

    window = {}
    for name in ("since", "until"):
        raw = request.args.get(name)
        if raw is None:
            raise InputError(f"query parameter '{name}' is required", field=name)
        try:
            window[name] = parse_timestamp(float(raw) if _is_number(raw) else raw, name)
        except ValueError as exc:
            raise InputError(str(exc), field=name) from None
    version = request.args.get("version")
    if version is not None and not version.isdigit():
        raise InputError(f"query parameter 'version' must be an integer, got {version!r}",
                         field="version")
    return jsonify(shadow(runtime(), window["since"], window["until"],
                          int(version) if version is not None else None))


@blueprint.get("/correlation/drift")
def correlation_drift():
    """How far the most recent stored alerts moved from what a model was trained on."""
    from aiops.learning.drift import model_drift, parse_window

    window = request.args.get("window")
    version = request.args.get("version")
    if version is not None and not version.isdigit():
        raise InputError(f"query parameter 'version' must be an integer, got {version!r}",
                         field="version")
    return jsonify(model_drift(runtime(), parse_window(window) if window is not None else None,
                               int(version) if version is not None else None))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
