"""The incident filters read from a query string, for ``GET /api/v1/incidents`` and the
incident view alike, so a link copied from one filters the other the same way.

An empty value is no filter: the view's form sends every field, filled or not, and
``?severity=&q=`` must mean what ``?`` means. A bad value is an ``InputError`` naming
the parameter (a 400 in both).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import request

from aiops.api.util import runtime
from aiops.errors import InputError
from aiops.models import MAX_ENTITY_LENGTH, SEVERITIES
from aiops.store.incident_filter import IncidentFilter, at_least
from aiops.timeutil import epoch_or_text, parse_timestamp, to_rfc3339

MAX_TEXT_QUERY = 200  # characters of ``q``: a search phrase, not a document
FILTER_PARAMETERS = ("severity", "entity", "q", "acknowledged", "suppressed", "since",
                     "until")


@dataclass(frozen=True)
class Naming:
    """How a refusal names a filter: ``query parameter 'q'`` for a query string,
    ``option --text`` for a command line."""

    kind: str
    spelt: Callable[[str], str]

    def __call__(self, name: str) -> str:
        return f"{self.kind} {self.spelt(name)}"


QUERY_PARAMETER = Naming("query parameter", lambda name: f"'{name}'")


def _text(args: Mapping[str, str], name: str, max_length: int, named: Naming) -> str | None:
    raw = args.get(name) or ""
    if not raw.strip():
        return None
    if len(raw) > max_length:
        raise InputError(f"{named(name)} must be at most {max_length} characters, "
                         f"got {len(raw)}", field=name)
    if "\x00" in raw:  # PostgreSQL refuses NUL in text: a 500 otherwise
        raise InputError(f"{named(name)} must not contain NUL", field=name)
    return raw.strip()


def _boolean(args: Mapping[str, str], name: str, named: Naming) -> bool | None:
    raw = args.get(name) or ""
    if raw == "":
        return None
    if raw not in ("true", "false"):
        raise InputError(f"{named(name)} must be true or false, got {raw!r}", field=name)
    return raw == "true"


def _time(args: Mapping[str, str], name: str, named: Naming) -> float | None:
    raw = (args.get(name) or "").strip()
    if raw == "":
        return None
    try:
        return parse_timestamp(epoch_or_text(raw), name)
    except ValueError as exc:
        raise InputError(str(exc).replace(f"field '{name}'", named(name), 1),
                         field=name) from None


def read_filter(args: Mapping[str, str], resolve: Callable[[str], str | None],
                named: Naming = QUERY_PARAMETER) -> tuple[IncidentFilter, dict[str, Any]]:
    """The filters ``args`` ask for (``FILTER_PARAMETERS``; an empty value is none) and
    what they were read as (echoed in the answer: the node an entity name resolved to,
    the severities kept, times as RFC 3339). ``resolve`` places an entity name as an
    alert's would be placed; ``named`` says how a refusal names a filter (a query
    parameter, a command's option)."""
    severity = args.get("severity") or ""
    if severity and severity not in SEVERITIES:
        raise InputError(f"{named('severity')} must be one of {', '.join(SEVERITIES)} "
                         f"(the least grave kept), got {severity!r}", field="severity")
    entity = _text(args, "entity", MAX_ENTITY_LENGTH, named)
    # Where an alert on this name would be placed (an alias, an FQDN, an interface's
    # device), so the incidents of the node are found by any of its names.
    node_id = resolve(entity) if entity is not None else None
    since, until = _time(args, "since", named), _time(args, "until", named)
    if since is not None and until is not None and until <= since:
        raise InputError(f"{named('until')} must be after {named.spelt('since')}",
                         field="until")
    chosen = IncidentFilter(
        severities=at_least(severity) if severity else (), entity=entity, node_id=node_id,
        text=_text(args, "q", MAX_TEXT_QUERY, named),
        acknowledged=_boolean(args, "acknowledged", named),
        suppressed=_boolean(args, "suppressed", named), since=since, until=until)
    said = {"severity": list(chosen.severities) or None, "entity": entity, "node_id": node_id,
            "q": chosen.text, "acknowledged": chosen.acknowledged,
            "suppressed": chosen.suppressed, "since": to_rfc3339(since),
            "until": to_rfc3339(until)}
    return chosen, said


def incident_filter() -> tuple[IncidentFilter, dict[str, Any]]:
    """The filters of this request (``read_filter`` of its query string)."""
    return read_filter(request.args, runtime().current_topology().resolve)
