"""``aiops replay``: a file of canonical alerts through the live ingestion path.

The file is validated whole first (nothing is ingested from a file with a bad
line), then fed in ``starts_at`` order, in batches, to the same ``Engine.ingest``
the API calls. The output (CONTRACTS.md §3) is written to a temporary file and
renamed into place, so a reader never sees half of it.
"""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any

from aiops.durable import replace_with_text
from aiops.models import Alert
from aiops.runtime import Runtime
from aiops.store.queries import replay_incidents
from aiops.tickets.recommend import remediations_for
from connectors.jsonl import read_alerts

BATCH_SIZE = 2000
# Allocations between young-generation collections while a file is read or replayed
# (CPython's default is 700); see ``_bulk_allocation``.
BULK_GC_THRESHOLD = 50_000


@contextmanager
def _bulk_allocation() -> Iterator[None]:
    """Collect cyclic garbage less often while a replay allocates.

    Nearly everything a replay allocates (alerts, records, rows) lives on, so with the
    default thresholds the collector keeps re-scanning survivors, and once in a while
    the whole heap, text model included: 10-15% of a replay (benchmarks/ingest.py). The
    threshold of the youngest generation is raised for the duration and then put
    back; garbage is still collected, in fewer, larger passes.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], BULK_GC_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


class _NotPlain(Exception):
    """A value ``json_text`` leaves to ``json.dumps`` (a non-string key, a subclass)."""


def json_text(document: Any) -> str:
    """Exactly ``json.dumps(document, indent=1)``, in about half the time.

    With ``indent`` the standard library falls back to its pure-Python encoder, and a
    replay's output has one line per alert. Plain JSON values (dict with str keys,
    list, tuple, str, int, float, bool, None) are written here, strings by the same C
    escaper ``json`` uses; anything else is left to ``json.dumps`` itself, which then
    formats (or refuses) the document as before.
    """
    parts: list[str] = []
    try:
        _append_json(document, "\n", parts)
    except (_NotPlain, RecursionError):
        return json.dumps(document, indent=1)
    return "".join(parts)


def _append_json(value: Any, newline: str, parts: list[str]) -> None:
    """Append ``value``'s text; ``newline`` is a line break plus the value's indentation."""
    kind = type(value)
    if kind is list or kind is tuple:
        _append_array(value, newline, parts)
    elif kind is dict:
        _append_object(value, newline, parts)
    else:
        parts.append(_scalar_text(value))


def _scalar_text(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return encode_basestring_ascii(value)
    if value is None or value is True or value is False:
        return "null" if value is None else "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        if value != value:
            return "NaN"
        if value in (math.inf, -math.inf):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    raise _NotPlain


def _append_array(items: list[Any] | tuple[Any, ...], newline: str, parts: list[str]) -> None:
    if not items:
        parts.append("[]")
        return
    inner = newline + " "
    if all(type(item) is str for item in items):  # alert ids: one join, no recursion
        parts.append("[" + inner + ("," + inner).join(map(encode_basestring_ascii, items))
                     + newline + "]")
        return
    separator = "[" + inner
    for item in items:
        parts.append(separator)
        separator = "," + inner
        _append_json(item, inner, parts)
    parts.append(newline + "]")


def _append_object(obj: dict[Any, Any], newline: str, parts: list[str]) -> None:
    if not obj:
        parts.append("{}")
        return
    inner = newline + " "
    separator = "{" + inner
    for key, item in obj.items():
        if type(key) is not str:
            raise _NotPlain
        kind = type(item)
        if kind is list or kind is tuple or kind is dict:
            parts.append(separator + encode_basestring_ascii(key) + ": ")
            _append_json(item, inner, parts)
        else:  # scalars inline: most values of a document are
            parts.append(separator + encode_basestring_ascii(key) + ": " + _scalar_text(item))
        separator = "," + inner
    parts.append(newline + "}")


def write_json_atomically(path: Path, document: Any) -> None:
    """Write ``document`` (indented JSON) to ``path`` whole, durably (``aiops.durable``):
    a reader never sees half of it, nor an empty file after a power cut."""
    replace_with_text(path, json_text(document))


def load_alerts(alerts_path: Path) -> list[Alert]:
    """Validate the whole file and order it by ``starts_at`` (stable for equal times)."""
    with _bulk_allocation():
        alerts = read_alerts(alerts_path)
    alerts.sort(key=lambda a: a.starts_at)
    return alerts


def replay_file(runtime: Runtime, alerts_path: Path, output: Path | None,
                progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Replay ``alerts_path``; return (and write to ``output``) the incidents document."""
    return replay_alerts(runtime, load_alerts(alerts_path), output, progress)


def replay_alerts(runtime: Runtime, alerts: list[Alert], output: Path | None,
                  progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Ingest already validated, ordered alerts in batches and build the output."""
    engine = runtime.engine
    start_seq = engine.event_seq
    with _bulk_allocation():
        for start in range(0, len(alerts), BATCH_SIZE):
            chunk = alerts[start:start + BATCH_SIZE]
            engine.ingest(chunk)
            if progress is not None:
                progress(len(chunk))
        with runtime.db.connect() as conn:
            document = {"incidents": replay_incidents(conn, start_seq,
                                                      remediations_for(runtime))}
    if output is not None:
        write_json_atomically(output, document)
    return document
