"""Drift raises an alert of its own: ``AIOPS_MODEL_DRIFT`` from source ``aiops``.

Polling ``GET /api/v1/models/correlation/drift`` tells whoever looks; an operations
team wants to be told. A running engine therefore checks the promoted model's drift
every ``DriftSettings.check_every`` seconds and feeds the verdict through its own
ingestion path as an ordinary alert: it fires when the model starts drifting and
resolves when it stops, so it opens an incident, reaches the ITSM sinks and shows in
the incident view like any other condition, and needs no separate notification
channel.

Whether the alert is firing is read from the engine's own live alerts (which survive
a restart through the database), not from a flag in memory: a resolution is only
ever sent for an alert that is firing, and a restart does not send a second firing.

The engine's own alerts are left out of what drift and retraining look at
(``OWN_SOURCE``): a drift alert of an unseen type would otherwise count as drift.
"""

from __future__ import annotations

from typing import Any

from aiops.engine.dedup import fingerprint
from aiops.engine.engine import Engine
from aiops.engine.state import FIRING
from aiops.models import OWN_SOURCE, Alert

DRIFT_ALERT = "AIOPS_MODEL_DRIFT"
DRIFT_ENTITY = "aiops/models/correlation"


def drift_event(report: dict[str, Any], starts_at: float, ends_at: float | None) -> Alert:
    """The firing (``ends_at`` None) or resolving event for a drift report. Labels
    stay the same across versions, so one condition is one alert whatever model is
    promoted; the version and the reasons are in the text."""
    version = report.get("model_version")
    if ends_at is None:
        summary = (f"correlation model v{version} is drifting: "
                   + "; ".join(report.get("reasons", [])))
    else:
        summary = f"correlation model v{version} no longer drifting"
    window = report.get("window") or {}
    return Alert(
        id=f"aiops-drift-{int(starts_at)}-{'resolved' if ends_at is not None else 'firing'}",
        source=OWN_SOURCE, name=DRIFT_ALERT, entity=DRIFT_ENTITY, severity="warning",
        summary=summary[:1000], starts_at=starts_at, ends_at=ends_at,
        labels={"model": "correlation"},
        description=("Drift of the promoted correlation model over the window "
                     f"{window.get('since', '?')} to {window.get('until', '?')}; "
                     "see `aiops model drift` and `aiops model retrain`."))


def firing_since(engine: Engine) -> float | None:
    """When the engine's drift alert started, if it is firing now."""
    probe = Alert(id="-", source=OWN_SOURCE, name=DRIFT_ALERT, entity=DRIFT_ENTITY,
                  severity="warning", summary="", starts_at=0.0,
                  labels={"model": "correlation"})
    with engine.lock:
        record = engine.dedup.active.get(fingerprint(probe, engine.settings.volatile_labels))
        if record is None or record.status != FIRING:
            return None
        return record.starts_at


def drift_transition(engine: Engine, report: dict[str, Any], now: float) -> Alert | None:
    """The event to ingest for ``report`` at event time ``now``, or None: fire when
    drifting and not yet firing, resolve when ``ok`` and firing, else nothing."""
    since = firing_since(engine)
    verdict = report.get("verdict")
    if verdict == "drifting" and since is None:
        return drift_event(report, now, None)
    if verdict == "ok" and since is not None:
        return drift_event(report, since, max(now, since))
    return None
