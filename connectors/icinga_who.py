"""Who acknowledged an Icinga 2 problem, and which downtimes suppress it: the labels
``acknowledged_by`` and ``suppressed_by`` (``aiops.engine.alert_status``), in the same
words as Nagios's.

An object's ``acknowledgement`` and ``downtime_depth`` say only whether; who and which
are Icinga's comments and downtimes, which ``aiops icinga follow`` keeps per host and
service (``WhoAndWhich``):

- at every (re)connect, from one query of ``/v1/objects/comments`` (``entry_type`` 4:
  an acknowledgement's comment, with ``author`` and ``text``) and one of
  ``/v1/objects/downtimes`` (those in effect; Icinga 2.13 has no ``is_in_effect``
  attribute, so the filter says what its ``Downtime::IsInEffect`` does, on Icinga's
  own clock: ``IN_EFFECT``);
- then from the event stream: ``AcknowledgementSet`` carries ``author`` and
  ``comment``, ``AcknowledgementCleared`` ends it; ``DowntimeStarted`` (a fixed one;
  a flexible one is in effect once triggered), ``DowntimeTriggered`` and
  ``DowntimeRemoved`` carry the ``downtime`` object (``name``, ``author``,
  ``comment``, ``start_time``, ``end_time``, ``fixed``, ``duration``,
  ``trigger_time``, ``entry_time``). So a removal of one of two downtimes leaves the
  other named.

Both can end by their own time, which Icinga 2.13.6 says late or not at all on the
stream (seen there): a downtime's end (a fixed one's ``end_time``, a triggered flexible
one's ``trigger_time`` plus ``duration``) is followed by ``DowntimeRemoved`` only when
its expiry timer next runs, every 60 s, while the object's ``downtime_depth`` drops at
the end itself; an acknowledgement's ``expiry`` sends ``AcknowledgementCleared`` only
when something next asks for it (a check result), and the object's
``acknowledgement`` stays 1 until then. So each downtime and acknowledgement is kept
with its end (``Downtime.until``, ``Acknowledgement.expiry``): ``next_end`` says when
the follower must read the object again, and ``end`` forgets what ended.

``acknowledged_by`` is ``"AUTHOR: COMMENT"`` of the object's newest acknowledgement
(a persistent comment outlives its acknowledgement: it is said only while the object
reads acknowledged). ``suppressed_by`` names its downtimes in effect, ``"downtime NAME
by AUTHOR until ISO-TIME: COMMENT"`` (NAME: the downtime's short name; the end: a
flexible one's trigger time plus its duration), oldest first (entry time, then name),
joined by ``"; "``, while the object reads suppressed. Icinga counts a host's downtime
in its services' ``downtime_depth`` only as downtimes of their own (``all_services``,
or ``child_options`` for child hosts), and notifies a service's problem during a
downtime of its host alone: so a service is suppressed by, and names, its own
downtimes only.

Bad input is never fatal: a part missing from an acknowledgement is left out (neither
part: no ``acknowledged_by``); a downtime without a name cannot be told apart from
another and is skipped, logged (its object still reads ``suppressed``, without it),
and one missing its author, end or comment is named without that part.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from aiops.engine.alert_status import acknowledged_by, downtime_said

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (host, service); service "" for the host itself
ACKNOWLEDGEMENT_COMMENT = 4  # a comment's entry_type (1 user, 2 downtime, 3 flapping)
COMMENT_ATTRS = ["host_name", "service_name", "author", "text", "entry_time", "entry_type",
                 "expire_time"]
COMMENTS_FILTER = f"comment.entry_type == {ACKNOWLEDGEMENT_COMMENT}"
DOWNTIME_ATTRS = ["name", "host_name", "service_name", "author", "comment", "start_time",
                  "end_time", "fixed", "duration", "trigger_time", "entry_time"]
# Downtime::IsInEffect (Icinga 2.13): a fixed one between its start and end, a
# flexible one from its trigger for its duration.
IN_EFFECT = ("downtime.fixed && downtime.start_time <= get_time() && "
             "get_time() < downtime.end_time || !downtime.fixed && "
             "downtime.trigger_time > 0 && get_time() < downtime.trigger_time + "
             "downtime.duration")


@dataclass(frozen=True, slots=True)
class Downtime:
    name: str
    entry_time: float
    said: str  # as suppressed_by names it
    until: float | None = None  # when it ends by its own time (None: not said)


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    entry_time: float
    said: str  # as acknowledged_by says it
    expiry: float | None = None  # when it ends by its own time (None: when removed)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _key(host: Any, service: Any) -> Key | None:
    if not isinstance(host, str) or not host:
        return None
    return host, service if isinstance(service, str) else ""


def acknowledgement_of(doc: Any) -> tuple[Key, str] | None:
    """The object an ``AcknowledgementSet`` event (or an acknowledgement comment's
    ``attrs``, ``text`` for ``comment``) is of, and its ``acknowledged_by`` ("" when it
    says neither author nor comment); None without a host."""
    if not isinstance(doc, dict):
        return None
    if "host_name" in doc:
        key, comment = _key(doc.get("host_name"), doc.get("service_name")), doc.get("text")
    else:
        key, comment = _key(doc.get("host"), doc.get("service")), doc.get("comment")
    if key is None:
        return None
    return key, acknowledged_by(_text(doc.get("author")), _text(comment))


def expiry_of(value: Any) -> float | None:
    """An acknowledgement's ``expiry`` (its comment's ``expire_time``) as a time, or None
    for 0 (none: it lasts until removed, or the state changes) or no number."""
    expiry = _number(value)
    return expiry if expiry else None


def downtime_of(attrs: Any) -> tuple[Key, Downtime] | None:
    """The object a serialized downtime (an event's ``downtime``, a query's ``attrs``) is
    of, and how ``suppressed_by`` names it; None, logged, for one without a host or a
    name."""
    if not isinstance(attrs, dict):
        return None
    key, name = _key(attrs.get("host_name"), attrs.get("service_name")), attrs.get("name")
    if key is None or not isinstance(name, str) or not name:
        log.warning("icinga: a downtime without its host or name; not named: %s",
                    str(attrs)[:200])
        return None
    until = _number(attrs.get("end_time"))
    trigger, duration = _number(attrs.get("trigger_time")), _number(attrs.get("duration"))
    if attrs.get("fixed") is False and trigger and duration is not None:
        until = trigger + duration
    try:
        said = downtime_said(name, _text(attrs.get("author")), until,
                             _text(attrs.get("comment")))
    except (OverflowError, OSError, ValueError):  # an end beyond what a date can say
        said = downtime_said(name, _text(attrs.get("author")), None,
                             _text(attrs.get("comment")))
    return key, Downtime(name, _number(attrs.get("entry_time")) or 0.0, said, until)


def in_effect_by_event(doc: dict[str, Any]) -> bool:
    """Whether a DowntimeStarted or DowntimeTriggered event puts its downtime in effect:
    a flexible downtime's start only opens its window (it is in effect once triggered,
    by a problem, and Icinga says DowntimeTriggered then)."""
    if doc.get("type") == "DowntimeTriggered":
        return True
    downtime = doc.get("downtime")
    return isinstance(downtime, dict) and (downtime.get("fixed") is not False
                                           or bool(_number(downtime.get("trigger_time"))))


@dataclass(slots=True)
class WhoAndWhich:
    """Per host and service: who acknowledged it (its newest acknowledgement) and the
    downtimes in effect, by name."""

    acknowledgements: dict[Key, Acknowledgement] = field(default_factory=dict)
    downtimes: dict[Key, dict[str, Downtime]] = field(default_factory=dict)

    def take_comments(self, results: list[Any]) -> None:
        """Replace the acknowledgements with an acknowledgement-comment query's: the
        newest of each object's (entry time)."""
        found: dict[Key, Acknowledgement] = {}
        for result in results:
            attrs = result.get("attrs") if isinstance(result, dict) else None
            ack = acknowledgement_of(attrs)
            if ack is None or attrs.get("entry_type") != ACKNOWLEDGEMENT_COMMENT:
                continue
            at = _number(attrs.get("entry_time")) or 0.0
            if ack[1] and (ack[0] not in found or found[ack[0]].entry_time <= at):
                # The comment expires with its acknowledgement (2.13.6: the same time).
                found[ack[0]] = Acknowledgement(at, ack[1], expiry_of(attrs.get("expire_time")))
        self.acknowledgements = found

    def take_downtimes(self, results: list[Any]) -> None:
        """Replace the downtimes with a query's of those in effect."""
        found: dict[Key, dict[str, Downtime]] = {}
        for result in results:
            one = downtime_of(result.get("attrs") if isinstance(result, dict) else None)
            if one is not None:
                found.setdefault(one[0], {})[one[1].name] = one[1]
        self.downtimes = found

    def note(self, doc: Any) -> None:
        """What an event of the stream says of who or which (any other is ignored)."""
        kind = doc.get("type") if isinstance(doc, dict) else None
        if kind == "AcknowledgementSet":
            ack = acknowledgement_of(doc)
            if ack is not None:
                if ack[1]:
                    self.acknowledgements[ack[0]] = Acknowledgement(
                        _number(doc.get("timestamp")) or 0.0, ack[1],
                        expiry_of(doc.get("expiry")))
                else:  # says nobody: what an earlier one said is not this one's
                    self.acknowledgements.pop(ack[0], None)
        elif kind == "AcknowledgementCleared":
            key = _key(doc.get("host"), doc.get("service"))
            if key is not None:
                self.acknowledgements.pop(key, None)
        elif kind in ("DowntimeStarted", "DowntimeTriggered", "DowntimeRemoved"):
            one = downtime_of(doc.get("downtime"))
            if one is None:
                return
            key, downtime = one
            if kind == "DowntimeRemoved":
                known = self.downtimes.get(key, {})
                known.pop(downtime.name, None)
                if not known:
                    self.downtimes.pop(key, None)
            elif in_effect_by_event(doc):
                self.downtimes.setdefault(key, {})[downtime.name] = downtime

    def next_end(self) -> float | None:
        """The earliest time at which a downtime in effect or an acknowledgement it
        knows ends by its own time, or None: when an object must be read again."""
        ends = [d.until for known in self.downtimes.values() for d in known.values()
                if d.until is not None]
        ends += [a.expiry for a in self.acknowledgements.values() if a.expiry is not None]
        return min(ends, default=None)

    def end(self, now: float) -> set[Key]:
        """Forget the downtimes and acknowledgements that ended by their own time at or
        before ``now``; the hosts and services they were of (to be read again: Icinga
        says it on the stream late or not at all)."""
        ended: set[Key] = set()
        for key, known in list(self.downtimes.items()):
            for name in [n for n, d in known.items() if d.until is not None
                         and d.until <= now]:
                del known[name]
                ended.add(key)
            if not known:
                del self.downtimes[key]
        for key, ack in list(self.acknowledgements.items()):
            if ack.expiry is not None and ack.expiry <= now:
                del self.acknowledgements[key]
                ended.add(key)
        return ended

    def forget(self, key: Key) -> None:
        """A host or service deleted from Icinga: what it said of who and which goes
        with it (a host takes its services' along), so an object of the same name
        created later does not inherit an acknowledgement or downtime it never had,
        and a follower whose stream stays open does not keep it until the next
        connect."""
        host, service = key
        for known in (self.acknowledgements, self.downtimes):
            for gone in [k for k in known if k == key or (not service and k[0] == host)]:
                del known[gone]

    def label(self, item: dict[str, Any], key: Key) -> None:
        """Give ``item`` (of ``key``) ``acknowledged_by`` while it reads acknowledged and
        ``suppressed_by`` while it reads suppressed, as far as known; an item that reads
        neither (a recovery) is left as it is."""
        if item.get("acknowledged") == "true" and key in self.acknowledgements:
            item["acknowledged_by"] = self.acknowledgements[key].said
        if item.get("suppressed") == "downtime" and self.downtimes.get(key):
            item["suppressed_by"] = "; ".join(
                d.said for d in sorted(self.downtimes[key].values(),
                                       key=lambda d: (d.entry_time, d.name)))
