"""Canonical alerts from a JSON Lines file (CONTRACTS.md §1), validated line by line.

The whole file is validated before anything is ingested, so a bad line 90,000
refuses the file without having written the first 89,999: errors name the file,
the line and the field.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from aiops.errors import InputError
from aiops.jsontext import parse_json
from aiops.models import Alert, Ticket, parse_alert, parse_ticket

T = TypeVar("T")


def _decode(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 (byte {exc.start + 1} of the line)",
                         where=where) from None


def _read(path: Path, parse: Callable[[Any], T], what: str) -> list[T]:
    """Every object of the file, parsed; InputError ``file:line: ...`` on the first fault.

    The loop runs once per line of files with hundreds of thousands of lines, so the
    ``file:line`` location is only formatted when a line is refused.
    """
    items: list[T] = []
    first_line: dict[str, int] = {}
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where=str(path)) from None
    with handle:
        for lineno, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                text = _decode(raw, f"{path}:{lineno}")  # raises, naming the byte
            if not text:
                continue
            try:
                item = parse(parse_json(text, one_line=True))
            except InputError as exc:
                raise exc.located(f"{path}:{lineno}") from None
            item_id = item.id  # type: ignore[attr-defined]
            first = first_line.setdefault(item_id, lineno)
            if first != lineno:
                raise InputError(f"duplicate {what} id '{item_id}' (first on line {first})",
                                 field="id", where=f"{path}:{lineno}")
            items.append(item)
    if not items:
        raise InputError(f"no {what}s in file", where=str(path))
    return items


def read_alerts(path: str | Path) -> list[Alert]:
    """All alerts of the file in file order; InputError ``file:line: ...`` on the first fault."""
    return _read(Path(path), parse_alert, "alert")


def read_tickets(path: str | Path) -> list[Ticket]:
    """All tickets of the file (CONTRACTS.md §5), validated the same way."""
    return _read(Path(path), parse_ticket, "ticket")


class JsonlConnector:
    """Registered connector for canonical ``.jsonl`` exports."""

    name = "jsonl"

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def pull(self) -> list[Alert]:
        return read_alerts(self.path)
