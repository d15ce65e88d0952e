"""Reading a canonical topology JSON file, with errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path

from aiops.errors import InputError
from topology.model import Edge, Node, parse_topology


def read_topology(path: str | Path) -> tuple[list[Node], list[Edge]]:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where=str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError("not valid UTF-8", where=f"{path}:{line}") from None
    if not text.strip():
        raise InputError("file is empty; expected a topology JSON document", where=str(path))
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg} at column {exc.colno}",
                         where=f"{path}:{exc.lineno}") from None
    try:
        return parse_topology(doc)
    except InputError as exc:
        raise exc.located(str(path)) from None
