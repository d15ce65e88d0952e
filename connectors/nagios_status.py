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

Who acknowledged a problem and why, and which downtimes suppress it, are status.dat's
``hostcomment``/``servicecomment`` blocks of ``entry_type=4`` (an acknowledgement's
comment: ``author``, ``comment_data``, ``entry_time``) and its ``hostdowntime``/
``servicedowntime`` blocks (``downtime_id``, ``author``, ``comment``, ``end_time``,
``fixed``, ``flex_downtime_start``, ``duration``, ``is_in_effect``), as Nagios Core 4.4
writes them. An object's ``acknowledged_by`` is ``"AUTHOR: COMMENT"`` of its newest
acknowledgement comment, said only while ``problem_has_been_acknowledged`` is set (a
persistent comment outlives its acknowledgement). ``suppressed_by`` names the downtimes
in effect, by id: ``"downtime ID by AUTHOR until ISO-TIME: COMMENT"``, joined with
``"; "``; the time is the downtime's end (a flexible one's: its start plus its
duration). A host's downtime also suppresses its services (Nagios notifies none of
their problems), though Nagios does not count it in the services'
``scheduled_downtime_depth``: a service of a host in a downtime reads ``downtime``, by
the host's downtime. A comment or downtime block missing one of these fields, or with
one that is not a number, is skipped (the file is still whole: the acknowledgement or
downtime is still said, without who or which).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from aiops.engine.alert_status import acknowledged_by, downtime_said

HOST_STATES = {0: "UP", 1: "DOWN", 2: "UNREACHABLE"}
SERVICE_STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
FINE = ("UP", "OK")
HARD = "1"  # state_type
ACKNOWLEDGEMENT_COMMENT = "4"  # a comment's entry_type (1 user, 2 downtime, 3 flapping)


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
    downtime: bool  # in a downtime of its own or (a service) of its host's
    flapping: bool
    acknowledged_by: str = ""  # "AUTHOR: COMMENT", while acknowledged and Nagios says
    suppressed_by: str = ""  # the downtimes in effect, while in one and Nagios says

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
    acknowledgements: dict[tuple[str, str], tuple[int, int, str]] = {}
    downtimes: dict[tuple[str, str], list[tuple[int, str]]] = {}
    seen_info = False
    for name, fields in blocks(text, "="):
        if name == "info":
            seen_info = True
        elif name in ("hoststatus", "servicestatus"):
            item = _object_state(name, fields)
            if item is not None:
                found[item.key] = item
        elif name in ("hostcomment", "servicecomment"):
            _note_acknowledgement(name, fields, acknowledgements)
        elif name in ("hostdowntime", "servicedowntime"):
            _note_downtime(name, fields, downtimes)
    if not seen_info:
        raise StatusUnreadable("no 'info' block: not a Nagios status file")
    return _with_who_and_which(found, acknowledgements, downtimes)


def written_at(text: str) -> int | None:
    """When Nagios wrote this status.dat: its ``info`` block's ``created`` (the first
    block, so only the file's head is looked at); None when it does not say. The
    follower compares it with the log's times to tell a status.dat written before a
    line it read from the log (``aiops.nagios_log_episodes``)."""
    start = text.find("info {")
    if start < 0:
        return None
    for line in text[start:text.find("}", start)].split("\n"):
        key, _, value = line.strip().partition("=")
        if key == "created":
            return int(value) if value.isascii() and value.isdigit() else None
    return None


def _subject(kind: str, fields: dict[str, str]) -> tuple[str, str] | None:
    """The (host, check) a comment or downtime block is of; None without its names."""
    host = fields.get("host_name", "")
    check = "host" if kind.startswith("host") else fields.get("service_description", "")
    return (host, check) if host and check else None


def _note_acknowledgement(kind: str, fields: dict[str, str],
                          found: dict[tuple[str, str], tuple[int, int, str]]) -> None:
    """Keep an acknowledgement comment if it is its object's newest (by entry time,
    then id: a persistent one stays after its acknowledgement ends and another is
    given); a block missing a field is skipped."""
    if fields.get("entry_type") != ACKNOWLEDGEMENT_COMMENT:
        return
    subject = _subject(kind, fields)
    author, comment = fields.get("author"), fields.get("comment_data")
    if subject is None or author is None or comment is None:
        return
    try:
        order = (int(fields["entry_time"]), int(fields["comment_id"]))
    except (KeyError, ValueError):
        return
    said = acknowledged_by(author, comment)
    if said and (subject not in found or found[subject][:2] < order):
        found[subject] = (*order, said)


def _note_downtime(kind: str, fields: dict[str, str],
                   found: dict[tuple[str, str], list[tuple[int, str]]]) -> None:
    """Keep a downtime in effect (``is_in_effect``; a file without it: every one), by
    id, as its object's ``suppressed_by`` names it; a block missing a field is
    skipped."""
    subject = _subject(kind, fields)
    author, comment = fields.get("author"), fields.get("comment")
    if subject is None or author is None or comment is None \
            or fields.get("is_in_effect", "1") == "0":
        return
    try:
        number = int(fields["downtime_id"])
        until = int(fields["end_time"])
        if fields.get("fixed", "1") == "0" and int(fields.get("flex_downtime_start") or 0):
            until = int(fields["flex_downtime_start"]) + int(fields["duration"])
        said = downtime_said(str(number), author, until, comment)
    except (KeyError, ValueError, OverflowError, OSError):
        return
    found.setdefault(subject, []).append((number, said))


def _with_who_and_which(found: dict[tuple[str, str], ObjectState],
                        acknowledgements: dict[tuple[str, str], tuple[int, int, str]],
                        downtimes: dict[tuple[str, str], list[tuple[int, str]]],
                        ) -> dict[tuple[str, str], ObjectState]:
    """Each object with who acknowledged it and which downtimes suppress it; a service
    of a host in a downtime is in that downtime (see the module's docstring)."""
    if not acknowledgements and not downtimes \
            and not any(item.downtime for item in found.values()):
        return found  # the common case: nothing to say, no second pass
    for key, item in found.items():
        host = found.get((item.host, "host")) if item.check != "host" else None
        in_host_downtime = host is not None and host.downtime
        if not (item.acknowledged or item.downtime or in_host_downtime):
            continue
        ack = acknowledgements.get(key) if item.acknowledged else None
        which: list[tuple[int, str]] = []
        if item.downtime:
            which += downtimes.get(key, [])
        if in_host_downtime:
            which += downtimes.get((item.host, "host"), [])
        found[key] = replace(item, downtime=item.downtime or in_host_downtime,
                             acknowledged_by=ack[2] if ack else "",
                             suppressed_by="; ".join(said for _, said in sorted(which)))
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
