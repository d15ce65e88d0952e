"""Following Icinga 2: its state changes go to the engine as they happen, and what
changed while the follower was away is asked for when it (re)connects.

On every (re)connect the follower opens the event stream, then asks what is wrong now
and what recovered since the stream was last known alive (less a margin for the two
machines' clocks). That time is kept in a small state file, so a follower restarted
after an hour, or a week, still ends the alerts of what recovered meanwhile. The file
keeps it as of the last time the forwarder held nothing: a change still waiting for
an engine that was away is gone at a stop, and the next start must ask for it again.
What it already sent, in the same state, is not sent again: a quiet Icinga's stream is
reopened every few minutes, and re-sending every problem each time would only store
duplicates. The problems it sent and that are still open are kept in the same file, as
of the same moment (the engine had them all), so a restart knows them too. Events go
through ``aiops.forwarder`` (kept while the engine is away).

Who acknowledged a problem and which downtimes suppress it (``acknowledged_by``,
``suppressed_by``) are read at each connect by one comment and one downtime query and
then kept from the stream's events (``connectors.icinga_who``); every item of a problem
carries them when known, since one that says acknowledged (suppressed) without them
removes them from the alert, and a change of them alone is sent like a change of the
flags.

A downtime or an acknowledgement that ends by its own time (a downtime's end, an
acknowledgement's ``expiry``) has the object read again then, by a second thread that
waits for the earliest such end it knows (``END_MARGIN`` after it, for the two
machines' clocks): Icinga 2.13.6 says a downtime's end on the stream only when its
expiry timer next runs (every 60 s) and an acknowledgement's only at the object's next
check result, while the object's state says it at once (its ``downtime_depth``, its
``acknowledgement_expiry``). The two threads take turns (``_turn``).

A problem it sent (in this run or, as the file says, before a restart) that the query
neither lists nor says recovered is asked for by name: if Icinga no longer has the
object (deleted from its configuration while the stream or the follower was away, as a
reload that drops it does, which sends no ``ObjectDeleted``), its alert is ended at that
connect. The stream's ``ObjectDeleted`` ends it at the deletion.

Not recovered by a query: a problem that began and ended while the stream was away
(Icinga's state says only that it recovered, and a recovery of a problem the engine
never saw opens nothing), and a change the forwarder had to drop from a full queue.

A stream that says nothing for ``idle_timeout`` seconds is reopened (Icinga sends no
keep-alive on it, and a dead connection would otherwise wait forever); a refusal of
the user (401), a call the user may not make or a URL that is not Icinga's API stops
the follower, since trying again will not help.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiops.engine.alert_status import STATUS_LABELS, take_latest
from aiops.forwarder import Forwarder
from aiops.statefile import read_state, write_state
from connectors.icinga import (
    OPTIONAL_EVENTS,
    RECOVERED,
    IcingaApi,
    IcingaError,
    IcingaRefused,
    Key,
    StreamIdle,
    deleted,
    deleted_item,
    flapping_event,
    key_of,
    open_stream,
    state_change_item,
    status_event_key,
)
from connectors.icinga_who import WhoAndWhich

log = logging.getLogger(__name__)
CLOCK_MARGIN = 300.0  # seconds: recoveries this much before the stream was last alive
MAX_PAUSE = 30.0
# seconds after a downtime's end or an acknowledgement's expiry (on this machine's clock)
# that its object is read again: Icinga compares them with its own clock.
END_MARGIN = 1.0
MAX_SLEEP = 60.0  # the ends' thread looks at the stop at least this often
SAVE_EVERY = 5.0  # seconds between writes of the state file while events flow
# What a user without an optional group of events (OPTIONAL_EVENTS) still gets: said once.
WITHOUT = {
    "acknowledgements and downtimes": "acknowledgements and downtimes are read only when "
                                      "the follower (re)connects",
    "flapping": "flapping is read only when the follower (re)connects",
    "deletions": "an object deleted from Icinga is noticed only when the follower "
                 "reconnects",
}
# What a user who may not query comments or downtimes still gets: said once.
WITHOUT_QUERY = {
    "comments": "who acknowledged is known only from the event stream's "
                "AcknowledgementSet events",
    "downtimes": "which downtimes suppress a problem is known only from the event "
                 "stream's Downtime events",
}
Sent = tuple[str, dict[str, str]]  # an item's state and status labels, as last sent


@dataclass(slots=True)
class FollowStats:
    events: int = 0  # stream lines read
    changes: int = 0  # hard state changes forwarded
    status_changes: int = 0  # acknowledgements, downtimes and flapping forwarded
    deletions: int = 0  # alerts of deleted objects ended
    synced: int = 0  # items the object queries forwarded
    connects: int = 0
    unreadable: int = 0  # stream lines or events that could not be read
    lock: threading.Lock = field(default_factory=threading.Lock)

    def line(self) -> str:
        return (f"icinga: {self.connects} connects, {self.events} events, {self.changes} "
                f"hard state changes, {self.status_changes} acknowledgement, downtime or "
                f"flapping changes, {self.deletions} deleted, {self.synced} from state "
                f"queries, {self.unreadable} unreadable")


class IcingaFollower:
    stop_grace = 0.0  # its thread blocks in a stream read: a stop does not wait for it

    def __init__(self, api: IcingaApi, forwarder: Forwarder, *, queue: str = "aiops",
                 lookback: float = 3600.0, idle_timeout: float = 300.0,
                 state_file: Path | None = None, clock: Callable[[], float] = time.time):
        self.api = api
        self.forwarder = forwarder
        self.queue = queue
        self.idle_timeout = idle_timeout
        self.clock = clock
        self.state_file = state_file
        self.stats = FollowStats()
        saved = read_state(state_file, api.url) if state_file else None
        # What was last sent per host and service: its state and status labels. The open
        # problems among them are kept across a restart (``save``).
        self.sent: dict[Key, Sent] = _sent_of(saved)
        # The open problems as of the last time the forwarder held nothing: what the
        # state file says was sent (the engine has each); refreshed when ``sent`` changed.
        self._delivered_sent = dict(self.sent)
        self._sent_changed = False
        # ``finish`` (the main thread) may copy ``sent`` while the follower thread, in a
        # stream read at a stop, sends: a problem noted as sent must be queued too before
        # a copy is taken, or the file would say the engine had one it never got.
        self._sent_lock = threading.Lock()
        # The OPTIONAL_EVENTS the API user may not read (a user set up before they were
        # read): their labels are read only by the state query at each connect.
        self.missing: set[str] = set()
        # Whether each object flaps, as the last Flapping event or query said: a
        # StateChange does not say it, and a flapping object's problem is sent again
        # and again, so each new problem takes it from here.
        self.flapping: dict[Key, str] = {}
        # Who acknowledged each object and which downtimes are in effect: queried at
        # each connect, then kept from the stream's events (connectors.icinga_who).
        self.who = WhoAndWhich()
        # Recoveries since then are asked for at the next connect: the saved time of the
        # last run, else the last ``lookback`` seconds.
        self.alive_at = _alive_at_of(saved) or clock() - lookback
        self._delivered_at = self.alive_at  # what the state file says: see ``save``
        self._saved_at = 0.0
        # One thread at a time reads or changes what the follower keeps: the stream's
        # (events, connects) and the ends' (``_wait_for_ends``), which it wakes when what
        # it waits for may have changed.
        self._turn = threading.Condition()
        self.refused: IcingaRefused | None = None
        self.failed: BaseException | None = None
        self.last_error = ""

    def run(self, stop: threading.Event) -> None:
        """Follow until ``stop`` is set, Icinga refuses the user (``self.refused``) or
        something unforeseen breaks (``self.failed``: logged, for a non-zero exit)."""
        done = threading.Event()  # the ends' thread stops with this one, whatever ended it
        threading.Thread(target=self._wait_for_ends, args=(stop, done), name="icinga-ends",
                         daemon=True).start()
        try:
            self._run(stop)
        except Exception as exc:  # noqa: BLE001 - said, and the process exits non-zero
            self.failed = exc
            log.exception("icinga: the follower failed")
        finally:
            done.set()
            with self._turn:
                self._turn.notify_all()
            self.save()

    def _wait_for_ends(self, stop: threading.Event, done: threading.Event) -> None:
        """The ends' thread: at each downtime's end and each acknowledgement's expiry
        (``END_MARGIN`` later), read its object again (``end_due``)."""
        while not stop.is_set() and not done.is_set():
            with self._turn:
                due = self.who.next_end()
                wait = MAX_SLEEP if due is None else due + END_MARGIN - self.clock()
                if wait > 0:
                    self._turn.wait(min(wait, MAX_SLEEP))
                    continue
                try:
                    self.end_due()
                except Exception:  # noqa: BLE001 - said; the stream's thread goes on
                    log.exception("icinga: reading what ended by its own time failed")

    def end_due(self) -> None:
        """Downtimes and acknowledgements that ended by their own time (``END_MARGIN``
        ago): forgotten (``suppressed_by`` and ``acknowledged_by`` no longer name them),
        and each object read again, its problem sent if that changed (no longer
        suppressed or acknowledged, or by fewer). Icinga's own events of those ends come
        later, if ever, and then change nothing."""
        with self._turn:
            for key in sorted(self.who.end(self.clock() - END_MARGIN)):
                try:
                    self._status_changed(key)
                except IcingaRefused as exc:  # the stream's thread says it and stops
                    log.warning("icinga: %s: %s", "!".join(filter(None, key)), exc)

    def _run(self, stop: threading.Event) -> None:
        pause = 0.0
        while not stop.is_set():
            connects = self.stats.connects
            try:
                self.follow_once(stop)
                pause = 0.0
            except IcingaRefused as exc:
                self.refused = exc
                log.error("%s", exc)
                return
            except StreamIdle:
                log.debug("icinga: the event stream was idle; reopening it")
                pause = 0.0
            except IcingaError as exc:
                if str(exc) != self.last_error:
                    log.warning("icinga: %s; reconnecting", exc)
                self.last_error = str(exc)
                # A stream that broke after a good connection (Icinga reloading) is
                # retried at once; only failures to connect back off.
                connected = self.stats.connects > connects
                pause = 1.0 if connected else min(MAX_PAUSE, max(1.0, pause * 2))
                stop.wait(pause)

    def follow_once(self, stop: threading.Event) -> None:
        """One connection: open the stream, forward the state queries' items, then the
        stream's until it breaks (IcingaError) or ``stop`` is set."""
        stream = self._open_stream()
        try:
            with self._turn:
                opened = self.clock()
                items = self.api.problems(self.alive_at - CLOCK_MARGIN)
                self._read_who_and_which()
                fresh = [item for item in items if self._is_news(item)]
                gone = self._gone(items, opened)
                self.alive_at = opened
                with self.stats.lock:
                    self.stats.connects += 1
                    self.stats.synced += len(fresh)
                    self.stats.deletions += len(gone)
                for item in fresh + gone:
                    self._forward(item)
                self._turn.notify_all()  # the queries' ends
            self.save()
            self.last_error = ""
            log.info("icinga: connected to %s; %d problems and recoveries sent (%d already "
                     "sent in this state)", self.api.url, len(fresh), len(items) - len(fresh))
            for doc in stream:
                self._note_delivered()  # what was queued before this event
                self.alive_at = self.clock()
                with self.stats.lock:
                    self.stats.events += 1
                self.handle(doc)
                if self.alive_at - self._saved_at >= SAVE_EVERY:
                    self.save()
                if stop.is_set():
                    return
        finally:
            with self.stats.lock:
                self.stats.unreadable += stream.unreadable
            stream.close()

    def _read_who_and_which(self) -> None:
        """Who acknowledged and which downtimes are in effect, for every object: one
        query of each (an object's problem reads acknowledged or suppressed; who and
        which are Icinga's comments and downtimes). A user who may not query them (set
        up before they were read) is said once and followed without: what the stream
        said is kept (replacing it with nothing would take who and which off every
        alert at each reconnect)."""
        for name, query, take in (
                ("comments", self.api.acknowledgement_comments, self.who.take_comments),
                ("downtimes", self.api.downtimes_in_effect, self.who.take_downtimes)):
            try:
                take(query())
            except IcingaRefused as exc:
                if name not in self.missing:
                    self.missing.add(name)
                    log.warning("icinga: %s: %s", WITHOUT_QUERY[name], exc)

    def _gone(self, items: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
        """Recoveries, at ``now``, of what was sent as a problem (in this run, or before a
        restart as the state file says) that the state query neither lists as one nor as
        recovered, and that Icinga no longer has: deleted while the stream was away. One
        that is still there (a query's answer can only miss it across a clock skew beyond
        ``CLOCK_MARGIN``) is left alone."""
        listed = {key_of(item) for item in items}
        suspects = [key for key, (state, _) in self.sent.items()
                    if state not in RECOVERED and key not in listed]
        if not suspects:
            return []
        existing = self.api.existing(suspects)
        return [deleted(*key, now) for key in suspects if key not in existing]

    def _open_stream(self) -> Any:
        """The event stream with the OPTIONAL_EVENTS the API user may read; each it may
        not (a user set up before they were read) is said once, and the follower goes
        on without: the state query at each connect (every ``idle_timeout`` at the
        latest) still reads their labels, and deletions."""
        groups = [name for name in OPTIONAL_EVENTS if name not in self.missing]
        stream, refused = open_stream(self.api, self.queue, self.idle_timeout, groups)
        for name, exc in refused.items():
            self.missing.add(name)
            log.warning("icinga: %s: %s", WITHOUT[name], exc)
        return stream

    def handle(self, doc: Any) -> None:
        """One event of the stream. Never raises on a bad event: it is logged and
        counted, and the stream goes on."""
        with self._turn:
            self._handle(doc)

    def _handle(self, doc: Any) -> None:
        flap = flapping_event(doc)
        if flap is not None:
            self.flapping[flap[0]] = flap[1]
        self.who.note(doc)
        key = status_event_key(doc)
        if key is not None:
            self._turn.notify_all()  # an end may have come or gone
            self._status_changed(key)
            return
        try:
            item = state_change_item(doc)
            gone = deleted_item(doc) if item is None else None
        except ValueError as exc:
            with self.stats.lock:
                self.stats.unreadable += 1
            log.warning("icinga: skipped: %s", exc)
            return
        if gone is not None:
            self._deleted(gone)
        if item is None:
            return
        with self.stats.lock:
            self.stats.changes += 1
        self._forward(item)

    def _deleted(self, item: dict[str, Any]) -> None:
        """A host or service was deleted: its alert is ended, unless the follower last
        sent it recovered (one it does not know it sent may still fire: its state file
        was lost, or the forwarder held it at a stop; a recovery of a problem the engine
        never saw opens nothing)."""
        key = key_of(item)
        self.flapping.pop(key, None)
        self.who.forget(key)
        sent = self.sent.get(key)
        if sent is not None and sent[0] in RECOVERED:
            return
        with self.stats.lock:
            self.stats.deletions += 1
        self._forward(item)

    def _status_changed(self, key: Key) -> None:
        """An acknowledgement or downtime of ``key`` was set, started or removed, or it
        started or stopped flapping: its problem as Icinga has it now is sent if that
        differs from what was sent (an object that is fine has no alert to change). A
        query that fails is said; the next connect's state query sends it."""
        try:
            item = self.api.problem(key)
        except IcingaRefused:
            raise
        except IcingaError as exc:
            log.warning("icinga: %s: could not read its acknowledgement, downtime and "
                        "flapping: %s",
                        "!".join(filter(None, key)), exc)
            return
        if item is not None and self._is_news(item):
            with self.stats.lock:
                self.stats.status_changes += 1
            self._forward(item)

    def _is_news(self, item: dict[str, Any]) -> bool:
        """Whether ``item`` says something not sent yet (in this run, or before a restart
        as the state file says, when the engine had it): another state, or
        a status label it gives (an item that gives none, such as a recovery, changes
        none) other than the one sent."""
        self.who.label(item, key_of(item))
        sent = self.sent.get(key_of(item))
        if sent is None or sent[0] != item["state"]:
            return True
        # As the engine takes them: acknowledged without acknowledged_by removes it.
        return take_latest(sent[1], item) is not None

    def _forward(self, item: dict[str, Any]) -> None:
        key = key_of(item)
        if "flapping" in item:
            self.flapping[key] = item["flapping"]
        elif item["state"] not in RECOVERED and key in self.flapping \
                and "flapping" not in self.missing:
            item["flapping"] = self.flapping[key]  # as the stream last said
        self.who.label(item, key)
        # The engine's status labels: the item's flags (status_of), and who and which
        # (connectors.icinga_who).
        labels = {name: item[name] for name in STATUS_LABELS if name in item}
        before = self.sent.get(key)
        if before is not None and before[0] == item["state"]:
            # The same state: what the item does not give stays what was sent (and who
            # or which goes with what it belongs to, as the engine takes them).
            labels = take_latest(before[1], item) or before[1]
        with self._sent_lock:
            self.sent[key] = (item["state"], labels)
            self._sent_changed = True
            self.forwarder.add(item)

    def finish(self) -> None:
        """At a stop (``aiops.cli_follow``): the time the stream was last alive."""
        self.save()

    def save(self) -> None:
        """Write when the stream was last alive and the problems sent and still open, as
        of the last time the forwarder held nothing: what it still holds (a recovery
        waiting for an engine that is away) is gone at a stop, so the file must not say
        it was seen, or a restart would not ask for it again, nor a problem sent, or a
        restart would not send it again. Read before the forwarder is: a change read
        meanwhile, not yet queued, is within ``CLOCK_MARGIN``."""
        alive_at = self._note_delivered()
        if self.state_file is None:
            return
        sent = [[host, service, state, labels]
                for (host, service), (state, labels) in self._delivered_sent.items()]
        if write_state(self.state_file, self.api.url,
                       {"alive_at": self._delivered_at, "sent": sent}):
            self._saved_at = alive_at

    def _note_delivered(self) -> float:
        """When the stream was last alive (returned), and, if the forwarder holds
        nothing, that everything read until then reached the engine. Also checked as
        each event arrives, before it is queued: checked only after, with the event
        just queued, a steady stream would keep the file at the time it opened."""
        alive_at = self.alive_at
        with self._sent_lock:
            if self.forwarder.pending() == 0:
                self._delivered_at = alive_at
                if self._sent_changed:  # a copy only when something was sent since
                    self._delivered_sent = {key: sent for key, sent in self.sent.items()
                                            if sent[0] not in RECOVERED}
                    self._sent_changed = False
        return alive_at


def _alive_at_of(saved: dict[str, Any] | None) -> float | None:
    try:
        return float(saved["alive_at"]) if saved else None
    except (KeyError, TypeError, ValueError):
        return None


def _sent_of(saved: dict[str, Any] | None) -> dict[Key, Sent]:
    """The open problems a state file says were sent: none from a file written before
    they were kept (that start knows only what it sends, as before), and an entry that
    is not ``[host, service, state, {label: value}]`` skipped, logged: it is sent again,
    which the engine folds into its alert."""
    entries = saved.get("sent", []) if saved else []
    sent: dict[Key, Sent] = {}
    for entry in entries if isinstance(entries, list) else [entries]:
        match entry:
            case [str(host), str(service), str(state), dict(labels)] if all(
                    isinstance(v, str) for v in labels.values()) and state not in RECOVERED:
                sent[host, service] = (state, labels)
            case _:
                log.warning("icinga: the state file's sent problem %r is unreadable; "
                            "skipped", entry)
    return sent

