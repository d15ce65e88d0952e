"""The discovery schedule file: which source runs how often, with which options.

YAML (or JSON, which YAML reads too)::

    discovery:
      - name: netbox            # optional; defaults to the source name
        source: netbox
        every: 1h               # seconds, or a number with s, m, h or d
        options: {url: https://netbox.example, token_env: NETBOX_TOKEN}
      - source: kubernetes
        cron: "*/15 * * * *"    # minute hour day-of-month month day-of-week
        options: {api: https://k8s.example:6443, token_file: /run/secrets/k8s-token}

The same entries feed Celery beat (aiops/tasks.py) and the in-process scheduler
of the embedded default (``aiops topology schedule``). This module only parses and
validates, so a bad file is refused with the entry and field named before any
scheduler starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiops.errors import InputError
from topology.discovery.registry import names

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    name: str
    source: str
    every: float | None = None  # seconds
    cron: dict[str, str] | None = None  # CRON_FIELDS -> field text
    options: dict[str, Any] = field(default_factory=dict)


def parse_duration(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise InputError(f"{where}: 'every' must be seconds or a duration such as 15m")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise InputError(f"{where}: 'every' must be seconds or a duration such as 15m, "
                             f"got {value!r}")
        seconds = float(match[1]) * _UNIT[match[2]]
    if seconds < 1:
        raise InputError(f"{where}: 'every' must be at least 1 second")
    return seconds


def parse_cron(value: Any, where: str) -> dict[str, str]:
    parts = str(value).split()
    if len(parts) != len(CRON_FIELDS):
        raise InputError(f"{where}: 'cron' needs 5 fields (minute hour day month weekday), "
                         f"got {value!r}")
    return dict(zip(CRON_FIELDS, parts, strict=True))


def parse_schedule(doc: Any, where: str = "schedule") -> list[ScheduleEntry]:
    if not isinstance(doc, dict) or not isinstance(doc.get("discovery"), list):
        raise InputError(f"{where}: expected a mapping with a 'discovery' list")
    known = names()
    entries: list[ScheduleEntry] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc["discovery"]):
        here = f"{where}: discovery[{i}]"
        if not isinstance(raw, dict):
            raise InputError(f"{here}: an entry must be a mapping")
        source = raw.get("source")
        if source not in known:
            raise InputError(f"{here}: 'source' must be one of {', '.join(known)}, "
                             f"got {source!r}")
        if ("every" in raw) == ("cron" in raw):
            raise InputError(f"{here}: give exactly one of 'every' and 'cron'")
        options = raw.get("options") or {}
        if not isinstance(options, dict):
            raise InputError(f"{here}: 'options' must be a mapping")
        name = str(raw.get("name") or source)
        if name in seen:
            raise InputError(f"{here}: duplicate entry name {name!r}")
        seen.add(name)
        entries.append(ScheduleEntry(
            name=name, source=source,
            every=parse_duration(raw["every"], here) if "every" in raw else None,
            cron=parse_cron(raw["cron"], here) if "cron" in raw else None,
            options=dict(options)))
    return entries


def load_schedule(path: str | Path) -> list[ScheduleEntry]:
    """Entries of a schedule file; InputError naming the file, entry and field."""
    from topology.discovery.inventory import read_yaml_document

    return parse_schedule(read_yaml_document(Path(path)), str(path))
