"""Canonical objects every connector produces and every step consumes.

The shapes follow docs/contracts.md (CONTRACTS.md §1 and §5). Validation happens
here, once, at the edge: the rest of the engine trusts these objects. Validation is
hand-written rather than schema-driven because it runs on every ingested alert and
must name the offending field in its message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiops.errors import InputError
from aiops.timeutil import parse_timestamp, to_rfc3339
from topology.model import MAX_ID_LENGTH as MAX_NODE_ID

SEVERITIES: tuple[str, ...] = ("critical", "major", "minor", "warning", "info")
SEVERITY_RANK: dict[str, int] = {name: rank for rank, name in enumerate(SEVERITIES)}

# Limits that keep one bad producer from exhausting memory or the database.
MAX_ID_LENGTH = 256
# An alert's or ticket's ``entity`` names a topology node (a Kubernetes ``pod/NS/NAME``
# passes 256 characters), so it holds as much as a node id (migration 0015).
MAX_ENTITY_LENGTH = MAX_NODE_ID
MAX_TEXT_LENGTH = 8192
MAX_LABELS = 64
# The source of the alerts the engine raises about itself (``aiops.learning.drift_alert``):
# left out wherever the network's own alerts are measured.
OWN_SOURCE = "aiops"

@dataclass(slots=True)
class Alert:
    """One alert event as a source sent it (CONTRACTS.md §1)."""

    id: str
    source: str
    name: str
    entity: str
    severity: str
    summary: str
    starts_at: float
    ends_at: float | None = None
    labels: dict[str, str] = field(default_factory=dict)
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form, timestamps as RFC 3339."""
        out: dict[str, Any] = {
            "id": self.id,
            "source": self.source,
            "name": self.name,
            "entity": self.entity,
            "severity": self.severity,
            "summary": self.summary,
            "starts_at": to_rfc3339(self.starts_at),
            "ends_at": to_rfc3339(self.ends_at),
            "labels": dict(self.labels),
        }
        if self.description is not None:
            out["description"] = self.description
        return out


@dataclass(slots=True)
class Ticket:
    """A ticket from an ITSM system (CONTRACTS.md §5)."""

    id: str
    opened_at: float
    title: str
    resolved_at: float | None = None
    description: str | None = None
    entity: str | None = None
    root_cause: str | None = None
    resolution: str | None = None
    alert_ids: list[str] = field(default_factory=list)
    labels: dict[str, Any] = field(default_factory=dict)


def _required_str(obj: Mapping[str, Any], name: str, max_len: int = MAX_ID_LENGTH) -> str:
    if name not in obj or obj[name] is None:
        raise InputError(f"field '{name}' is required", field=name)
    return _str_value(obj[name], name, max_len, allow_empty=False)


def _optional_str(obj: Mapping[str, Any], name: str, max_len: int = MAX_TEXT_LENGTH) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    return _str_value(value, name, max_len, allow_empty=True)


def _str_value(value: Any, name: str, max_len: int, *, allow_empty: bool) -> str:
    if not isinstance(value, str):
        raise InputError(
            f"field '{name}' must be a string, got {_json_type(value)}", field=name
        )
    if not allow_empty and not value.strip():
        raise InputError(f"field '{name}' must not be empty", field=name)
    if len(value) > max_len:
        raise InputError(
            f"field '{name}' is {len(value)} characters long, the limit is {max_len}", field=name
        )
    if "\x00" in value:
        # PostgreSQL cannot store NUL in text; refuse it here rather than fail a batch later.
        raise InputError(f"field '{name}' contains a NUL character", field=name)
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _timestamp(obj: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise InputError(f"field '{name}' is required", field=name)
        return None
    try:
        return parse_timestamp(value, name)
    except ValueError as exc:
        raise InputError(str(exc), field=name) from None


def _labels(obj: Mapping[str, Any], name: str = "labels") -> dict[str, str]:
    value = obj.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"field '{name}' must be an object, got {_json_type(value)}", field=name)
    if len(value) > MAX_LABELS:
        raise InputError(
            f"field '{name}' has {len(value)} entries, the limit is {MAX_LABELS}", field=name
        )
    for key, item in value.items():
        _str_value(key, f"{name} key", MAX_ID_LENGTH, allow_empty=False)
        if not isinstance(item, str):
            raise InputError(
                f"field '{name}.{key}' must be a string, got {_json_type(item)}",
                field=f"{name}.{key}",
            )
        _str_value(item, f"{name}.{key}", MAX_TEXT_LENGTH, allow_empty=True)
    return value


def parse_alert(obj: Any) -> Alert:
    """Validate one canonical alert object; raise InputError naming the bad field.

    Runs on every ingested alert, so each field first gets an inline check of the
    common good case; any value that fails it goes through the general validators
    above, which decide and word the refusal. Both paths apply the same rules.
    """
    if not isinstance(obj, dict):
        raise InputError(f"an alert must be a JSON object, got {_json_type(obj)}")
    severity = _severity(obj)
    starts_at = _timestamp(obj, "starts_at", required=True)
    ends_at = _timestamp(obj, "ends_at", required=False)
    assert starts_at is not None
    if ends_at is not None and ends_at < starts_at:
        raise InputError("field 'ends_at' is before 'starts_at'", field="ends_at")
    return Alert(
        id=_identifier(obj, "id"),
        source=_identifier(obj, "source"),
        name=_identifier(obj, "name"),
        entity=_identifier(obj, "entity", MAX_ENTITY_LENGTH),
        severity=severity,
        summary=_text(obj, "summary", required=True),
        starts_at=starts_at,
        ends_at=ends_at,
        labels=_alert_labels(obj),
        description=_text(obj, "description", required=False),
    )


def _severity(obj: dict[str, Any]) -> str:
    """The severity, lower-cased; a known name needs no further check (it is short,
    not blank and has no NUL)."""
    value = obj.get("severity")
    if type(value) is str and (severity := value.lower()) in SEVERITY_RANK:
        return severity
    severity = _required_str(obj, "severity").lower()
    if severity not in SEVERITY_RANK:
        raise InputError(
            f"field 'severity' must be one of {', '.join(SEVERITIES)}, got {obj['severity']!r}",
            field="severity",
        )
    return severity


def _identifier(obj: dict[str, Any], name: str, max_len: int = MAX_ID_LENGTH) -> str:
    """A required, non-blank string of at most ``max_len`` characters without NUL."""
    value = obj.get(name)
    if (type(value) is str and 0 < len(value) <= max_len and "\x00" not in value
            and not value.isspace()):  # isspace() is True exactly when strip() leaves ""
        return value
    return _required_str(obj, name, max_len)


def _text(obj: dict[str, Any], name: str, *, required: bool) -> str | None:
    """Free text of at most MAX_TEXT_LENGTH characters without NUL; may be empty."""
    value = obj.get(name)
    if type(value) is str and len(value) <= MAX_TEXT_LENGTH and "\x00" not in value:
        return value
    return _required_text(obj, name) if required else _optional_str(obj, name)


def _alert_labels(obj: dict[str, Any]) -> dict[str, str]:
    """The labels object as given when every key and value passes the checks of
    ``_labels``; otherwise ``_labels`` finds and names the first fault."""
    value = obj.get("labels")
    if type(value) is dict and len(value) <= MAX_LABELS:
        for key, item in value.items():
            if not (type(key) is str and type(item) is str
                    and 0 < len(key) <= MAX_ID_LENGTH and len(item) <= MAX_TEXT_LENGTH
                    and "\x00" not in key and "\x00" not in item and not key.isspace()):
                break
        else:
            return value
    return _labels(obj)


def _required_text(obj: Mapping[str, Any], name: str) -> str:
    """Required free text: may be empty, must be present and a string."""
    if obj.get(name) is None:
        raise InputError(f"field '{name}' is required", field=name)
    return _str_value(obj[name], name, MAX_TEXT_LENGTH, allow_empty=True)


def parse_ticket(obj: Any) -> Ticket:
    """Validate one canonical ticket object (CONTRACTS.md §5)."""
    if not isinstance(obj, dict):
        raise InputError(f"a ticket must be a JSON object, got {_json_type(obj)}")
    opened_at = _timestamp(obj, "opened_at", required=True)
    assert opened_at is not None
    alert_ids = obj.get("alert_ids") or []
    if not isinstance(alert_ids, list) or not all(isinstance(a, str) for a in alert_ids):
        raise InputError("field 'alert_ids' must be an array of strings", field="alert_ids")
    labels = obj.get("labels") or {}
    if not isinstance(labels, dict):
        raise InputError(f"field 'labels' must be an object, got {_json_type(labels)}",
                         field="labels")
    return Ticket(
        id=_required_str(obj, "id"),
        opened_at=opened_at,
        title=_required_str(obj, "title", MAX_TEXT_LENGTH),
        resolved_at=_timestamp(obj, "resolved_at", required=False),
        description=_optional_str(obj, "description"),
        entity=_optional_str(obj, "entity", MAX_ENTITY_LENGTH),
        root_cause=_optional_str(obj, "root_cause"),
        resolution=_optional_str(obj, "resolution"),
        alert_ids=list(alert_ids),
        labels=labels,
    )
