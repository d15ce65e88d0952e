"""Nagios Core 4's state as it writes it: ``status.dat`` (every host's and service's
current state, every ``status_update_interval`` seconds) and ``objects.cache`` (the
objects as configured, read for each host's address).

Both are blocks of ``name {`` … ``}``; status.dat's lines are ``key=value`` (a value may
hold ``=``: a plugin's output), objects.cache's are ``key<TAB>value``. Nagios writes
each to a temporary file it renames over the old one, so a reader sees a whole file;
what this still refuses (``StatusUnreadable``) is a file cut short or garbled by
anything else (a full disk, a copy in progress, another writer): a block left open,
a line outside a block, no ``info`` block, a host or service block without its name,
a state that is not a number. A follower that took such a file for Nagios's state
would end the alert of every problem it lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

HOST_STATES = {0: "UP", 1: "DOWN", 2: "UNREACHABLE"}
SERVICE_STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
FINE = ("UP", "OK")
HARD = "1"  # state_type


class StatusUnreadable(ValueError):
    """The file is not a whole status.dat (or objects.cache): cut short, garbled."""


@dataclass(frozen=True, slots=True)
class ObjectState:
    """One host's or service's state as status.dat has it. ``check`` is the service's
    description, or ``"host"`` for the host's own state, as the ``nagios`` webhook
    mapping names them (its alerts and these must be the same conditions)."""

    host: str
    check: str
    state: str  # the hard state: UP, DOWN, UNREACHABLE, OK, WARNING, CRITICAL, UNKNOWN
    output: str
    changed: int  # epoch seconds of the last hard state change: a recovery's end
    # When the problem began as a notification says it ($LASTSERVICESTATECHANGE$, the
    # first of its soft states): the last state change, if the state is hard.
    started: int
    # Whether another problem state came after the last fine check: the problem began
    # before ``started`` (WARNING, then CRITICAL), and status.dat does not say when.
    escalated: bool
    acknowledged: bool
    downtime: bool
    flapping: bool

    @property
    def key(self) -> tuple[str, str]:
        return self.host, self.check

    @property
    def is_problem(self) -> bool:
        return self.state not in FINE


def blocks(text: str, separator: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Each block's name and its keys, in file order; ``separator`` splits a line
    (``=`` in status.dat, a tab in objects.cache). Comments and blank lines outside a
    block are skipped; anything else there, or a block not closed, is refused."""
    name: str | None = None
    fields: dict[str, str] = {}
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if name is None:
            if not line or line.startswith("#"):
                continue
            if not line.endswith("{"):
                raise StatusUnreadable(f"line {number}: {line[:80]!r} is outside a block")
            name, fields = line[:-1].strip(), {}
            if not name:
                raise StatusUnreadable(f"line {number}: a block without a name")
        elif line == "}":
            yield name, fields
            name = None
        elif line:
            key, sep, value = raw.lstrip().partition(separator)
            if not sep:
                raise StatusUnreadable(f"line {number}: {line[:80]!r} in block {name!r} "
                                       f"has no {separator!r}")
            fields[key.strip()] = value.strip() if separator == "\t" else value
    if name is not None:
        raise StatusUnreadable(f"the file ends inside a {name!r} block (cut short?)")


def parse_status(text: str) -> dict[tuple[str, str], ObjectState]:
    """Every host and service of a whole status.dat, by (host, check). Raises
    ``StatusUnreadable`` for a file that is not one (see the module's docstring)."""
    found: dict[tuple[str, str], ObjectState] = {}
    seen_info = False
    for name, fields in blocks(text, "="):
        if name == "info":
            seen_info = True
        elif name in ("hoststatus", "servicestatus"):
            item = _object_state(name, fields)
            if item is not None:
                found[item.key] = item
    if not seen_info:
        raise StatusUnreadable("no 'info' block: not a Nagios status file")
    return found


def _object_state(kind: str, fields: dict[str, str]) -> ObjectState | None:
    """The state of one block; None for an object not checked yet (PENDING)."""
    host = fields.get("host_name", "")
    check = "host" if kind == "hoststatus" else fields.get("service_description", "")
    if not host or not check:
        raise StatusUnreadable(f"a {kind} block without its name")
    states = HOST_STATES if kind == "hoststatus" else SERVICE_STATES
    try:
        if fields.get("has_been_checked", "1") == "0":
            return None
        # SOFT states are left out: Nagios is still retrying, notifies none of them, and
        # an alert for each would fire and resolve between a check's retries. The hard
        # state stays what it was until the retries end.
        hard = (fields["current_state"] if fields.get("state_type") == HARD
                else fields["last_hard_state"])
        state = states[int(hard)]
        changed = int(fields.get("last_hard_state_change") or 0)
        started = (int(fields.get("last_state_change") or 0)
                   if fields.get("state_type") == HARD else changed)
        seen = {name: int(fields.get(f"last_time_{name.lower()}") or 0)
                for name in states.values()}
        fine = max(seen[name] for name in FINE if name in seen)
        escalated = any(when > fine for name, when in seen.items()
                        if name not in FINE and name != state)
        return ObjectState(
            host=host, check=check, state=state, output=fields.get("plugin_output", ""),
            changed=changed, started=started, escalated=escalated,
            acknowledged=fields.get("problem_has_been_acknowledged", "0") != "0",
            downtime=int(fields.get("scheduled_downtime_depth") or 0) > 0,
            flapping=fields.get("is_flapping", "0") != "0")
    except (KeyError, ValueError) as exc:
        raise StatusUnreadable(f"{kind} {host}!{check}: unreadable state ({exc!r})") from None


def parse_objects(text: str) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """From objects.cache: each host's address (Nagios writes the host name there when
    none is configured, as $HOSTADDRESS$ reads it), and the keys of every host (as
    ``(host, "host")``) and service it defines: what Nagios still has, asked before a
    problem missing from status.dat is ended."""
    addresses: dict[str, str] = {}
    keys: set[tuple[str, str]] = set()
    for name, fields in blocks(text, "\t"):
        if name == "define host" and "host_name" in fields:
            addresses[fields["host_name"]] = fields.get("address", "")
            keys.add((fields["host_name"], "host"))
        elif name == "define service" and "service_description" in fields:
            keys.add((fields.get("host_name", ""), fields["service_description"]))
    return addresses, keys
