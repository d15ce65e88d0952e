"""The problems Nagios's log shows that the follower's reads of status.dat cannot: a
hard problem that began and ended between two reads.

``replay`` walks the log's states in file order, one host or service at a time:

- a hard problem state opens an episode (``LogState.open``), whether or not the
  status.dat path has the object open: its reads decide later who owns it (``settle``);
  its start is the first problem line since the object was last fine (a SOFT one when
  Nagios logs retries, as ``$LASTSERVICESTATECHANGE$`` dates a notification's), else
  the hard state's;
- another hard problem state of an open episode is a change of state within it;
- a hard fine state ends the episode: when the status.dat path has no problem of the
  object open (``sent``) it is an episode that began and ended between two reads,
  given back to be forwarded; otherwise the status.dat path sends its end (it reads the
  object fine, or still open, and decides), unless a hard problem follows it in the
  log: the end is kept (``LogState.recovered``, across reads) until then;
- a hard problem state of an object whose end is kept means the status.dat path's
  problem recovered and came back, which no read of status.dat may show (it can read
  the new problem as the old one going on): the end is given back to be forwarded
  (``Recovery``), the object is no longer the status.dat path's (``sent`` loses it)
  and the new problem is an episode like any other, forwarded when it ends between
  the reads, or, open at the end of the read, handed back to the status.dat path by
  the follower, which sends its PROBLEM first (``LogState.came_back``);
- a CURRENT or INITIAL fine state (after a rotation, at a start) with an episode open
  means its end is in a part of the log not read (a rotated file not found): the
  episode is forgotten, its end unknown; a CURRENT or INITIAL problem state of an
  object whose end is kept means it came back in a part not read: the end is
  forgotten, and the status.dat path keeps the problem as one (its start unknown).

After the status.dat path compared its read, ``settle`` hands each open episode whose
object that path now has open to it (its end is that path's to send), forgets one
whose object status.dat reads fine since (an end the log never said: the log is read
after status.dat, so it would have it), and forgets the episodes forwarded once
status.dat reads past them (``stale``), forgets the ends kept of objects the status.dat
path no longer has open (it sent their end), and forgets that a problem came back
once a status.dat written after the log's last line of it is read (``behind``).
"""

from __future__ import annotations

import logging
from collections.abc import Container, MutableSet
from dataclasses import dataclass, field, replace
from typing import Any

from aiops.file_tail import TailPosition
from connectors.nagios_log import LoggedState
from connectors.nagios_status import ObjectState

log = logging.getLogger(__name__)
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Episode:
    """A hard problem as the log tells it; never changed in place (``replace``): a
    ``LogState.copy`` shares it with the state before."""

    host: str
    check: str
    since: int  # when it began: its first problem line since the object was fine
    hard_at: int  # when it turned hard
    states: list[tuple[str, str]]  # each hard problem state in turn, with its output
    end: tuple[int, str, str] | None = None  # when it was fine again, the state, output

    @property
    def key(self) -> Key:
        return self.host, self.check

    def to_json(self) -> list[Any]:
        return [self.host, self.check, self.since, self.hard_at,
                [list(s) for s in self.states]]

    @classmethod
    def from_json(cls, value: Any) -> Episode:
        match value:
            case [str(host), str(check), int(since), int(hard_at), [*states]] if states \
                    and all(isinstance(s, list) and len(s) == 2
                            and all(isinstance(v, str) for v in s) for s in states):
                return cls(host, check, since, hard_at, [(s[0], s[1]) for s in states])
        raise ValueError(f"an open episode is [host, check, since, hard_at, [[state, "
                         f"output], ...]], got {value!r}")


@dataclass(frozen=True, slots=True)
class Recovery:
    """The end the log says of a problem the status.dat path had open, given back when a
    new hard problem of the object follows it: it recovered and came back."""

    host: str
    check: str
    at: int  # when it was fine again
    state: str  # UP or OK
    output: str

    @property
    def key(self) -> Key:
        return self.host, self.check


@dataclass(slots=True)
class LogState:
    """What the follower keeps of the log: where it stopped and what it is following.
    A value replaced whole after each read (``copy``), so the state file written from
    another thread sees either the last read's or the one before."""

    path: str
    position: TailPosition | None = None
    open: dict[Key, Episode] = field(default_factory=dict)
    # The first problem line's time of an object not fine, while its state is SOFT.
    soft: dict[Key, int] = field(default_factory=dict)
    # Episodes forwarded, by when they turned hard: a status.dat written before their
    # end still shows them (``stale``) until it reads the object past them.
    forwarded: dict[Key, int] = field(default_factory=dict)
    # The hard fine state (time, state, output) the log read of an object the status.dat
    # path has open: its end if a hard problem follows it before that path ends it.
    recovered: dict[Key, tuple[int, str, str]] = field(default_factory=dict)
    # Problems that recovered and came back, sent from the log and handed to the
    # status.dat path, by the time of the log's last line of them: a status.dat written
    # by then reads them as they were before (``behind``).
    came_back: dict[Key, int] = field(default_factory=dict)

    def copy(self) -> LogState:
        return LogState(self.path, self.position, dict(self.open), dict(self.soft),
                        dict(self.forwarded), dict(self.recovered), dict(self.came_back))

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path,
                "position": self.position.to_json() if self.position else None,
                "open": [e.to_json() for e in self.open.values()],
                "soft": [[*key, when] for key, when in self.soft.items()],
                "forwarded": [[*key, when] for key, when in self.forwarded.items()],
                "recovered": [[*key, *end] for key, end in self.recovered.items()],
                "came_back": [[*key, when] for key, when in self.came_back.items()]}

    @classmethod
    def from_json(cls, value: Any, path: str) -> LogState:
        """The state a state file keeps for ``path``; a fresh one (said) when it has
        none, another file's, or one not readable: the log is then read from its end."""
        if value is None:
            return cls(path)
        try:
            if not isinstance(value, dict) or value.get("path") != path:
                raise ValueError(f"it is not {path}'s")
            raw = value.get("position")
            position = None if raw is None else TailPosition.from_json(raw)
            episodes = [Episode.from_json(e) for e in value.get("open", [])]
            # A state file of a version before came_back has neither: none kept.
            return cls(path, position, {e.key: e for e in episodes},
                       _times(value.get("soft", [])), _times(value.get("forwarded", [])),
                       _ends(value.get("recovered", [])),
                       _times(value.get("came_back", [])))
        except (ValueError, TypeError) as exc:
            log.warning("nagios: the state file's log position is unreadable (%s); "
                        "reading %s from its end", exc, path)
            return cls(path)


def _times(entries: Any) -> dict[Key, int]:
    found: dict[Key, int] = {}
    for entry in entries:
        match entry:
            case [str(host), str(check), int(when)]:
                found[host, check] = when
            case _:
                raise ValueError(f"[host, check, time] expected, got {entry!r}")
    return found


def _ends(entries: Any) -> dict[Key, tuple[int, str, str]]:
    found: dict[Key, tuple[int, str, str]] = {}
    for entry in entries:
        match entry:
            case [str(host), str(check), int(when), str(state), str(output)]:
                found[host, check] = (when, state, output)
            case _:
                raise ValueError(f"[host, check, time, state, output] expected, got "
                                 f"{entry!r}")
    return found


def replay(state: LogState, line: LoggedState, sent: MutableSet[Key],
           ended: list[Episode | Recovery]) -> None:
    """Apply one logged state to ``state``; an episode that began and ended between
    two reads (its object not open in ``sent``) and the end of a problem of ``sent``
    that came back (the object then leaves ``sent``) are appended to ``ended``, in the
    log's order."""
    key = line.key
    if not line.change:
        if not line.is_problem:  # the end of an open episode was not read
            state.open.pop(key, None)
            state.soft.pop(key, None)
        else:  # back in a part not read: when it ended and began again is unknown
            state.recovered.pop(key, None)
        return
    if not line.is_problem:
        state.soft.pop(key, None)
        episode = state.open.pop(key, None) if line.hard else None
        if line.hard and key in sent:
            state.recovered[key] = (line.time, line.state, line.output)
        elif episode is not None:
            ended.append(replace(episode, end=(line.time, line.state, line.output)))
            state.forwarded[key] = episode.hard_at
        return
    if not line.hard:
        state.soft.setdefault(key, line.time)
        return
    end = state.recovered.pop(key, None) if key in sent else None
    if end is not None:
        ended.append(Recovery(line.host, line.check, *end))
        sent.discard(key)
    episode = state.open.get(key)
    if episode is None:
        since = state.soft.pop(key, line.time)
        state.open[key] = Episode(line.host, line.check, since, line.time,
                                  [(line.state, line.output)])
    elif episode.states[-1][0] != line.state:  # a new value: the last state's is shared
        state.open[key] = replace(episode, states=[*episode.states,
                                                   (line.state, line.output)])


def stale(state: LogState, key: Key, obj: ObjectState) -> bool:
    """Whether status.dat's problem ``obj`` is an episode already forwarded from the
    log: status.dat was written after it began and before it ended."""
    hard_at = state.forwarded.get(key)
    return hard_at is not None and obj.is_problem and obj.started <= hard_at


def behind(state: LogState, key: Key, written: int | None) -> bool:
    """Whether a status.dat written at ``written`` (its ``created``) is older than the
    log's last line of a problem that came back: it shows the problem before (open
    still, or fine), which is not to be compared. A status.dat that does not say when
    it was written is compared (as before the log was read). The same second is
    older: Nagios stamps whole seconds, and the next status.dat settles it."""
    at = state.came_back.get(key)
    return at is not None and written is not None and written <= at


def settle(state: LogState, current: dict[Key, ObjectState], sent: Container[Key],
           written: int | None = None) -> None:
    """After the status.dat path compared ``current`` (written at ``written``): its
    open problems are its own (their episodes' ends are its to send); an episode of an
    object status.dat reads fine since after it turned hard has an end the log did not
    say (Nagios restarted without its retained states, a line lost): forgotten, or a
    later end would date it from this start; episodes forwarded are forgotten once
    status.dat no longer shows them; an end kept of a problem that path no longer has
    open is forgotten (it sent the end); and a problem that came back is that path's
    like any other once a status.dat written after it is read."""
    for key in [k for k, episode in state.open.items() if k in sent or (
            k in current and not current[k].is_problem
            and current[k].changed > episode.hard_at)]:
        del state.open[key]
    for key in [k for k in state.forwarded
                if k not in current or not stale(state, k, current[k])]:
        del state.forwarded[key]
    for key in [k for k in state.recovered if k not in sent]:
        del state.recovered[key]
    for key in [k for k in state.came_back
                if k not in sent or not behind(state, k, written)]:
        del state.came_back[key]
