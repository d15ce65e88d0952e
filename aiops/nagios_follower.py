"""Following Nagios Core 4 by its status file: what is wrong in Nagios goes to the
engine, whether Nagios notified it or not.

Nagios writes every host's and service's state to ``status.dat`` every
``status_update_interval`` seconds (10 by default); the follower runs on the Nagios host,
reads it every ``interval`` seconds when it changed, and forwards what changed since
the last read to the engine's ``nagios`` webhook mapping, in the shape
``deploy/nagios/aiops-notify`` gives a notification. The alerts are therefore the same
conditions as the notifications' (source, name, entity and the host's ``address``,
read from ``objects.cache``), and the two may run side by side: the engine folds each
into the other's alert. What it reads that notifications do not say: problems of
objects whose notifications are off or outside their notification period, problems
that began before the engine ran, and an acknowledgement removed by hand.

A problem (a hard DOWN or UNREACHABLE host, a hard WARNING, CRITICAL or UNKNOWN
service) is sent when first seen, with its start (Nagios's last state change, as a
notification's), and again when its state changes (with no start, as an escalation
notification: the engine keeps the alert's start). One first seen after it changed
state (its ``last_time_`` of another problem state is later than of its fine state)
is sent with no start too: the state change is not when it began, and a start more
than the engine's ``max_incident_span`` after the notification's alert began would
split it into a new episode. A change of its acknowledgement, downtime or flapping alone
is sent as a state report (type ``STATUS``: labels only, no alert of its own), and so is
a change of who acknowledged it (``acknowledged_by``, "AUTHOR: COMMENT") or of which
downtimes suppress it (``suppressed_by``; ``connectors.nagios_status`` says how both
are read). A
problem that is fine again is sent resolved at Nagios's last hard state change; one
gone from status.dat is ended at the read only if objects.cache no longer defines it
either (deleted from the configuration): a status.dat that lacks it for another reason
must not end an alert of a problem that is still there.

What was sent and is still open is kept in a state file as of the last time the
forwarder held nothing (a change waiting for an engine that is away is gone at a stop,
so a restart must send it again); a restart compares Nagios's state with it and sends
only the difference: no problem twice, and no recovery lost while it was stopped.
A status file missing (Nagios stopped: it deletes the file at exit) or unreadable (cut
short, garbled: ``connectors.nagios_status``) is said, once until it is read again,
and read again at the next interval; nothing is ended for it.

Given Nagios's log file (``log_file``), the follower also forwards what happened
between two reads that no read of status.dat shows: each hard problem that began and
ended, a PROBLEM with its start, then its RECOVERY with its end; and each problem a
read saw open that recovered and came back, its RECOVERY with the log's end, then the
new problem as any other (``aiops.nagios_log_episodes`` says which, ``connectors.
nagios_log`` which lines). The two sources are read in one order at each read, and
why it is that one:

1. status.dat first, then the log from where the last read stopped. Nagios writes a
   log line the moment a state changes and status.dat only every
   ``status_update_interval``, so the log read after is at least as new as the
   status.dat read: every change status.dat shows is in the log read by then, and a
   problem status.dat shows open whose end the log already has is the status.dat
   path's to end (it is open in ``sent``), never the log's, unless the log has it back
   after that end (4.).
2. The log's episodes are forwarded before what the comparison of status.dat sends: a
   problem that flapped and is open again at the read (status.dat shows the new one)
   reaches the engine as the old episode's PROBLEM and RECOVERY, then the new
   PROBLEM; the other order would end the new alert with the old recovery.
3. A status.dat written before an episode the log forwarded ended still shows it: a
   problem that did not start after the forwarded one turned hard is left out of the
   comparison (``stale``), or it would be sent twice.
4. A problem of ``sent`` whose hard end the log has, then a hard problem again,
   recovered and came back, whatever status.dat shows of it: open (the new problem,
   or the old one when written before the end: one alert to its last end if it were
   the judge) or fine (written in between). Its RECOVERY and the new problem are sent
   from the log, in its order, before the comparison; any number of times between
   two reads. Open at the read, the new problem's PROBLEM (with the log's start) is
   sent and it is the status.dat path's again; a status.dat written before the log's
   last line of it (its ``created``, in whole seconds: the same second counts as
   before) shows it as it was and is left out of the comparison for it (``behind``)
   until one written after is read, or it would be sent twice or ended. The times
   sent from the log keep its order within a second (``_LogTimes``), or the engine
   would not re-fire the alert. A flapping object is no different: Nagios notifies
   none of its changes but logs each, and the engine's flapping keeps them one alert.

status.dat stays what decides which problems are open; the log only adds what no
read saw. Its position (device, inode, offset, time and first bytes:
``aiops.file_tail``, which also reads the archives of rotations in between), its open
episodes, the ends it keeps and the problems that came back are kept in the state
file with ``sent``, as of the same moment, so a restart reads the log from where the
engine had everything and sends nothing twice.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiops.engine.alert_status import STATUS_LABELS
from aiops.file_tail import FileTail
from aiops.forwarder import Forwarder
from aiops.nagios_log_episodes import (
    Episode,
    LogState,
    Recovery,
    behind,
    replay,
    settle,
    stale,
)
from aiops.statefile import read_state, write_state
from connectors.nagios_log import is_archive_name, parse_line
from connectors.nagios_status import (
    ObjectState,
    StatusUnreadable,
    parse_objects,
    parse_status,
    written_at,
)

log = logging.getLogger(__name__)
Key = tuple[str, str]  # (host, check): check is the service's description, or "host"
Sent = tuple[str, dict[str, str]]  # an open problem's state and status labels, as sent


@dataclass(slots=True)
class FollowStats:
    reads: int = 0  # status files read whole
    unchanged: int = 0  # reads skipped: the file was the one last read
    unreadable: int = 0  # reads of a missing, cut short or garbled file
    problems: int = 0  # problems forwarded: new ones and state changes
    status_changes: int = 0  # acknowledgement, downtime or flapping changes (who, which)
    recoveries: int = 0  # problems forwarded resolved (deleted objects included)
    deleted: int = 0
    between_reads: int = 0  # problems from the log that began and ended between reads
    came_back: int = 0  # problems open at a read that recovered and came back (the log)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def line(self) -> str:
        return (f"nagios: {self.reads} reads ({self.unchanged} unchanged, "
                f"{self.unreadable} unreadable), {self.problems} problems, "
                f"{self.status_changes} acknowledgement, downtime or flapping changes, "
                f"{self.recoveries} recoveries ({self.deleted} deleted objects), "
                f"{self.between_reads} problems between reads (from the log), "
                f"{self.came_back} recovered and back between reads")


@dataclass(slots=True)
class _Source:
    """A file read only when it changed: its identity as last read, and its warning."""

    path: Path
    seen: tuple[int, int, int] | None = None  # inode, size, mtime in ns
    warned: str = ""

    def changed(self) -> tuple[bool, tuple[int, int, int] | None]:
        try:
            st = os.stat(self.path)
        except OSError:
            return True, None
        mark = (st.st_ino, st.st_size, st.st_mtime_ns)
        return mark != self.seen, mark

    def warn(self, message: str) -> None:
        if message != self.warned:
            log.warning("nagios: %s", message)
        self.warned = message


class NagiosFollower:
    stop_grace = 10.0  # seconds a stop waits for a read in progress
    refused = None  # a file has no credentials to refuse (aiops.cli_follow reads it)

    def __init__(self, status_file: Path, objects_cache: Path, forwarder: Forwarder, *,
                 interval: float = 10.0, state_file: Path | None = None,
                 clock: Callable[[], float] = time.time, log_file: Path | None = None,
                 log_archive_dir: Path | None = None):
        self.status = _Source(status_file)
        self.objects = _Source(objects_cache)
        self.forwarder = forwarder
        self.interval = interval
        self.state_file = state_file
        self.clock = clock
        self.stats = FollowStats()
        self.failed: BaseException | None = None
        self.addresses: dict[str, str] = {}
        self.configured: set[Key] | None = None  # None: objects.cache not read yet
        saved = read_state(state_file, self._url) if state_file else None
        self.sent: dict[Key, Sent] = _sent_of(saved)
        # What the state file says: ``sent`` as of the last time the forwarder held
        # nothing (``_note_delivered``). The lock: ``finish`` (the main thread) copies
        # ``sent`` while a read in the follower's thread may still be adding to it.
        self._delivered = dict(self.sent)
        self._saved: dict[Key, Sent] | None = None if state_file is None else dict(self.sent)
        self._lock = threading.Lock()
        # Nagios's log (None: not followed), and what of it the state file says. Its
        # archives: nagios.cfg's log_archive_path, by default the archives/ beside it.
        self.log: FileTail | None = None if log_file is None else FileTail(
            log_file, [log_archive_dir or log_file.parent / "archives"],
            archive_name=is_archive_name)
        self.log_state = None if log_file is None else LogState.from_json(
            saved.get("log") if saved else None, str(log_file.resolve()))
        self._delivered_log = self._saved_log = (
            None if self.log_state is None else self.log_state.to_json())

    @property
    def _url(self) -> str:
        """What the state file is tied to: another status file starts afresh."""
        return str(self.status.path.resolve())

    def run(self, stop: threading.Event) -> None:
        """Read every ``interval`` seconds until ``stop`` is set; something unforeseen
        that breaks is ``self.failed`` (logged, for a non-zero exit)."""
        try:
            while not stop.is_set():
                self.read_once()
                stop.wait(self.interval)
        except Exception as exc:  # noqa: BLE001 - said, and the process exits non-zero
            self.failed = exc
            log.exception("nagios: the follower failed")
        finally:
            self.save()

    def read_once(self) -> bool:
        """Read status.dat if it changed and forward what changed; False when it could
        not be read (said) and nothing was compared."""
        self._note_delivered()  # what was queued at the last read reached the engine?
        changed, mark = self.status.changed()
        if mark is None:
            with self.stats.lock:
                self.stats.unreadable += 1
            self.status.warn(f"{self.status.path} is missing (Nagios not running?); "
                             f"reading it again every {self.interval:g} s")
            return False
        if not changed:
            with self.stats.lock:
                self.stats.unchanged += 1
            return True
        try:
            text = self.status.path.read_text(encoding="utf-8", errors="replace")
            current, written = parse_status(text), written_at(text)
        except (OSError, StatusUnreadable) as exc:
            with self.stats.lock:
                self.stats.unreadable += 1
            self.status.warn(f"{self.status.path} unreadable ({exc}); nothing ended for "
                             f"it, reading it again in {self.interval:g} s")
            return False
        self.status.seen, self.status.warned = mark, ""
        self._read_objects()
        first = self.stats.reads == 0
        with self.stats.lock:
            self.stats.reads += 1
        from_log = self._read_log(current)  # before the comparison: the docstring's 2.
        forwarded = (from_log or 0) + self.compare(self._not_stale(current, written),
                                                   self.clock())
        if from_log is not None and self.log_state is not None:  # the log read to its end
            with self._lock:
                settle(self.log_state, current, self.sent, written)
        if first:
            log.info("nagios: %s read: %d hosts and services, %d problems; %d sent",
                     self.status.path, len(current),
                     sum(item.is_problem for item in current.values()), forwarded)
        self.save()
        return True

    def _read_objects(self) -> None:
        """objects.cache, when it changed: hosts' addresses, and what is configured."""
        changed, mark = self.objects.changed()
        if not changed:
            return
        try:
            if mark is None:
                raise OSError("missing")
            text = self.objects.path.read_text(encoding="utf-8", errors="replace")
            self.addresses, self.configured = parse_objects(text)
        except (OSError, StatusUnreadable) as exc:
            self.objects.warn(f"{self.objects.path} unreadable ({exc}): alerts lack the "
                              "host's address (they differ from the notifications' "
                              "alerts) and a deleted object's alert is not ended")
            return
        self.objects.seen, self.objects.warned = mark, ""

    def compare(self, current: dict[Key, ObjectState], now: float) -> int:
        """Forward what differs between Nagios's state and what was sent; how many."""
        items: list[tuple[Key, dict[str, Any], str]] = []
        for key, obj in current.items():
            before = self.sent.get(key)
            if obj.is_problem:
                labels = _labels(obj)
                if before is None or before[0] != obj.state:
                    # With no start when it was seen before (a change of state), or
                    # first seen after one: the engine keeps its alert's start.
                    since = before is None and not obj.escalated
                    items.append((key, self._item(obj, "PROBLEM", since=since),
                                  "problems"))
                elif before[1] != labels:
                    items.append((key, self._item(obj, "STATUS"), "status_changes"))
            elif before is not None:
                items.append((key, self._item(obj, "RECOVERY"), "recoveries"))
        for key in self.sent.keys() - current.keys():
            if self.configured is None or key in self.configured:
                continue  # not provably deleted: a status file that lacks it is wrong
            items.append((key, self._deleted(key, now), "deleted"))
        for key, item, kind in items:
            with self.stats.lock:
                setattr(self.stats, kind, getattr(self.stats, kind) + 1)
                if kind == "deleted":
                    self.stats.recoveries += 1
            self._forward(key, item)
        return len(items)

    def _read_log(self, current: dict[Key, ObjectState]) -> int | None:
        """Forward what the log read since the last read says that no read of
        status.dat shows: each episode that began and ended, and each problem the
        status.dat path had open that recovered and came back (its RECOVERY, then the
        new problem, as an episode, or, open still, its PROBLEM, which is that path's
        from then on: the docstring's 4.); how many items, None when it could not be
        read (said). The log's state changes with the forwarder's queue and ``sent``
        under the lock, so the state file never keeps a position past what the engine
        did not get."""
        if self.log is None or self.log_state is None:
            return None
        work, before = self.log_state.copy(), self.log_state.position
        handed = set(self.sent)  # the status.dat path's, less the problems that came back
        said: list[Episode | Recovery] = []
        last: dict[Key, int] = {}  # each object's last hard line's time

        def each_line(line: str) -> None:
            logged = parse_line(line)
            if logged is not None:
                replay(work, logged, handed, said)
                if logged.change and logged.hard:
                    last[logged.key] = logged.time

        try:
            work.position = self.log.read(work.position, each_line)
        except FileNotFoundError:
            self.log.warn(f"{self.log.path} is missing; read when it appears")
            return None
        except OSError as exc:
            self.log.warn(f"{self.log.path} unreadable ({exc}); read again at the next "
                          "read of status.dat, from where it stopped")
            return None
        back = [key for key in dict.fromkeys(s.key for s in said if isinstance(s, Recovery))
                if key in work.open and key not in handed]
        times = _LogTimes()
        items: list[dict[str, Any]] = []
        for what in said:
            if isinstance(what, Recovery):
                items.append(self._recovery_item(what, current.get(what.key), times))
            else:
                items += self._episode_items(what, current.get(what.key), times)
        for key in back:  # open at this read: a PROBLEM of the status.dat path's
            items += self._episode_items(work.open[key], current.get(key), times)
            work.came_back[key] = last[key]
        with self._lock:
            for item in items:
                self._queue((item["host"], item["check"]), item)
            self.log_state = work
        with self.stats.lock:
            self.stats.between_reads += sum(isinstance(s, Episode) for s in said)
            self.stats.came_back += sum(isinstance(s, Recovery) for s in said)
        if self.log_state.position is not None and before is None:
            log.info("nagios: following %s from byte %d", self.log.path,
                     self.log_state.position.offset)
        return len(items)

    def _not_stale(self, current: dict[Key, ObjectState],
                   written: int | None) -> dict[Key, ObjectState]:
        """status.dat's objects without the problems it shows that the log already
        forwarded as begun and ended (the docstring's 3.), and without those the log
        said came back when it was written before the log's last line of them (4.)."""
        state = self.log_state
        if state is None or not (state.forwarded or state.came_back):
            return current
        return {key: obj for key, obj in current.items()
                if not (behind(state, key, written) if key in self.sent
                        else stale(state, key, obj))}

    def _log_labels(self, obj: ObjectState | None) -> dict[str, str]:
        """The status labels of what the log says. It says nothing of an
        acknowledgement (none is left after a recovery) or a downtime: the downtime (and
        ``suppressed_by``) and flapping are the object's as status.dat has them at this
        read, the end of the interval it happened in."""
        labels = {"acknowledged": "false",
                  "suppressed": "downtime" if obj is not None and obj.downtime else "false",
                  "flapping": "true" if obj is not None and obj.flapping else "false"}
        if obj is not None and obj.downtime and obj.suppressed_by:
            labels["suppressed_by"] = obj.suppressed_by
        return labels

    def _episode_items(self, episode: Episode, obj: ObjectState | None,
                       times: _LogTimes) -> list[dict[str, Any]]:
        """The PROBLEM (with its start), a PROBLEM for each later state (as an
        escalation), and, when it ended, the RECOVERY (with its end) of an episode
        from the log."""
        labels = self._log_labels(obj)
        base = {"host": episode.host, "address": self.addresses.get(episode.host, ""),
                "check": episode.check}
        items = [{"type": "PROBLEM", **base, "state": state, "output": output, **labels}
                 for state, output in episode.states]
        items[0]["since"] = times.start(episode.key, episode.since)
        if episode.end is not None:
            when, state, output = episode.end
            items.append({"type": "RECOVERY", **base, "state": state, "output": output,
                          **labels, "ended": times.end(episode.key, when)})
        return items

    def _recovery_item(self, end: Recovery, obj: ObjectState | None,
                       times: _LogTimes) -> dict[str, Any]:
        """The RECOVERY of a problem the status.dat path had open, at the log's end."""
        return {"type": "RECOVERY", "host": end.host,
                "address": self.addresses.get(end.host, ""), "check": end.check,
                "state": end.state, "output": end.output, **self._log_labels(obj),
                "ended": times.end(end.key, end.at)}

    def _item(self, obj: ObjectState, kind: str, since: bool = False) -> dict[str, Any]:
        """What aiops-notify would post for it (the ``nagios`` mapping's fields)."""
        item: dict[str, Any] = {
            "type": kind, "host": obj.host, "address": self.addresses.get(obj.host, ""),
            "check": obj.check, "state": obj.state, "output": obj.output, **_labels(obj)}
        if kind == "RECOVERY":
            item["ended"] = str(obj.changed)
        elif since:
            item["since"] = str(obj.started)
        return item

    def _deleted(self, key: Key, now: float) -> dict[str, Any]:
        host, check = key
        return {"type": "RECOVERY", "host": host, "address": self.addresses.get(host, ""),
                "check": check, "state": "UP" if check == "host" else "OK",
                "output": "no longer in Nagios's configuration",
                "acknowledged": "false", "flapping": "false", "ended": str(int(now))}

    def _forward(self, key: Key, item: dict[str, Any]) -> None:
        with self._lock:
            self._queue(key, item)

    def _queue(self, key: Key, item: dict[str, Any]) -> None:
        """Queue ``item`` and note what is open as sent; the caller holds the lock."""
        if item["type"] == "RECOVERY":
            self.sent.pop(key, None)
        else:
            self.sent[key] = (item["state"],
                              {name: item[name] for name in LABELS if name in item})
        self.forwarder.add(item)

    def finish(self) -> None:
        """At a stop (``aiops.cli_follow``): write what the engine has."""
        self.save()

    def save(self) -> None:
        """Write the open problems sent, as of the last time the forwarder held nothing
        (what it still holds is gone at a stop: a restart must send it again); only
        when that changed."""
        self._note_delivered()
        with self._lock:
            delivered, delivered_log = dict(self._delivered), self._delivered_log
        if self.state_file is None or (delivered, delivered_log) == (self._saved,
                                                                     self._saved_log):
            return
        sent = [[host, check, state, labels]
                for (host, check), (state, labels) in delivered.items()]
        state: dict[str, Any] = {"sent": sent}
        if delivered_log is not None:
            state["log"] = delivered_log
        if write_state(self.state_file, self._url, state):
            self._saved, self._saved_log = delivered, delivered_log

    def _note_delivered(self) -> None:
        with self._lock:
            if self.forwarder.pending() == 0:
                self._delivered = dict(self.sent)
                if self.log_state is not None:
                    self._delivered_log = self.log_state.to_json()


# The status labels an item carries (who and which only when Nagios says them): what
# the state file keeps of each open problem, and what a STATUS report is sent for.
LABELS = STATUS_LABELS


class _LogTimes:
    """The times one read sends from the log, kept in the log's order for each object.
    Nagios stamps whole seconds: a recovery and the problem back after it in the same
    second would reach the engine as that problem starting when its alert ended, a
    re-delivery of the episode (the engine re-fires an alert only for a start after
    its end), and its next recovery as the late end of an episode before. So a start
    not after the time sent before it of its object is sent a millisecond after it,
    and an end before it at it: still within the second the log says."""

    step = 0.001

    def __init__(self) -> None:
        self.last: dict[Key, float] = {}

    def start(self, key: Key, at: int) -> str:
        return self._after(key, at, self.step)

    def end(self, key: Key, at: int) -> str:
        return self._after(key, at, 0.0)

    def _after(self, key: Key, at: int, step: float) -> str:
        floor = self.last.get(key)
        when = float(at) if floor is None or at >= floor + step else floor + step
        self.last[key] = when
        return str(at) if when == at else f"{when:.3f}"


def _labels(obj: ObjectState) -> dict[str, str]:
    """The status labels, with the values aiops-notify gives them; ``acknowledged_by``
    and ``suppressed_by`` only when status.dat says who and which (an item without
    them clears them in the engine: ``aiops.engine.alert_status``)."""
    labels = {"acknowledged": "true" if obj.acknowledged else "false",
              "suppressed": "downtime" if obj.downtime else "false",
              "flapping": "true" if obj.flapping else "false"}
    if obj.acknowledged_by:
        labels["acknowledged_by"] = obj.acknowledged_by
    if obj.suppressed_by:
        labels["suppressed_by"] = obj.suppressed_by
    return labels


def _sent_of(saved: dict[str, Any] | None) -> dict[Key, Sent]:
    """The open problems a state file says were sent; an entry that is not ``[host,
    check, state, {label: value}]`` is skipped, logged: if still a problem it is sent
    again, which the engine folds into its alert."""
    entries = saved.get("sent", []) if saved else []
    sent: dict[Key, Sent] = {}
    for entry in entries if isinstance(entries, list) else [entries]:
        match entry:
            case [str(host), str(check), str(state), dict(labels)] if all(
                    isinstance(v, str) for v in labels.values()):
                sent[host, check] = (state, labels)
            case _:
                log.warning("nagios: the state file's sent problem %r is unreadable; "
                            "skipped", entry)
    return sent


def state_file_for(data_dir: Path, status_file: Path) -> Path:
    """One state file per status file, so two followers may share a data dir."""
    import hashlib

    name = hashlib.sha256(str(status_file.resolve()).encode()).hexdigest()[:16]
    return data_dir / "nagios" / f"{name}.json"
