"""Alertmanager webhook payloads (real captures from Alertmanager 0.25) → canonical alerts."""

from __future__ import annotations

import json

import pytest

from aiops.errors import InputError
from connectors.alertmanager import parse_webhook, suppression
from tests.conftest import DATA


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def test_firing_payload() -> None:
    [a] = parse_webhook(load("webhook-firing.json"))
    assert a.name == "InterfaceDown" and a.entity == "sw-core-01"
    assert a.severity == "critical" and a.ends_at is None
    assert a.summary == "Interface Gi0/1 down on sw-core-01"
    assert a.labels["interface"] == "GigabitEthernet0/1"
    assert a.id.startswith("am-ce8fc0a8ae685b8d-")


def test_resolved_payload_has_same_episode_id_and_end() -> None:
    [firing] = parse_webhook(load("webhook-firing.json"))
    [resolved] = parse_webhook(load("webhook-resolved.json"))
    assert resolved.id == firing.id
    assert resolved.ends_at is not None and resolved.ends_at >= resolved.starts_at


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.update(version="3"), "unsupported webhook payload version '3'"),
        (lambda p: p.pop("alerts"), "field 'alerts' must be an array"),
        (lambda p: p["alerts"][0]["labels"].pop("alertname"),
         r"alerts\[0\]: field 'labels.alertname' is required"),
        (lambda p: p["alerts"][0].update(startsAt="not a time"),
         r"alerts\[0\]: field 'startsAt' is not an RFC 3339"),
        (lambda p: p["alerts"][0].update(labels=["x"]),
         r"alerts\[0\]: field 'labels' must be an object"),
    ],
)
def test_bad_payloads_are_named(mutate, message: str) -> None:
    payload = load("webhook-firing.json")
    mutate(payload)
    with pytest.raises(InputError, match=message):
        parse_webhook(payload)


def test_severity_mapping_and_entity_fallback() -> None:
    payload = load("webhook-firing.json")
    alert = payload["alerts"][0]
    alert["labels"] = {"alertname": "Watchdog", "severity": "none"}
    [a] = parse_webhook(payload)
    assert a.severity == "info" and a.entity == "global"


def test_the_v2_status_becomes_the_suppressed_label_and_an_unknown_one_is_ignored(
        caplog: pytest.LogCaptureFixture) -> None:
    """The shapes Alertmanager 0.25's v2 API gives (tests/integration: a real silence);
    a state it does not document adds nothing and is logged naming the alert."""
    assert suppression({"status": {"state": "active", "silencedBy": [],
                                   "inhibitedBy": []}}, "a[0]") == {"suppressed": "false"}
    assert suppression({"status": {"state": "suppressed", "silencedBy": ["5c1e", "77"],
                                   "inhibitedBy": []}}, "a[0]") == {
        "suppressed": "silence", "suppressed_by": "silence 5c1e,77"}
    assert suppression({"status": {"state": "suppressed", "silencedBy": [],
                                   "inhibitedBy": ["f00d"]}}, "a[0]") == {
        "suppressed": "inhibited", "suppressed_by": "inhibited by f00d"}
    assert suppression({"status": {"state": "muted"}}, "http://am/api/v2/alerts[3]") == {}
    # Not yet matched against the silences (a new alert, or all of them after an
    # Alertmanager restart): a silenced alert must not read as unsilenced meanwhile.
    assert suppression({"status": {"state": "unprocessed", "silencedBy": [],
                                   "inhibitedBy": []}}, "a[5]") == {}
    assert suppression({}, "a[4]") == {}
    assert "http://am/api/v2/alerts[3]: status {'state': 'muted'} is not active" in caplog.text
