"""Prometheus Alertmanager: webhook payloads (version 4) and the v2 alerts API.

Alertmanager delivers at least once and re-sends whole groups on every
group_interval, so the event id is derived from the alert's fingerprint and start
time: a re-sent alert carries the same id and the engine folds it as a duplicate,
and a resolved notification carries the id of the episode it ends.

Entity: what the labels say the alert is about, not where it was scraped
(``connectors.alertmanager_entity``); severity: the ``severity`` label mapped onto
the canonical scale (see docs/contracts.md).

A silenced or inhibited alert is not sent to webhooks, but the v2 API lists it with
``status.state`` "suppressed" and the ids in ``silencedBy`` / ``inhibitedBy``: the
puller gives every alert it reads the label ``suppressed`` ("silence", "inhibited",
or "false" for an active one) and, when suppressed, ``suppressed_by`` (the silences'
ids, the inhibiting alerts' fingerprints): the labels every source uses for this
(``aiops.engine.alert_status``); they replace labels of those names the alert had.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from typing import Any

import requests

from aiops.errors import InputError
from aiops.models import SEVERITY_RANK, Alert, parse_alert
from aiops.timeutil import is_go_zero_time, parse_timestamp
from connectors.alertmanager_entity import entity_of

log = logging.getLogger(__name__)
SOURCE = "alertmanager"
SUPPRESSED = "suppressed"  # the label (aiops.engine.alert_status)
SEVERITY_MAP = {"page": "critical", "error": "major", "high": "major", "medium": "minor",
                "low": "info", "none": "info", "information": "info", "notice": "info"}
DEFAULT_SEVERITY = "warning"
EPISODE_GAP = 0.001  # seconds; the v2 API gives times to the millisecond
SUPPORTED_VERSION = "4"


def _severity(labels: dict[str, str]) -> str:
    raw = labels.get("severity", "").strip().lower()
    if raw in SEVERITY_RANK:
        return raw
    return SEVERITY_MAP.get(raw, DEFAULT_SEVERITY)


def _labels_fingerprint(labels: dict[str, str]) -> str:
    text = "\x1f".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _string_map(obj: dict[str, Any], key: str, where: str) -> dict[str, str]:
    value = obj.get(key) or {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InputError(f"field '{key}' must be an object of strings", field=key, where=where)
    return value


def alert_from_am(obj: Any, where: str, resolved: bool | None = None) -> Alert:
    """One Alertmanager alert (webhook or v2 API shape) as a canonical alert event."""
    if not isinstance(obj, dict):
        raise InputError("an alert must be a JSON object", where=where)
    labels = _string_map(obj, "labels", where)
    annotations = _string_map(obj, "annotations", where)
    name = labels.get("alertname")
    if not name:
        raise InputError("field 'labels.alertname' is required", field="labels.alertname",
                         where=where)
    if "startsAt" not in obj:
        raise InputError("field 'startsAt' is required", field="startsAt", where=where)
    try:
        starts_at = parse_timestamp(obj["startsAt"], "startsAt")
        if resolved is None:
            resolved = obj.get("status") == "resolved"
        ends_raw = obj.get("endsAt")
        ends_at = None
        if resolved and ends_raw and not is_go_zero_time(ends_raw):
            ends_at = max(parse_timestamp(ends_raw, "endsAt"), starts_at)
        elif resolved:
            ends_at = max(time.time(), starts_at)
    except ValueError as exc:
        raise InputError(str(exc), where=where) from None
    fingerprint = obj.get("fingerprint") or _labels_fingerprint(labels)
    return _canonical({
        "id": f"am-{fingerprint}-{int(starts_at)}",
        "source": SOURCE,
        "name": name,
        "entity": entity_of(labels),
        "severity": _severity(labels),
        "summary": annotations.get("summary") or annotations.get("description") or name,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "labels": labels,
        "description": annotations.get("description"),
    }, where)


def _canonical(fields: dict[str, Any], where: str) -> Alert:
    """The alert after the canonical checks every other source's alerts pass (length
    limits, no NUL, at most 64 labels): Alertmanager's labels and annotations are
    free text, and one too long for its column was refused by PostgreSQL as a 503
    "storage unavailable" (and kept whole by SQLite) instead of a 400 naming it."""
    try:
        return parse_alert(fields)
    except InputError as exc:
        raise InputError(f"{exc.detail} (in the canonical alert made of this "
                         "Alertmanager alert)", field=exc.field, where=where) from None


def parse_webhook(payload: Any) -> list[Alert]:
    """Alerts of one webhook notification; InputError names the bad part."""
    if not isinstance(payload, dict):
        raise InputError("an Alertmanager webhook payload must be a JSON object")
    version = payload.get("version")
    if version is not None and str(version) != SUPPORTED_VERSION:
        raise InputError(f"unsupported webhook payload version {version!r}, expected "
                         f"'{SUPPORTED_VERSION}'", field="version")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise InputError("field 'alerts' must be an array", field="alerts")
    return [alert_from_am(a, f"alerts[{i}]") for i, a in enumerate(alerts)]


def suppression(obj: dict[str, Any], where: str) -> dict[str, str]:
    """The ``suppressed`` label of an alert of the v2 API, from its ``status``, and
    ``suppressed_by`` (the silences' ids, or the inhibiting alerts' fingerprints) when
    it is suppressed; nothing when it is ``unprocessed`` (Alertmanager has not yet
    matched it against its silences: reading that as "not suppressed" would flip a
    silenced alert's label at every Alertmanager restart), and nothing (with a warning
    naming it) when the state is not one Alertmanager documents, so the alert keeps
    what it had."""
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    state = status.get("state")
    if state == "active":
        return {SUPPRESSED: "false"}
    if state == "unprocessed":  # not yet matched against silences (a new alert, or
        return {}  # every alert after Alertmanager restarts): keep what it had
    for key, kind, says in (("silencedBy", "silence", "silence"),
                            ("inhibitedBy", "inhibited", "inhibited by")):
        ids = status.get(key)
        if state == "suppressed" and isinstance(ids, list) and ids:
            return {SUPPRESSED: kind, "suppressed_by": f"{says} {','.join(map(str, ids))}"}
    log.warning("%s: status %s is not active, unprocessed, or suppressed by a silence or "
                "an inhibition; suppression ignored", where, str(status)[:200])
    return {}


def _episode_key(labels: dict[str, str]) -> str:
    """The labels' fingerprint without the labels the puller sets."""
    return _labels_fingerprint({k: v for k, v in labels.items()
                                if k not in (SUPPRESSED, "suppressed_by")})


class AlertmanagerPuller:
    """Pulls ``GET /api/v2/alerts``; alerts that disappear are reported resolved.

    The v2 API lists only alerts that have not ended (checked against Alertmanager
    0.25: a resolved alert is dropped from the list at once, whatever the filters),
    so the puller remembers what it saw last time and emits a resolved event for
    each alert gone since. Its end time is when the pull noticed, or, when the same
    labels already fire again as a new episode (a new ``startsAt``), just before that
    episode started. Resolutions come before the current alerts in the returned
    batch, so an alert that resolved and fired again between two pulls ends up
    firing here too, as it is in Alertmanager.
    """

    def __init__(self, base_url: str, timeout: float = 10.0,
                 session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self._seen: dict[str, Alert] = {}

    def pull(self) -> list[Alert]:
        url = f"{self.base_url}/api/v2/alerts"
        try:
            response = self.session.get(url, timeout=self.timeout)
            response.raise_for_status()
            body = response.json()
        except requests.RequestException as exc:
            raise ConnectionError(f"Alertmanager at {url} failed: {exc}") from exc
        except ValueError as exc:
            raise InputError(f"Alertmanager at {url} returned invalid JSON: {exc}") from None
        if not isinstance(body, list):
            raise InputError(f"Alertmanager at {url} returned {type(body).__name__}, "
                             "expected a list of alerts")
        current: dict[str, Alert] = {}
        episode_starts: dict[str, float] = {}  # labels fingerprint -> start of current episode
        for i, obj in enumerate(body):
            alert = alert_from_am(obj, f"{url}[{i}]", resolved=False)
            status = suppression(obj, f"{url}[{i}]")
            if status:
                labels = {k: v for k, v in alert.labels.items() if k != "suppressed_by"}
                alert = dataclasses.replace(alert, labels=labels | status)
            current[alert.id] = alert
            key = _episode_key(alert.labels)
            episode_starts[key] = min(alert.starts_at, episode_starts.get(key, alert.starts_at))
        now = time.time()
        events: list[Alert] = []
        for alert_id, old in self._seen.items():
            if alert_id in current:
                continue
            ends_at = now
            successor = episode_starts.get(_episode_key(old.labels))
            if successor is not None:
                ends_at = min(ends_at, successor - EPISODE_GAP)
            events.append(dataclasses.replace(old, ends_at=max(ends_at, old.starts_at)))
        events.extend(current.values())
        self._seen = current
        return events


class AlertmanagerConnector:
    """Registered connector: ``parse`` for webhooks, ``puller`` for the v2 API."""

    name = SOURCE
    parse = staticmethod(parse_webhook)

    @staticmethod
    def puller(base_url: str) -> AlertmanagerPuller:
        return AlertmanagerPuller(base_url)
