"""Validation of canonical alerts at the edge: every refusal names the field."""

from __future__ import annotations

import copy

import pytest

from aiops.errors import InputError
from aiops.models import parse_alert, parse_ticket

GOOD = {
    "id": "a1", "source": "nms", "name": "LINK_DOWN", "entity": "ne-01",
    "severity": "major", "summary": "link down", "starts_at": "2026-11-21T10:00:00Z",
    "labels": {"port": "1/1/1"},
}


def test_parses_rfc3339_and_epoch() -> None:
    a = parse_alert(GOOD)
    assert a.starts_at == 1795255200.0
    assert a.ends_at is None
    b = parse_alert({**GOOD, "starts_at": 1795255200, "ends_at": "2026-11-21T10:05:00+00:00"})
    assert b.starts_at == a.starts_at
    assert b.ends_at == a.starts_at + 300


def test_severity_is_case_insensitive() -> None:
    assert parse_alert({**GOOD, "severity": "CRITICAL"}).severity == "critical"


@pytest.mark.parametrize("field", ["id", "source", "name", "entity", "severity", "summary",
                                   "starts_at"])
def test_missing_required_field_is_named(field: str) -> None:
    obj = copy.deepcopy(GOOD)
    del obj[field]
    with pytest.raises(InputError, match=f"field '{field}' is required") as err:
        parse_alert(obj)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("id", 17, "field 'id' must be a string, got a number"),
        ("entity", "", "field 'entity' must not be empty"),
        ("severity", "disaster", "field 'severity' must be one of"),
        ("starts_at", "yesterday", "field 'starts_at' is not an RFC 3339 timestamp"),
        ("starts_at", True, "got a boolean"),
        ("starts_at", -5, "non-negative"),
        ("labels", ["a"], "field 'labels' must be an object, got an array"),
        ("labels", {"port": 1}, "field 'labels.port' must be a string, got a number"),
        ("summary", "x\x00y", "field 'summary' contains a NUL character"),
        ("name", "n" * 300, "field 'name' is 300 characters long"),
    ],
)
def test_wrong_values_are_named(field: str, value: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_alert({**GOOD, field: value})


def test_ends_before_start_is_refused() -> None:
    with pytest.raises(InputError, match="'ends_at' is before 'starts_at'"):
        parse_alert({**GOOD, "ends_at": "2026-11-21T09:00:00Z"})


def test_not_an_object() -> None:
    with pytest.raises(InputError, match="must be a JSON object, got an array"):
        parse_alert([GOOD])


def test_located_error_keeps_field() -> None:
    with pytest.raises(InputError) as err:
        parse_alert({**GOOD, "severity": None})
    located = err.value.located("alerts.jsonl:7")
    assert str(located) == "alerts.jsonl:7: field 'severity' is required"
    assert located.field == "severity"


def test_ticket() -> None:
    t = parse_ticket({"id": "INC1", "opened_at": 10, "title": "PSU", "alert_ids": ["a1"]})
    assert t.alert_ids == ["a1"] and t.resolved_at is None
    with pytest.raises(InputError, match="'alert_ids' must be an array of strings"):
        parse_ticket({"id": "INC1", "opened_at": 10, "title": "PSU", "alert_ids": "a1"})
