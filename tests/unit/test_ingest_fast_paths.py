"""The fast paths of alert validation and JSONL reading decide exactly as the general ones.

``parse_alert`` checks the common good case of each field inline and hands anything
else to the general validators, which word the refusal. These tests hold the two to
the same answers: on tricky values, field by field, and on whole alerts against a
reference built only from the general validators (the pre-fast-path code).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aiops import models
from aiops.errors import InputError
from aiops.models import (
    MAX_ENTITY_LENGTH,
    MAX_ID_LENGTH,
    MAX_LABELS,
    MAX_TEXT_LENGTH,
    SEVERITIES,
    SEVERITY_RANK,
    Alert,
    parse_alert,
)
from connectors.jsonl import read_alerts


class Text(str):
    """A str subclass: not what JSON produces, must still be judged as before."""


SPACES = [" ", "\t", "\n", "\u00a0", "\u2003", "\u3000", "\x1c", "\u2028", "\ufeff", "\u200b"]

VALUES: list[Any] = [
    None, "", "a", " a ", "x" * MAX_ID_LENGTH, "x" * (MAX_ID_LENGTH + 1),
    "x" * MAX_ENTITY_LENGTH, "x" * (MAX_ENTITY_LENGTH + 1),
    "x" * MAX_TEXT_LENGTH, "x" * (MAX_TEXT_LENGTH + 1), "a\x00b", "\x00", "ü-1 温度 🔥",
    Text("sub"), Text(""), Text(" "), 0, 1.5, True, [], {}, ["a"], {"a": "b"},
    *SPACES, *(s * 3 for s in SPACES), *(f"{s}id{s}" for s in SPACES),
]


def outcome(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """What a call decided: its value, or the refusal's message and field."""
    try:
        return ("ok", fn(*args, **kwargs))
    except InputError as exc:
        return ("refused", (str(exc), exc.field))


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_identifier_matches_required_str(value: Any) -> None:
    obj = {"id": value}
    assert outcome(models._identifier, obj, "id") == outcome(models._required_str, obj, "id")


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_entity_identifier_matches_required_str_at_its_own_limit(value: Any) -> None:
    obj = {"entity": value}
    assert outcome(models._identifier, obj, "entity", MAX_ENTITY_LENGTH) == outcome(
        models._required_str, obj, "entity", MAX_ENTITY_LENGTH)


def test_missing_identifier_is_refused_the_same_way() -> None:
    assert outcome(models._identifier, {}, "id") == outcome(models._required_str, {}, "id")


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_text_matches_general_validators(value: Any) -> None:
    obj = {"summary": value, "description": value}
    assert outcome(models._text, obj, "summary", required=True) == outcome(
        models._required_text, obj, "summary")
    assert outcome(models._text, obj, "description", required=False) == outcome(
        models._optional_str, obj, "description")


def reference_severity(obj: dict[str, Any]) -> str:
    severity = models._required_str(obj, "severity").lower()
    if severity not in SEVERITY_RANK:
        raise InputError(
            f"field 'severity' must be one of {', '.join(SEVERITIES)}, got {obj['severity']!r}",
            field="severity",
        )
    return severity


@pytest.mark.parametrize("value", [*VALUES, *SEVERITIES, "MAJOR", "Minor", " major",
                                   "major ", "majör", "CRİTİCAL", Text("major")], ids=repr)
def test_severity_matches_reference(value: Any) -> None:
    obj = {"severity": value}
    assert outcome(models._severity, obj) == outcome(reference_severity, obj)


LABELS: list[Any] = [
    None, {}, {"k": "v"}, {"k": ""}, {"": "v"}, {" ": "v"}, {"\u3000": "v"}, {"k\x00": "v"},
    {"k": "v\x00"}, {"k": 1}, {"k": None}, {1: "v"}, {"k" * MAX_ID_LENGTH: "v"},
    {"k" * (MAX_ID_LENGTH + 1): "v"}, {"k": "v" * MAX_TEXT_LENGTH},
    {"k": "v" * (MAX_TEXT_LENGTH + 1)}, {f"k{i}": "v" for i in range(MAX_LABELS)},
    {f"k{i}": "v" for i in range(MAX_LABELS + 1)}, {"a": "b", "c": 3, "d": "\x00"},
    {Text("k"): "v"}, {"k": Text("v")}, [], "labels", 3,
]


@pytest.mark.parametrize("value", LABELS, ids=repr)
def test_labels_match_general_validator(value: Any) -> None:
    obj = {"labels": value}
    assert outcome(models._alert_labels, obj) == outcome(models._labels, obj)


GOOD = {
    "id": "a1", "source": "nms", "name": "LINK_DOWN", "entity": "ne-01", "severity": "major",
    "summary": "link down", "starts_at": "2026-11-21T10:00:00Z",
    "ends_at": "2026-11-21T10:05:00Z", "labels": {"port": "1/1/1"}, "description": "d",
}


def reference_parse(obj: Any) -> Alert:
    """parse_alert as it was before the inline checks: general validators only."""
    if not isinstance(obj, dict):
        raise InputError(f"an alert must be a JSON object, got {models._json_type(obj)}")
    severity = reference_severity(obj)
    starts_at = models._timestamp(obj, "starts_at", required=True)
    ends_at = models._timestamp(obj, "ends_at", required=False)
    assert starts_at is not None
    if ends_at is not None and ends_at < starts_at:
        raise InputError("field 'ends_at' is before 'starts_at'", field="ends_at")
    return Alert(
        id=models._required_str(obj, "id"), source=models._required_str(obj, "source"),
        name=models._required_str(obj, "name"),
        entity=models._required_str(obj, "entity", MAX_ENTITY_LENGTH),
        severity=severity, summary=models._required_text(obj, "summary"),
        starts_at=starts_at, ends_at=ends_at, labels=models._labels(obj),
        description=models._optional_str(obj, "description"),
    )


def variants() -> list[Any]:
    """GOOD with one field changed or removed, two fields bad at once, non-objects."""
    out: list[Any] = [GOOD, [GOOD], "alert", None]
    for field in GOOD:
        out.append({k: v for k, v in GOOD.items() if k != field})
        for value in [*VALUES[:14], *LABELS[:8], "MAJOR", "2026-11-21T09:00:00Z", -1, 1e400]:
            out.append({**GOOD, field: value})
    out.append({**GOOD, "id": "", "severity": "nope"})  # the first fault in order wins
    out.append({**GOOD, "entity": 5, "labels": {"k": 1}})
    out.append({**GOOD, "summary": None, "description": 7})
    return out


@pytest.mark.parametrize("obj", variants())
def test_parse_alert_matches_reference(obj: Any) -> None:
    assert outcome(parse_alert, obj) == outcome(reference_parse, obj)


def test_labels_object_is_kept_as_given() -> None:
    labels = {"port": "1/1/1"}
    assert parse_alert({**GOOD, "labels": labels}).labels is labels


# --------------------------------------------------------------------------- JSONL


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "alerts.jsonl"
    path.write_bytes(data)
    return path


def line(**changes: Any) -> bytes:
    return (json.dumps({**GOOD, **changes}) + "\n").encode()


@pytest.mark.parametrize(
    ("data", "message", "field"),
    [
        (line() + b'{"id": "a2"\n', "alerts.jsonl:2: malformed JSON: Expecting ',' delimiter "
         "at column 12", None),
        (line() + b"\n" + b'{"id": 1} x\n', "alerts.jsonl:3: malformed JSON: Extra data at "
         "column 11", None),
        (b"\xef\xbb\xbf" + line(), "alerts.jsonl:1: malformed JSON: Unexpected UTF-8 BOM "
         "(decode using utf-8-sig) at column 1", None),
        (line() + b'{"id": "\xff"}\n', "alerts.jsonl:2: not valid UTF-8 (byte 9 of the line)",
         None),
        (line() + line(id="a2", severity=None), "alerts.jsonl:2: field 'severity' is required",
         "severity"),
        (line() + b"  \n" + line(), "alerts.jsonl:3: duplicate alert id 'a1' (first on line 1)",
         "id"),
        (line(labels={"k": 2}), "alerts.jsonl:1: field 'labels.k' must be a string, got a "
         "number", "labels.k"),
        (b"\n \r\n", "alerts.jsonl: no alerts in file", None),
    ],
)
def test_jsonl_refusals_name_file_line_and_field(tmp_path: Path, data: bytes, message: str,
                                                 field: str | None) -> None:
    path = write(tmp_path, data)
    with pytest.raises(InputError) as err:
        read_alerts(path)
    assert str(err.value) == message.replace("alerts.jsonl", str(path))
    assert err.value.field == field


def test_jsonl_line_numbers_count_only_newlines(tmp_path: Path) -> None:
    """CRLF endings, a final line without a newline and U+2028 inside a string do not
    shift line numbers (str.splitlines() would split on the last)."""
    data = (line(id="a1", summary="x\u2028y").replace(b"\n", b"\r\n") + line(id="a2")
            + json.dumps({**GOOD, "id": "a1"}).encode())
    with pytest.raises(InputError, match=r":3: duplicate alert id 'a1' \(first on line 1\)"):
        read_alerts(write(tmp_path, data))
    alerts = read_alerts(write(tmp_path, data[: data.rindex(b"\n") + 1]))
    assert [a.id for a in alerts] == ["a1", "a2"] and alerts[0].summary == "x\u2028y"
