"""Ticket exports: CSV, JSON array and JSON Lines in the canonical format (CONTRACTS.md §5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiops.errors import InputError
from connectors.tickets_csv import TicketFileConnector, read_ticket_file

CSV = """id,opened_at,resolved_at,title,entity,resolution,alert_ids,labels.category,priority
INC1,2026-01-05T10:00:00Z,2026-01-05T12:00:00Z,PSU failed,ne-12,Replaced PSU,a1;a2,power,P2
INC2,1767607200,,"Links down, many",ne-07,"Cleaned fibre, reseated","[""a3""]",,
"""


def test_csv_export(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(CSV, encoding="utf-8")
    first, second = TicketFileConnector(path).pull()
    assert (first.id, first.entity, first.alert_ids) == ("INC1", "ne-12", ["a1", "a2"])
    assert first.labels == {"category": "power", "priority": "P2"}
    assert first.resolved_at == first.opened_at + 7200
    assert second.opened_at == 1767607200.0 and second.resolved_at is None
    assert second.title == "Links down, many" and second.alert_ids == ["a3"]


def test_json_array_and_object_and_jsonl(tmp_path: Path) -> None:
    items = [{"id": "T1", "opened_at": 1, "title": "a"}, {"id": "T2", "opened_at": 2,
                                                          "title": "b", "resolution": "x"}]
    (tmp_path / "a.json").write_text(json.dumps(items))
    (tmp_path / "b.json").write_text(json.dumps({"tickets": items}))
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(i) for i in items))
    for name in ("a.json", "b.json", "c.jsonl"):
        assert [t.id for t in read_ticket_file(tmp_path / name)] == ["T1", "T2"]


@pytest.mark.parametrize(("name", "text", "message"), [
    ("bad.csv", "id,title\nT1,x\n", r"bad.csv:1: the header row lacks the column\(s\) opened_at"),
    ("bad.csv", "id,opened_at,title\nT1,yesterday,x\n",
     r"bad.csv:2: field 'opened_at' is not an RFC 3339 timestamp"),
    ("bad.csv", "id,opened_at,title\nT1,1,\n", r"bad.csv:2: field 'title' is required"),
    ("bad.csv", "id,opened_at,title\nT1,1,x\nT1,2,y\n",
     r"bad.csv:3: duplicate ticket id 'T1' \(first at .*bad.csv:2\)"),
    ("bad.csv", "id,opened_at,title\nT1,1,x,extra\n",
     r"bad.csv:2: the row has more cells than the header"),
    ("bad.json", '[{"id": "T1", "opened_at": 1, "title": "x"}, {"id": "T2", "title": "y"}]',
     r"bad.json: tickets\[1\]: field 'opened_at' is required"),
    ("bad.json", '[{"id": "T1", "opened_at": 1, "title": "x", "alert_ids": "a1"}]',
     r"bad.json: tickets\[0\]: field 'alert_ids' must be an array of strings"),
    ("bad.json", '{"tickets": [', r"bad.json: malformed JSON: Expecting value at line 1"),
    ("bad.json", "[" * 100_000 + "]" * 100_000, r"bad.json: malformed JSON: nested too deeply"),
    ("bad.json", '{"items": []}', r"expected an array of tickets"),
    ("bad.json", "[]", r"bad.json: no tickets in file"),
    ("bad.jsonl", '{"id": "T1", "opened_at": 1, "title": "x"}\n{"id": "T2"',
     r"bad.jsonl:2: malformed JSON"),
])
def test_bad_files_name_file_line_and_field(tmp_path: Path, name: str, text: str,
                                            message: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_ticket_file(path)


def test_not_utf8_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"id,opened_at,title\nT1,1,\xff\n")
    with pytest.raises(InputError, match="not valid UTF-8"):
        read_ticket_file(path)
    with pytest.raises(InputError, match="cannot read"):
        read_ticket_file(tmp_path / "missing.json")


def test_csv_numeric_looking_text_stays_text(tmp_path: Path) -> None:
    """CSV has no types: ticket ids like RT's "1001", a title "404" or an entity "7" are
    strings (CONTRACTS.md §5); only the timestamp columns may be epoch seconds."""
    path = tmp_path / "t.csv"
    path.write_text("id,opened_at,resolved_at,title,entity,root_cause\n"
                    "1001,1767607200,1767610800,404,7,1e3\n", encoding="utf-8")
    (ticket,) = read_ticket_file(path)
    assert (ticket.id, ticket.title, ticket.entity, ticket.root_cause) == \
        ("1001", "404", "7", "1e3")
    assert (ticket.opened_at, ticket.resolved_at) == (1767607200.0, 1767610800.0)
