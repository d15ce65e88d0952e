"""Generic webhooks: a YAML mapping turns any tool's JSON notification into canonical alerts.

Tools that can post JSON (Zabbix's webhook media type, a Nagios or Icinga
notification command, Grafana, an in-house script) differ only in where they put the
device, the problem's name, its state and its time. A mapping says where, so one
endpoint (``POST /api/v1/webhooks/{name}``) takes them all, and what comes in still
meets the same validation and deduplication as every other alert::

    source: zabbix                    # default: the mapping's name
    alerts: ""                        # where the alerts are: "" the body itself (an
                                      # object is one alert, an array many); or a path
    id: "zbx-{event_id}"              # optional; default: from name, entity, labels and
                                      # start, so a re-sent notification folds
    name: "{trigger_name}"            # required, like entity
    entity: "{host}"
    summary: "{event_name} on {host}" # default: the name
    description: "{opdata}"           # optional
    severity:                         # a template, or value + map (+ default)
      value: "{severity}"
      map: {Disaster: critical, High: major, Average: minor}
      default: warning
    starts_at:                        # a template, or value + format (+ timezone)
      value: "{event_date} {event_time}"
      format: "%Y.%m.%d %H:%M:%S"     # strptime; without it epoch seconds or RFC 3339
      timezone: "Europe/Paris"        # of a time without its own; default UTC
    fallback_start: "{state_since}"   # optional: the start when starts_at is empty
                                      # and the engine has no alert of the condition
    ends_at: {value: "{recovery_date} {recovery_time}", format: "%Y.%m.%d %H:%M:%S"}
    resolved: {value: "{event_value}", equals: ["0"]}  # also ends it (at receipt when
                                                       # ends_at is empty)
    state_report: {value: "{event_update_status}", equals: ["1"]}  # optional: the item
                                      # is the sender's report of the problem as it is
                                      # now (a severity changed since): its firing
                                      # alert takes its severity and summary; one with
                                      # no start and no end changes a firing alert only
    labels: {trigger_id: "{trigger_id}"}
    labels_from: {path: tags, name: tag, value: value}  # or a path to an object

A template is text with ``{path}`` placeholders: keys separated by dots, a number
indexes an array (``{tags.0.value}``); ``{{`` and ``}}`` are literal braces. A path
that finds nothing (or null) gives an empty text, and an empty optional field is
absent, so one mapping serves a problem and its recovery. An empty ``name`` or
``entity`` refuses the alert, naming the field and the paths that found nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiops.errors import InputError, NotFound
from aiops.models import SEVERITIES, Alert, parse_alert
from aiops.timeutil import parse_timestamp, to_rfc3339
from aiops.yamlfile import read_yaml, yaml_files

MAX_FILE_BYTES = 64 * 1024
LATEST = 253_402_300_799.0  # 9999-12-31T23:59:59Z: the last time RFC 3339 can write
MILLISECONDS_FROM = 1e11  # an epoch number this large is milliseconds (seconds: year 5138)
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
KEYS = ("source", "alerts", "id", "name", "entity", "summary", "description", "severity",
        "starts_at", "fallback_start", "ends_at", "resolved", "state_report", "labels",
        "labels_from")
_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


@dataclass(frozen=True, slots=True)
class Template:
    """Text with ``{path}`` placeholders, parsed once when the mapping loads."""

    parts: tuple[str | tuple[str, ...], ...]  # literal text, or a path's keys
    text: str

    def paths(self) -> list[str]:
        return [".".join(p) for p in self.parts if isinstance(p, tuple)]

    def render(self, item: Any) -> tuple[str, list[str]]:
        """The text, and the paths that found nothing."""
        out: list[str] = []
        missing: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = _lookup(item, part)
            if value is None or value == "":
                missing.append(".".join(part))
                continue
            out.append(_text(value, ".".join(part)))
        return "".join(out), missing


@dataclass(frozen=True, slots=True)
class TimeSpec:
    value: Template
    format: str | None = None
    zone: tzinfo | Template = UTC  # a template when the sender says its zone per message

    def zone_of(self, item: dict[str, Any], name: str) -> tzinfo:
        if not isinstance(self.zone, Template):
            return self.zone
        text = self.zone.render(item)[0].strip()
        try:
            return _zone(text or "UTC", f"{name}.timezone")
        except InputError as exc:
            raise InputError(str(exc), field=name) from None


class TooManyAlerts(InputError):
    """A notification of more alerts than one request may carry (the API's 413)."""

    def __init__(self, count: int, limit: int):
        super().__init__(f"batch of {count} alerts is over the limit of {limit} per request; "
                         "split it")


@dataclass(slots=True)
class Mapped:
    """The alerts of one notification, and which of them did not say when their
    condition started (a Nagios recovery cannot; some tools send no time at all):
    their ``starts_at`` is their end, or the time they arrived, until the engine gives
    them the start of their condition's firing alert (``Engine.ingest``'s
    ``start_unknown``), since it takes a start far from the recorded one for a new
    episode.

    ``state_report``: the alerts that are their sender's report of the problem as it
    is now (the mapping's ``state_report``: a Zabbix problem whose severity was
    changed, a Nagios acknowledgement): a firing alert takes their severity and
    summary (``Engine.ingest``'s ``state_reports``), which a mere re-send does not
    change. One that is also start-unknown and ends nothing changes a firing alert
    only: without one it makes none (a Nagios acknowledgement is not a new problem)."""

    alerts: list[Alert] = field(default_factory=list)
    start_unknown: list[int] = field(default_factory=list)
    state_report: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Mapping:
    """One webhook mapping, checked when loaded (``parse_mapping``)."""

    name: str
    origin: str  # the file it came from, or "built-in"
    source: str
    alerts: tuple[str, ...]  # path to the alerts; () is the body
    name_of: Template
    entity: Template
    starts_at: TimeSpec | None
    # A start-unknown problem's start when the engine has no alert of its condition (a
    # state query's "in this state since", which moves when the state changes).
    fallback_start: TimeSpec | None = None
    id: Template | None = None
    summary: Template | None = None
    description: Template | None = None
    severity: Template | None = None
    severity_map: dict[str, str] = field(default_factory=dict)
    severity_default: str = "warning"
    ends_at: TimeSpec | None = None
    resolved: Template | None = None
    resolved_when: tuple[str, ...] = ()
    state_report: Template | None = None
    state_report_when: tuple[str, ...] = ()
    labels: dict[str, Template] = field(default_factory=dict)
    labels_from: tuple[tuple[str, ...], str | None, str | None] | None = None

    def summary_view(self) -> dict[str, Any]:
        """What ``GET /api/v1/webhooks`` and ``aiops webhooks list`` show."""
        return {"name": self.name, "source": self.source, "origin": self.origin,
                "url": f"/api/v1/webhooks/{self.name}"}

    def apply(self, payload: Any, received: float | None = None,
              max_items: int | None = None) -> Mapped:
        """The canonical alerts of one notification; InputError names the item and field,
        ``TooManyAlerts`` a notification of more than ``max_items`` (before any work)."""
        received = time.time() if received is None else received
        items = _lookup(payload, self.alerts) if self.alerts else payload
        if items is None:
            raise InputError(f"no alerts at '{'.'.join(self.alerts)}' in the payload",
                             field=".".join(self.alerts))
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list) or not items:
            raise InputError("expected a JSON object or a non-empty array of them"
                             + (f" at '{'.'.join(self.alerts)}'" if self.alerts else ""))
        if max_items is not None and len(items) > max_items:
            raise TooManyAlerts(len(items), max_items)
        mapped = Mapped()
        for i, item in enumerate(items):
            where = f"alerts[{i}]"
            if not isinstance(item, dict):
                raise InputError("an alert must be a JSON object", where=where)
            try:
                canonical, start_known = self._canonical(item, received)
                mapped.alerts.append(parse_alert(canonical))
            except InputError as exc:
                raise exc.located(where) from None
            if not start_known:
                mapped.start_unknown.append(i)
            if (self.state_report is not None and self.state_report.render(item)[0]
                    .strip() in self.state_report_when):
                mapped.state_report.append(i)
        return mapped

    def _canonical(self, item: dict[str, Any], received: float) -> tuple[dict[str, Any], bool]:
        """The canonical form, and whether the item said when its problem started."""
        name = _required(self.name_of, item, "name")
        entity = _required(self.entity, item, "entity")
        labels = self._labels(item)
        starts = (_time(self.starts_at, item, "starts_at") if self.starts_at else None)
        ends = _time(self.ends_at, item, "ends_at") if self.ends_at else None
        if (ends is None and self.resolved is not None
                and self.resolved.render(item)[0].strip() in self.resolved_when):
            ends = received if starts is None else max(received, starts)
        start_known = starts is not None
        if starts is None and ends is None and self.fallback_start is not None:
            starts = _time(self.fallback_start, item, "fallback_start")  # still unknown
        if starts is None:  # the live alert's, when there is one (``Mapped``)
            starts = received if ends is None else ends
        summary = (self.summary.render(item)[0] if self.summary else "") or name
        out: dict[str, Any] = {
            "id": (self.id.render(item)[0] if self.id else "") or _event_id(
                self.source, name, entity, labels, starts if start_known or ends is None
                else None, ends),
            "source": self.source, "name": name, "entity": entity,
            "severity": self._severity(item), "summary": summary,
            "starts_at": to_rfc3339(starts), "labels": labels}
        if ends is not None:
            out["ends_at"] = to_rfc3339(max(ends, starts))
        if self.description is not None:
            text = self.description.render(item)[0]
            if text:
                out["description"] = text
        return out, start_known

    def _severity(self, item: dict[str, Any]) -> str:
        if self.severity is None:
            return self.severity_default
        raw = self.severity.render(item)[0].strip()
        if raw in self.severity_map:
            return self.severity_map[raw]
        lowered = raw.lower()
        if lowered in SEVERITIES:
            return lowered
        return self.severity_default

    def _labels(self, item: dict[str, Any]) -> dict[str, str]:
        labels: dict[str, str] = {}
        if self.labels_from is not None:
            path, key, value = self.labels_from
            where = f"labels_from '{'.'.join(path)}'"
            found = _lookup(item, path)
            if isinstance(found, str) and found.strip().startswith(("{", "[")):
                # Zabbix and others send a JSON document as one text parameter.
                try:
                    found = json.loads(found)
                except ValueError:
                    raise InputError(f"{where} is text that is not JSON",
                                     field="labels") from None
            if found not in (None, ""):
                labels = _labels_of(found, key, value, where)
        return {**labels, **self._own_labels(item)}

    def _own_labels(self, item: dict[str, Any]) -> dict[str, str]:
        out = {}
        for label, template in self.labels.items():
            text = template.render(item)[0]
            if text:
                out[label] = text
        return out


def _labels_of(decoded: Any, key: str | None, value: str | None, where: str) -> dict[str, str]:
    if isinstance(decoded, dict):
        return {str(k): _text(v, where) for k, v in decoded.items() if v is not None}
    if isinstance(decoded, list) and key is not None:
        return {_text(e[key], where): _text(e.get(value) if e.get(value) is not None else "",
                                            where)
                for e in decoded if isinstance(e, dict) and e.get(key) not in (None, "")}
    raise InputError(f"{where} must hold an object, or an array of objects with "
                     "labels_from.name set in the mapping", field="labels")


def _lookup(item: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if isinstance(item, dict):
            item = item.get(key)
        elif isinstance(item, list) and key.isdigit() and int(key) < len(item):
            item = item[int(key)]
        else:
            return None
    return item


def _text(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    raise InputError(f"'{where}' is {'an object' if isinstance(value, dict) else 'an array'}, "
                     "not a text or a number", field=where)


def _required(template: Template, item: dict[str, Any], name: str) -> str:
    text, missing = template.render(item)
    if not text.strip():
        found = f" (nothing at {', '.join(missing)})" if missing else ""
        raise InputError(f"field '{name}' is empty: '{template.text}' gave no text{found}",
                         field=name)
    return text


def _time(spec: TimeSpec, item: dict[str, Any], name: str) -> float | None:
    text, missing = spec.value.render(item)
    text = text.strip()
    if not text or (missing and not text.strip(" :.-/T")):
        return None
    if spec.format is not None:
        try:
            parsed = datetime.strptime(text, spec.format)
        except ValueError:
            raise InputError(f"field '{name}': {text!r} does not have the format "
                             f"{spec.format!r}", field=name) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=spec.zone_of(item, name))
        return parsed.timestamp()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        if MILLISECONDS_FROM <= number < MILLISECONDS_FROM * 1000:
            number /= 1000.0  # epoch milliseconds (JavaScript's Date.now(), Grafana)
        if not 0 <= number <= LATEST:
            raise InputError(f"field '{name}': {text} is not a time (epoch seconds up to "
                             "year 9999, or milliseconds)", field=name)
        try:
            return parse_timestamp(number, name)
        except ValueError as exc:
            raise InputError(str(exc), field=name) from None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"field '{name}' is not an RFC 3339 timestamp: {text!r} (epoch "
                         "seconds, RFC 3339, or set 'format' in the mapping)",
                         field=name) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=spec.zone_of(item, name))
    return parsed.timestamp()


def _event_id(source: str, name: str, entity: str, labels: dict[str, str],
              starts: float | None, ends: float | None) -> str:
    """An id that a re-sent notification of the same episode repeats: the engine folds
    it as a duplicate (a recovery that does not say when its problem began is named by
    its end)."""
    text = "\x1f".join([name, entity, *(f"{k}={v}" for k, v in sorted(labels.items()))])
    digest = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
    if starts is None:
        return f"{source}-{digest}-end-{int(ends or 0)}"
    return f"{source}-{digest}-{int(starts)}"


# --- loading -------------------------------------------------------------------------


def parse_template(raw: Any, where: str) -> Template:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        raise InputError(f"{where} must be a text template, got {type(raw).__name__}")
    parts: list[str | tuple[str, ...]] = []
    position = 0
    for match in _FIELD.finditer(raw):
        if match.start() > position:
            parts.append(raw[position:match.start()])
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append(token[0])
        elif token in ("{", "}"):
            raise InputError(f"{where}: unmatched '{token}' in {raw!r} (write {token * 2} "
                             "for a literal brace)")
        else:
            path = match.group(1).strip()
            keys = tuple(path.split("."))
            if not path or any(not k for k in keys):
                raise InputError(f"{where}: empty path in {raw!r}")
            parts.append(keys)
        position = match.end()
    if position < len(raw):
        parts.append(raw[position:])
    return Template(tuple(parts), raw)


def _key(value: Any, where: str) -> str:
    """A value of the mapping as the payload's would render (YAML ``true`` and JSON
    ``true`` both as "true", 2.0 as "2"), so they compare equal."""
    if value is None or isinstance(value, (dict, list)):
        raise InputError(f"{where}: {value!r} is not a text or a number")
    return _text(value, where)


def _zone(raw: Any, where: str) -> tzinfo:
    if raw is None:
        return UTC
    if not isinstance(raw, str):
        raise InputError(f"{where} must be UTC, an offset such as +02:00, or an IANA name")
    text = raw.strip()
    if text.upper() in ("UTC", "Z"):
        return UTC
    offset = _OFFSET.match(text)
    if offset:
        sign = -1 if offset.group(1) == "-" else 1
        hours, minutes = int(offset.group(2)), int(offset.group(3))
        if hours > 23 or minutes > 59:
            raise InputError(f"{where}: offset {raw!r} is out of range (-23:59 to +23:59)")
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InputError(f"{where}: unknown time zone {raw!r} (UTC, +02:00 or an IANA name "
                         "such as Europe/Paris)") from None


def _spec(raw: Any, where: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """``raw`` as a dict of ``keys`` (a bare template is its ``value``)."""
    if not isinstance(raw, dict):
        return {"value": parse_template(raw, where)}
    unknown = sorted(map(str, set(raw) - set(keys)))
    if unknown:
        raise InputError(f"{where}: unknown key '{unknown[0]}'; expected {', '.join(keys)}")
    if "value" not in raw:
        raise InputError(f"{where}: 'value' is required")
    return {**raw, "value": parse_template(raw["value"], f"{where}.value")}


def _time_spec(raw: Any, where: str) -> TimeSpec:
    spec = _spec(raw, where, ("value", "format", "timezone"))
    fmt = spec.get("format")
    if fmt is not None and (not isinstance(fmt, str) or "%" not in fmt):
        raise InputError(f"{where}.format must be a strptime format such as "
                         "'%Y.%m.%d %H:%M:%S'")
    zone = spec.get("timezone")
    if isinstance(zone, str) and "{" in zone:  # the sender's, per message: "{tz}"
        return TimeSpec(spec["value"], fmt, parse_template(zone, f"{where}.timezone"))
    return TimeSpec(spec["value"], fmt, _zone(zone, f"{where}.timezone"))


def _path(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None or raw == "":
        return ()
    if not isinstance(raw, str) or any(not k for k in raw.split(".")):
        raise InputError(f"{where} must be a dotted path such as 'data.alerts'")
    return tuple(raw.split("."))


def parse_mapping(doc: Any, name: str, origin: str) -> Mapping:
    """One mapping document; every problem is an InputError naming the file and key."""
    where = Path(origin).name if origin != "built-in" else f"{name} (built-in)"
    if not isinstance(doc, dict):
        raise InputError(f"{where}: expected a mapping with at least 'name' and 'entity'")
    unknown = sorted(map(str, set(doc) - set(KEYS)))
    if unknown:
        raise InputError(f"{where}: unknown key '{unknown[0]}'")
    for key in ("name", "entity"):
        if key not in doc:
            raise InputError(f"{where}: '{key}' is required")
    source = doc.get("source", name)
    if not isinstance(source, str) or not source.strip():
        raise InputError(f"{where}: 'source' must be a non-empty text")
    optional = {k: parse_template(doc[k], f"{where}: {k}")
                for k in ("id", "summary", "description") if doc.get(k) is not None}
    fields_: dict[str, Any] = {}
    if doc.get("severity") is not None:
        spec = _spec(doc["severity"], f"{where}: severity", ("value", "map", "default"))
        mapped = spec.get("map") or {}
        allowed = SEVERITIES
        if not isinstance(mapped, dict) or any(str(v) not in allowed for v in mapped.values()):
            raise InputError(f"{where}: severity.map must map texts to one of "
                             f"{', '.join(allowed)}")
        default = spec.get("default", "warning")
        if default not in allowed:
            raise InputError(f"{where}: severity.default must be one of {', '.join(allowed)}")
        fields_.update(severity=spec["value"],
                       severity_map={_key(k, f"{where}: severity.map"): str(v)
                                     for k, v in mapped.items()},
                       severity_default=default)
    for key, meaning in (("resolved", "resolved"), ("state_report", "a state report")):
        if doc.get(key) is None:
            continue
        spec = _spec(doc[key], f"{where}: {key}", ("value", "equals"))
        equals = spec.get("equals")
        if isinstance(equals, (str, int)):
            equals = [equals]
        if not isinstance(equals, list) or not equals:
            raise InputError(f"{where}: {key}.equals must list the values that mean "
                             f"{meaning}")
        fields_.update({key: spec["value"],
                        f"{key}_when": tuple(_key(e, f"{where}: {key}.equals")
                                             for e in equals)})
    labels = doc.get("labels") or {}
    if not isinstance(labels, dict):
        raise InputError(f"{where}: 'labels' must map label names to templates")
    raw_from = doc.get("labels_from")
    labels_from = None
    if isinstance(raw_from, dict):
        bad = sorted(map(str, set(raw_from) - {"path", "name", "value"}))
        if bad or "path" not in raw_from:
            raise InputError(f"{where}: labels_from takes path (required), name and value")
        for key in ("name", "value"):
            if not isinstance(raw_from.get(key, "value"), str):
                raise InputError(f"{where}: labels_from.{key} must be a key name")
        labels_from = (_path(raw_from["path"], f"{where}: labels_from.path"),
                       raw_from.get("name"), raw_from.get("value", "value"))
    elif raw_from is not None:
        labels_from = (_path(raw_from, f"{where}: labels_from"), None, None)
    return Mapping(
        name=name, origin=origin, source=source.strip(),
        alerts=_path(doc.get("alerts"), f"{where}: alerts"),
        name_of=parse_template(doc["name"], f"{where}: name"),
        entity=parse_template(doc["entity"], f"{where}: entity"),
        starts_at=(_time_spec(doc["starts_at"], f"{where}: starts_at")
                   if doc.get("starts_at") is not None else None),
        fallback_start=(_time_spec(doc["fallback_start"], f"{where}: fallback_start")
                        if doc.get("fallback_start") is not None else None),
        ends_at=(_time_spec(doc["ends_at"], f"{where}: ends_at")
                 if doc.get("ends_at") is not None else None),
        labels={str(k): parse_template(v, f"{where}: labels.{k}") for k, v in labels.items()},
        labels_from=labels_from, **optional, **fields_)


PRESETS = Path(__file__).with_name("webhook_presets")


def read_mapping(path: Path, origin: str | None = None) -> Mapping:
    """The mapping in ``path``, named after the file."""
    name = path.stem
    if not NAME.match(name):
        raise InputError(f"{path.name}: a mapping's file name is its URL "
                         "(/api/v1/webhooks/NAME): 1-64 lower-case letters, digits, '_' or "
                         "'-'")
    return parse_mapping(read_yaml(path, MAX_FILE_BYTES), name, origin or str(path))


_CACHE: dict[tuple[Path, str | None], tuple[tuple[int, int], Mapping | InputError]] = {}
_CACHE_LOCK = threading.Lock()


def _read_cached(path: Path, origin: str | None = None) -> Mapping:
    """``read_mapping``, parsed again only when the file's modification time or size
    changed: every webhook request looks its mapping up."""
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _CACHE_LOCK:
        cached = _CACHE.get((path, origin))
    if cached is None or cached[0] != stamp:
        try:
            outcome: Mapping | InputError = read_mapping(path, origin)
        except InputError as exc:
            outcome = exc
        with _CACHE_LOCK:
            _CACHE[(path, origin)] = (stamp, outcome)
        cached = (stamp, outcome)
    if isinstance(cached[1], InputError):
        raise cached[1]
    return cached[1]


def load_mappings(folder: Path) -> tuple[dict[str, Mapping], list[str]]:
    """The built-in mappings, then the files in ``folder`` (a file replaces the built-in
    of its name); a refused file is listed with its error and the others still load."""
    found = {m.name: m for m in (_read_cached(p, "built-in") for p in yaml_files(PRESETS))}
    errors: list[str] = []
    seen: dict[str, Path] = {}
    for path in yaml_files(folder):
        if path.stem in seen:
            found.pop(path.stem, None)
            errors.append(f"{path.name}: mapping '{path.stem}' is also in "
                          f"{seen[path.stem].name}; keep one")
            continue
        seen[path.stem] = path
        try:
            mapping = _read_cached(path)
        except InputError as exc:
            found.pop(path.stem, None)  # a broken override must not fall back silently
            errors.append(str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - one bad file must not take the rest away
            found.pop(path.stem, None)
            errors.append(f"{path.name}: cannot be used ({type(exc).__name__}: {exc})")
            continue
        found[mapping.name] = mapping
    return found, errors


def find_mapping(folder: Path, name: str) -> Mapping:
    """Mapping ``name``: InputError when its file was refused (with why), NotFound when
    there is none (naming the ones there are)."""
    found, errors = load_mappings(folder)
    if name in found:
        return found[name]
    refused = [e for e in errors if e.startswith((f"{name}.yml:", f"{name}.yaml:"))]
    if refused:
        raise InputError(f"webhook mapping '{name}' cannot be used: {refused[0]}")
    raise NotFound(f"no webhook mapping named '{name}' (known: "
                   f"{', '.join(['alertmanager', *sorted(found)])})")
