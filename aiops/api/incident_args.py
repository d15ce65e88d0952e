"""The incident filters read from a query string, for ``GET /api/v1/incidents`` and the
incident view alike, so a link copied from one filters the other the same way.

An empty value is no filter: the view's form sends every field, filled or not, and
``?severity=&q=`` must mean what ``?`` means. A bad value is an ``InputError`` naming
the parameter (a 400 in both).
"""

from __future__ import annotations

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


def _text(name: str, max_length: int) -> str | None:
    raw = request.args.get(name, "")
    if not raw.strip():
        return None
    if len(raw) > max_length:
        raise InputError(f"query parameter '{name}' must be at most {max_length} characters, "
                         f"got {len(raw)}", field=name)
    if "\x00" in raw:  # PostgreSQL refuses NUL in text: a 500 otherwise
        raise InputError(f"query parameter '{name}' must not contain NUL", field=name)
    return raw.strip()


def _boolean(name: str) -> bool | None:
    raw = request.args.get(name, "")
    if raw == "":
        return None
    if raw not in ("true", "false"):
        raise InputError(f"query parameter '{name}' must be true or false, got {raw!r}",
                         field=name)
    return raw == "true"


def _time(name: str) -> float | None:
    raw = request.args.get(name, "").strip()
    if raw == "":
        return None
    try:
        return parse_timestamp(epoch_or_text(raw), name)
    except ValueError as exc:
        raise InputError(str(exc).replace("field", "query parameter", 1), field=name) from None


def incident_filter() -> tuple[IncidentFilter, dict[str, Any]]:
    """The filters of this request and what they were read as (echoed in the answer:
    the node an entity name resolved to, the severities kept, times as RFC 3339)."""
    severity = request.args.get("severity", "")
    if severity and severity not in SEVERITIES:
        raise InputError(f"query parameter 'severity' must be one of {', '.join(SEVERITIES)} "
                         f"(the least grave kept), got {severity!r}", field="severity")
    entity = _text("entity", MAX_ENTITY_LENGTH)
    # Where an alert on this name would be placed (an alias, an FQDN, an interface's
    # device), so the incidents of the node are found by any of its names.
    node_id = runtime().current_topology().resolve(entity) if entity is not None else None
    since, until = _time("since"), _time("until")
    if since is not None and until is not None and until <= since:
        raise InputError("query parameter 'until' must be after 'since'", field="until")
    chosen = IncidentFilter(
        severities=at_least(severity) if severity else (), entity=entity, node_id=node_id,
        text=_text("q", MAX_TEXT_QUERY), acknowledged=_boolean("acknowledged"),
        suppressed=_boolean("suppressed"), since=since, until=until)
    said = {"severity": list(chosen.severities) or None, "entity": entity, "node_id": node_id,
            "q": chosen.text, "acknowledged": chosen.acknowledged,
            "suppressed": chosen.suppressed, "since": to_rfc3339(since),
            "until": to_rfc3339(until)}
    return chosen, said
