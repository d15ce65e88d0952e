"""Reading a canonical topology JSON file, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

from aiops.errors import InputError
from aiops.jsontext import parse_json
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
        # parse_json, not json.loads: a document nested too deeply or a 5,000-digit
        # number was a traceback, and a lone UTF-16 surrogate escape (valid JSON, not
        # text) got as far as the store, which failed with a traceback encoding it.
        return parse_topology(parse_json(text))
    except InputError as exc:
        raise exc.located(str(path)) from None
