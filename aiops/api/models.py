"""Model endpoints: which correlation model versions exist, shadow comparisons, drift."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from aiops.api.util import int_arg, runtime
from aiops.errors import InputError
from aiops.timeutil import epoch_or_text, parse_timestamp

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
            window[name] = parse_timestamp(epoch_or_text(raw), name)
        except ValueError as exc:
            raise InputError(str(exc), field=name) from None
    return jsonify(shadow(runtime(), window["since"], window["until"], _version_arg()))


@blueprint.get("/correlation/drift")
def correlation_drift():
    """How far the most recent stored alerts moved from what a model was trained on."""
    from aiops.learning.drift import model_drift
    from aiops.timeutil import parse_duration

    window = request.args.get("window")
    return jsonify(model_drift(runtime(), parse_duration(window) if window is not None else None,
                               _version_arg()))


def _version_arg() -> int | None:
    """The ``version`` query parameter, None when absent. Checked as ``int`` reads it:
    ``str.isdigit`` also passes digits ``int`` refuses (``²``) and numbers too long
    for it, which failed as 500s."""
    if request.args.get("version") is None:
        return None
    return int_arg("version", 0, 0, 2**31 - 1)

