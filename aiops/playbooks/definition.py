"""Playbook files: what an operator may run against an incident, checked before it runs.

A playbook is a YAML file in the data dir's ``playbooks/`` folder (``*.yml`` or
``*.yaml``)::

    name: bounce-bgp-session          # optional; defaults to the file name
    description: Clear the BGP session on the device at fault
    match:                            # optional; every criterion given must hold
      actions: [clear bgp, reset the bgp session]   # in a recommended remediation
      alert_types: [BGP_DOWN]                        # raised in the incident
      entities: ["pe-*"]                             # the top root cause (glob)
    auto:                             # optional: run it unasked (docs/playbooks.md)
      min_score: 0.7                  # the top root cause's score (as shown), at least
      min_alerts: 3                   # the incident's alerts, at least
      after: 120                      # seconds since the incident began, at least
      max_per_hour: 5                 # runs of this playbook started unasked, at most
      dry_run: false                  # true: record the filled steps, run nothing
      approval: false                 # true: wait for an operator's yes (the view, the API)
      approve_within: 3600            # seconds to wait for it; then the run is rejected
    steps:
      - name: open a change
        http:
          url: https://itsm.example/api/change
          method: POST                # default POST
          headers: {Authorization: "Bearer ${ITSM_TOKEN}"}
          json: {incident: "{incident.id}", device: "{root.entity}"}
        timeout: 10                   # seconds, default 10 for http
      - name: clear the session
        command: [/usr/local/bin/clear-bgp, "{root.entity}"]
        timeout: 60                   # seconds, default 60 for a command
        continue_on_error: false      # default: a failed step ends the run

Placeholders (``{incident.id}``, ``{root.entity}``, ...; ``PLACEHOLDERS``) are filled
from the incident when the run is asked for, ``${NAME}`` from the environment of the
process that runs the step, so secrets stay out of the files and the run records
(a ``$`` in a filled value is escaped, and what a step read is masked in its
outcome: aiops/playbooks/match.py).
Why files and not an API to create playbooks: what runs commands on the network is
reviewed and versioned like code; the API can only run what is already there.
Commands are argument lists run without a shell, so no value taken from an alert
can become shell syntax.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiops.errors import InputError
from aiops.yamlfile import read_yaml, yaml_files

PLACEHOLDERS = ("incident.id", "incident.title", "incident.severity", "root.entity",
                "root.node_id", "root.alert_id", "action")
# What looks like a placeholder: an unknown name in this form is a typo, refused.
PLACEHOLDER = re.compile(r"\{((?:incident|root)\.[a-z_]+|action)\}")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
MATCH_KEYS = ("actions", "alert_types", "entities")
MAX_TIMEOUT = 3600.0
MAX_FILE_BYTES = 256 * 1024  # a playbook is a page of YAML, and every view reads them all
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Step:
    """One step: an HTTP request or a command (exactly one of ``http``/``command``)."""

    name: str
    timeout: float
    http: dict[str, Any] | None = None  # url, method, headers, json
    command: tuple[str, ...] | None = None
    continue_on_error: bool = False

    @property
    def kind(self) -> str:
        return "http" if self.http is not None else "command"


@dataclass(frozen=True, slots=True)
class AutoPolicy:
    """When a playbook runs without an operator asking (aiops/playbooks/auto.py): every
    condition must hold, once per incident. The defaults are cautious: a cause the
    engine is fairly sure of, on an incident that is more than one alert and has had
    two minutes to gather its alarms, a handful of runs an hour at most."""

    min_score: float = 0.7  # the top root cause's score as the view shows it (not a
    # probability: the hand-weighted ranking's scores pass 1; a learned ranking's do not)
    min_alerts: int = 2
    after: float = 120.0
    max_per_hour: int = 5
    severities: tuple[str, ...] = ()  # the incident's severity among these (all if empty)
    dry_run: bool = False
    # Ask an operator first: the run waits ``needs-approval`` until one says yes (then it
    # runs) or no, or ``approve_within`` seconds pass (then it is rejected).
    approval: bool = False
    approve_within: float = 3600.0

    def summary(self) -> dict[str, Any]:
        return {"min_score": self.min_score, "min_alerts": self.min_alerts,
                "after": self.after, "max_per_hour": self.max_per_hour,
                "severities": list(self.severities), "dry_run": self.dry_run,
                "approval": self.approval, "approve_within": self.approve_within}


@dataclass(frozen=True, slots=True)
class Playbook:
    name: str
    path: str
    description: str = ""
    match: dict[str, tuple[str, ...]] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    auto: AutoPolicy | None = None

    def summary(self) -> dict[str, Any]:
        """What the API and the CLI show of a playbook (no secrets: ``${}`` stay unread)."""
        return {"name": self.name, "description": self.description, "file": self.path,
                "match": {k: list(v) for k, v in self.match.items()},
                "steps": [{"name": s.name, "kind": s.kind} for s in self.steps],
                "auto": self.auto.summary() if self.auto else None}


def _unknown(keys: Any, known: set[str] | tuple[str, ...]) -> str | None:
    """The first key of a mapping that is not in ``known``, as text, or None.

    YAML keys need not be strings (``1:``, ``yes:``); ordering them by their text keeps
    a file mixing such a key with a misspelt one refused by name, where ``sorted`` of
    an int and a str raised TypeError and took every playbook's listing down with it."""
    unknown = sorted((k for k in keys if k not in known), key=str)
    return str(unknown[0]) if unknown else None


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(
            isinstance(v, str) and v.strip() for v in value):
        raise InputError(f"{where} must be a non-empty list of strings")
    return tuple(value)


def _check_placeholders(value: Any, where: str) -> None:
    """Every ``{...}`` in the form of a placeholder must be a known one."""
    if isinstance(value, str):
        for found in PLACEHOLDER.findall(value):
            if found not in PLACEHOLDERS:
                raise InputError(f"{where}: unknown placeholder '{{{found}}}'; known: "
                                 + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_placeholders(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_placeholders(item, f"{where}.{key}")


def _timeout(raw: dict[str, Any], default: float, where: str) -> float:
    value = raw.get("timeout", default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            0 < value <= MAX_TIMEOUT):
        raise InputError(f"{where}: 'timeout' must be seconds in (0, {MAX_TIMEOUT:g}], "
                         f"got {value!r}")
    return float(value)


def _http(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InputError(f"{where}.http must be a mapping with a 'url'")
    unknown = _unknown(raw, ("url", "method", "headers", "json"))
    if unknown is not None:
        raise InputError(f"{where}.http: unknown key '{unknown}'")
    url = raw.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not (
            urlsplit(url).netloc):
        raise InputError(f"{where}.http.url must be an http:// or https:// URL, got {url!r}")
    method = str(raw.get("method", "POST")).upper()
    if method not in HTTP_METHODS:
        raise InputError(f"{where}.http.method must be one of {', '.join(HTTP_METHODS)}, "
                         f"got {raw.get('method')!r}")
    headers = raw.get("headers", {})
    if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise InputError(f"{where}.http.headers must map names to strings")
    out = {"url": url, "method": method, "headers": dict(headers)}
    if "json" in raw:
        try:  # YAML also reads dates, NaN and infinities, which JSON has not
            json.dumps(raw["json"], allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where}.http.json must be plain JSON values (strings, "
                             f"numbers, lists, mappings; quote dates): {exc}") from None
        out["json"] = raw["json"]
    _check_placeholders(out, f"{where}.http")
    return out


def _step(raw: Any, index: int, where: str) -> Step:
    here = f"{where}: steps[{index}]"
    if not isinstance(raw, dict):
        raise InputError(f"{here} must be a mapping")
    unknown = _unknown(raw, ("name", "http", "command", "timeout", "continue_on_error"))
    if unknown is not None:
        raise InputError(f"{here}: unknown key '{unknown}'")
    if ("http" in raw) == ("command" in raw):
        raise InputError(f"{here} needs exactly one of 'http' or 'command'")
    name = raw.get("name", f"step {index + 1}")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{here}: 'name' must be a non-empty string")
    keep_going = raw.get("continue_on_error", False)
    if not isinstance(keep_going, bool):
        raise InputError(f"{here}: 'continue_on_error' must be true or false")
    if "http" in raw:
        return Step(name, _timeout(raw, 10.0, here), http=_http(raw["http"], here),
                    continue_on_error=keep_going)
    command = raw["command"]
    if not isinstance(command, list) or not command or not all(
            isinstance(a, str) for a in command):
        raise InputError(f"{here}: 'command' must be a non-empty list of strings "
                         "(program and arguments; no shell)")
    _check_placeholders(command, f"{here}.command")
    return Step(name, _timeout(raw, 60.0, here), command=tuple(command),
                continue_on_error=keep_going)


def _number(raw: dict[str, Any], key: str, default: float, low: float, high: float,
            where: str, whole: bool = False) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            low <= value <= high) or (whole and value != int(value)):
        kind = "a whole number" if whole else "a number"
        raise InputError(f"{where}: auto.{key} must be {kind} in [{low:g}, {high:g}], "
                         f"got {value!r}")
    return float(value)


def _auto(raw: Any, where: str, criteria: dict[str, tuple[str, ...]]) -> AutoPolicy:
    """The ``auto`` block. A playbook that runs unasked must say what it is for: one
    without match criteria would run on every incident, so it is refused."""
    if raw is True or raw == {}:
        raw = {}
    if not isinstance(raw, dict):
        raise InputError(f"{where}: 'auto' must be a mapping of conditions (or true for "
                         "the defaults)")
    unknown = _unknown(raw, ("min_score", "min_alerts", "after", "max_per_hour",
                             "severities", "dry_run", "approval", "approve_within"))
    if unknown is not None:
        raise InputError(f"{where}: auto: unknown key '{unknown}'")
    if not criteria:
        raise InputError(f"{where}: 'auto' needs 'match' criteria: a playbook that runs "
                         "unasked must not fit every incident")
    default = AutoPolicy()
    severities = _strings(raw["severities"], f"{where}: auto.severities") \
        if "severities" in raw else ()
    known = ("critical", "major", "minor", "warning", "info")
    wrong = [s for s in severities if s not in known]
    if wrong:
        raise InputError(f"{where}: auto.severities: {wrong[0]!r} is not one of "
                         f"{', '.join(known)}")
    dry_run = raw.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise InputError(f"{where}: auto.dry_run must be true or false")
    approval = raw.get("approval", False)
    if not isinstance(approval, bool):
        raise InputError(f"{where}: auto.approval must be true or false")
    if "approve_within" in raw and not approval:
        raise InputError(f"{where}: auto.approve_within is only read with approval: true")
    return AutoPolicy(
        min_score=_number(raw, "min_score", default.min_score, 0.0, 1_000.0, where),
        min_alerts=int(_number(raw, "min_alerts", default.min_alerts, 1, 1_000_000, where,
                               whole=True)),
        after=_number(raw, "after", default.after, 0.0, 86_400.0, where),
        max_per_hour=int(_number(raw, "max_per_hour", default.max_per_hour, 1, 1000, where,
                                 whole=True)),
        severities=tuple(severities), dry_run=dry_run, approval=approval,
        approve_within=_number(raw, "approve_within", default.approve_within, 60.0,
                               7 * 86_400.0, where))


def parse_playbook(doc: Any, path: Path) -> Playbook:
    """One playbook document; every problem is an InputError naming the file and key."""
    where = path.name
    if not isinstance(doc, dict):
        raise InputError(f"{where}: expected a mapping with 'steps'")
    unknown = _unknown(doc, ("name", "description", "match", "steps", "auto"))
    if unknown is not None:
        raise InputError(f"{where}: unknown key '{unknown}'")
    name = doc.get("name", path.stem)
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(f"{where}: 'name' must be 1-64 letters, digits, '.', '_' or '-', "
                         f"got {name!r}")
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise InputError(f"{where}: 'description' must be a string")
    match = doc.get("match")
    match = {} if match is None else match
    if not isinstance(match, dict):
        raise InputError(f"{where}: 'match' must be a mapping of {', '.join(MATCH_KEYS)}")
    bad = _unknown(match, MATCH_KEYS)
    if bad is not None:
        raise InputError(f"{where}: match: unknown key '{bad}'; expected "
                         f"{', '.join(MATCH_KEYS)}")
    criteria = {key: _strings(value, f"{where}: match.{key}") for key, value in match.items()}
    steps = doc.get("steps")
    if not isinstance(steps, list) or not steps:
        raise InputError(f"{where}: 'steps' must be a non-empty list")
    auto = None
    if doc.get("auto") not in (None, False):
        auto = _auto(doc["auto"], where, criteria)
    return Playbook(name, str(path), description.strip(), criteria,
                    tuple(_step(raw, i, where) for i, raw in enumerate(steps)), auto)


def read_playbook(path: Path) -> Playbook:
    return parse_playbook(read_yaml(path, MAX_FILE_BYTES), path)


def load_playbooks(folder: Path) -> tuple[dict[str, Playbook], list[str]]:
    """Every playbook in ``folder`` by name, and the errors of the files refused.

    A bad file is left out with its error rather than hiding the good ones: one typo
    must not take every playbook away from the operator in the middle of an incident.
    Two files with one name are both refused (which one would run is not obvious).
    """
    found: dict[str, Playbook] = {}
    errors: list[str] = []
    clashes: set[str] = set()
    for path in yaml_files(folder):
        try:
            playbook = read_playbook(path)
        except InputError as exc:
            errors.append(str(exc))
            continue
        if playbook.name in found or playbook.name in clashes:
            other = found.pop(playbook.name, None)
            clashes.add(playbook.name)
            files = ", ".join(p for p in (other.path if other else None, playbook.path) if p)
            errors.append(f"{path.name}: playbook name '{playbook.name}' is used by more than "
                          f"one file ({files}); rename one")
            continue
        found[playbook.name] = playbook
    return found, errors
