"""Canonical tickets (CONTRACTS.md §5) from CSV and JSON exports, and any ticket file.

ITSM systems export CSV or a JSON array far more readily than JSON Lines. A CSV
has one header row naming canonical fields; ``alert_ids`` holds ids separated by
``;``, ``,`` or spaces (or a JSON array); ``labels.X`` columns and any column that
is not a canonical field go into ``labels``. A JSON export is an array of ticket
objects or ``{"tickets": [...]}``. Files are validated whole before anything is
used, with errors naming the file, the line (CSV) or index (JSON) and the field.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from aiops.errors import InputError
from aiops.jsontext import parse_json
from aiops.models import Ticket, parse_ticket
from aiops.timeutil import epoch_or_text
from connectors.jsonl import read_tickets as read_tickets_jsonl
from connectors.ticket_fields import split_ids

CANONICAL = ("id", "opened_at", "resolved_at", "title", "description", "entity", "root_cause",
             "resolution", "alert_ids")
# The only fields that may be epoch seconds; every other cell is text, even "1001".
TIMESTAMPS = ("opened_at", "resolved_at")
MAX_FILE_BYTES = 512 * 1024 * 1024


def _text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(f"file is {size:,} bytes, over the limit of {MAX_FILE_BYTES:,}",
                             where=str(path))
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where=str(path)) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 (byte {exc.start + 1})", where=str(path)) from None


def _check_unique(tickets: list[tuple[str, Ticket]], path: Path) -> list[Ticket]:
    first: dict[str, str] = {}
    for where, ticket in tickets:
        if ticket.id in first:
            raise InputError(f"duplicate ticket id '{ticket.id}' (first at {first[ticket.id]})",
                             field="id", where=where)
        first[ticket.id] = where
    if not tickets:
        raise InputError("no tickets in file", where=str(path))
    return [t for _, t in tickets]


def _csv_row(row: dict[str, str | None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for column, cell in row.items():
        if column is None:
            raise InputError("the row has more cells than the header has columns")
        value = (cell or "").strip()
        if not value:
            continue
        name = column.strip()
        if name == "alert_ids":
            out[name] = json.loads(value) if value.startswith("[") else split_ids(value)
        elif name in TIMESTAMPS:
            out[name] = epoch_or_text(value)
        elif name in CANONICAL:
            out[name] = value  # CSV has no types: a numeric ticket id or title is text
        else:
            labels[name.removeprefix("labels.")] = value
    if labels:
        out["labels"] = labels
    return out



def read_tickets_csv(path: str | Path) -> list[Ticket]:
    """All tickets of a CSV export; InputError ``file:line: ...`` on the first fault."""
    path = Path(path)
    reader = csv.DictReader(io.StringIO(_text(path), newline=""))
    header = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in ("id", "opened_at", "title") if c not in header]
    if missing:
        raise InputError(f"the header row lacks the column(s) {', '.join(missing)}",
                         where=f"{path}:1")
    tickets: list[tuple[str, Ticket]] = []
    try:
        for row in reader:
            where = f"{path}:{reader.line_num}"
            try:
                tickets.append((where, parse_ticket(_csv_row(row))))
            except InputError as exc:
                raise exc.located(where) from None
            except json.JSONDecodeError as exc:
                raise InputError(f"field 'alert_ids' is not a JSON array: {exc.msg}",
                                 field="alert_ids", where=where) from None
    except csv.Error as exc:
        raise InputError(f"malformed CSV: {exc}", where=f"{path}:{reader.line_num}") from None
    return _check_unique(tickets, path)


def read_tickets_json(path: str | Path) -> list[Ticket]:
    """All tickets of a JSON export (an array, or ``{"tickets": [...]}``)."""
    path = Path(path)
    try:
        doc = parse_json(_text(path))
    except InputError as exc:
        raise exc.located(str(path)) from None
    items = doc.get("tickets") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise InputError("expected an array of tickets or an object with a 'tickets' array",
                         where=str(path))
    tickets: list[tuple[str, Ticket]] = []
    for i, obj in enumerate(items):
        where = f"{path}: tickets[{i}]"
        try:
            tickets.append((where, parse_ticket(obj)))
        except InputError as exc:
            raise exc.located(where) from None
    return _check_unique(tickets, path)


def read_ticket_file(path: str | Path) -> list[Ticket]:
    """Tickets from ``.jsonl``/``.ndjson``, ``.csv`` or ``.json``, chosen by the suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_tickets_csv(path)
    if suffix == ".json":
        return read_tickets_json(path)
    return read_tickets_jsonl(path)


class TicketFileConnector:
    """Registered connector for ticket exports: JSON Lines, CSV or a JSON array."""

    name = "ticket-file"

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def pull(self) -> list[Ticket]:
        return read_ticket_file(self.path)
