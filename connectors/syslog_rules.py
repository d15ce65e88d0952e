"""Rules that make alert conditions of syslog messages: which line is a link going
down, which one its coming back up.

A rule has a name of its own, a regular expression searched in the message, the
alert it is about (its name: a vendor's "up" and "down" messages are two rules of one
alert), whether a match fires or clears the condition (fixed, or read from a group of the
expression), and which groups are labels. A firing message and the clearing one
give the same name, host and labels, so the engine folds them into one alert that
fires and resolves. Built-in rules (``connectors/syslog_rules/network.yml``) cover
the common link and adjacency messages of Cisco IOS/IOS-XE, Junos and Linux; files
in the data dir's ``syslog/`` folder add to them, and a rule there with a built-in's
name replaces it. A message no rule matches is not an alert: syslog is mostly chatter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiops.errors import InputError
from aiops.models import SEVERITIES
from aiops.yamlfile import load_named, read_list
from connectors.syslog import SyslogMessage

BUILT_IN = Path(__file__).with_name("syslog_rules")
MAX_FILE_BYTES = 256 * 1024
KEYS = ("name", "alert", "match", "state", "labels", "severity", "summary")
# syslog severity 0..7 (emerg .. debug) when a rule does not set one
FROM_SYSLOG = ("critical", "critical", "critical", "major", "warning", "minor", "info", "info")
_GROUP = re.compile(r"\{(\w+)\}")
# Rules read at most this much of a message: the events they look for are one line, and
# a regular expression's time can grow faster than the text (a 64 KB datagram sent to
# make a listener stall).
RULE_TEXT = 4096
MAX_LABEL = 255


def rule_text(message: SyslogMessage) -> str:
    """What rules are matched against: the message, after its RFC 5424 MSGID when the
    message does not start with it (Junos writes the event's name only there)."""
    text = message.text[:RULE_TEXT]
    if message.msgid and not text.startswith(message.msgid):
        return f"{message.msgid}: {text}"
    return text


@dataclass(frozen=True, slots=True)
class Rule:
    name: str  # the rule's own, unique: a file's rule of a built-in's name replaces it
    alert: str  # the alert's name
    pattern: re.Pattern[str]
    origin: str
    fixed: str | None = None  # "fire" or "clear" for every match
    group: str | None = None  # else the group whose value decides
    fire: frozenset[str] = frozenset()  # lower-cased values of ``group``
    clear: frozenset[str] = frozenset()
    labels: tuple[str, ...] = ()
    severity: str | None = None
    summary: str | None = None

    def event(self, message: SyslogMessage, text: str | None = None) -> dict[str, Any] | None:
        """The JSON event for the ``syslog`` webhook mapping, or None (no match, or a
        state that neither fires nor clears, such as an OSPF neighbour in LOADING)."""
        found = self.pattern.search(rule_text(message) if text is None else text)
        if found is None:
            return None
        state = self.fixed
        if state is None:
            value = (found.group(self.group) or "").strip().lower()
            state = "fire" if value in self.fire else "clear" if value in self.clear else None
            if state is None:
                return None
        groups = {k: (v or "").strip() for k, v in found.groupdict().items()}
        summary = _GROUP.sub(lambda m: groups.get(m.group(1), m.group(0)), self.summary) \
            if self.summary else message.text.strip()
        event: dict[str, Any] = {
            "host": message.host, "name": self.alert,
            "state": "firing" if state == "fire" else "clear",
            "severity": self.severity or FROM_SYSLOG[message.severity],
            "summary": summary[:1000] or self.alert, "app": message.app,
            "labels": {label: groups[label][:MAX_LABEL] for label in self.labels
                       if groups.get(label)}}
        event["since" if state == "fire" else "ended"] = message.timestamp
        return event


@dataclass(slots=True)
class RuleSet:
    rules: list[Rule] = field(default_factory=list)

    def event(self, message: SyslogMessage) -> dict[str, Any] | None:
        """The first rule's event for the message (rules are tried in order)."""
        text = rule_text(message)
        for rule in self.rules:
            found = rule.event(message, text)
            if found is not None:
                return found
        return None


def _strings(raw: Any, where: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(v, str) and v for v in raw):
        raise InputError(f"{where} must be a text or a list of texts")
    return tuple(raw)


def rule_head(raw: Any, where: str, keys: tuple[str, ...], required: tuple[str, ...]) -> str:
    """Check what every rule has (a mapping of known keys, the required ones, a name and
    an alert of safe characters); return ``where`` with the rule's name."""
    if not isinstance(raw, dict):
        raise InputError(f"{where}: a rule is a mapping with {', '.join(required)}")
    unknown = sorted(map(str, set(raw) - set(keys)))
    if unknown:
        raise InputError(f"{where}: unknown key '{unknown[0]}'; expected {', '.join(keys)}")
    for key in required:
        if key not in raw:
            raise InputError(f"{where}: '{key}' is required")
    for key in ("name", "alert"):
        if not isinstance(raw[key], str) or not re.fullmatch(r"[A-Za-z0-9_.:-]{1,128}",
                                                               raw[key]):
            raise InputError(f"{where}: '{key}' must be 1-128 letters, digits, '_', '.', ':' "
                             "or '-'")
    return f"{where} ({raw['name']})"


def parse_rule(raw: Any, where: str, origin: str) -> Rule:
    where = rule_head(raw, where, KEYS, ("name", "alert", "match", "state"))
    name, alert = raw["name"], raw["alert"]
    try:
        pattern = re.compile(str(raw["match"]))
    except re.error as exc:
        raise InputError(f"{where}: match is not a regular expression ({exc})") from None
    groups = set(pattern.groupindex)
    fields: dict[str, Any] = {}
    state = raw["state"]
    if state in ("fire", "clear"):
        fields["fixed"] = state
    elif isinstance(state, dict) and set(state) <= {"group", "fire", "clear"} \
            and "group" in state:
        if state["group"] not in groups:
            raise InputError(f"{where}: state.group '{state['group']}' is not a named group "
                             "of match")
        fields.update(group=state["group"],
                      fire=frozenset(v.lower() for v in _strings(state.get("fire", []),
                                                                 f"{where}: state.fire")),
                      clear=frozenset(v.lower() for v in _strings(state.get("clear", []),
                                                                  f"{where}: state.clear")))
        if not fields["fire"] and not fields["clear"]:
            raise InputError(f"{where}: state needs the values that fire or clear")
    else:
        raise InputError(f"{where}: state must be fire, clear, or {{group, fire, clear}}")
    labels = _strings(raw.get("labels", []), f"{where}: labels") if raw.get("labels") else ()
    missing = [label for label in labels if label not in groups]
    if missing:
        raise InputError(f"{where}: label '{missing[0]}' is not a named group of match")
    severity = raw.get("severity")
    if severity is not None and severity not in SEVERITIES:
        raise InputError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
    summary = raw.get("summary")
    if summary is not None and not isinstance(summary, str):
        raise InputError(f"{where}: summary must be a text")
    return Rule(name=name, alert=alert, pattern=pattern, origin=origin, labels=labels,
                severity=severity, summary=summary, **fields)


def read_rules(path: Path) -> list[Rule]:
    return read_list(path, MAX_FILE_BYTES, parse_rule)


def load_rules(folder: Path | None) -> tuple[RuleSet, list[str]]:
    """The built-in rules, then each file of ``folder``'s (its rules first, replacing
    a built-in of the same name); a refused file is listed and the others still load."""
    rules, errors = load_named(BUILT_IN, folder, read_rules)
    return RuleSet(rules), errors
