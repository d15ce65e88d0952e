"""Following Zabbix by polling its API: open problems fire, problems sent before that
are no longer open resolve, at the time of their recovery event.

For sites that cannot add a media type (docs/webhooks.md), or want what a failed
notification would lose. Each poll asks which problems are open and their severity
(``problem.get``), then the events of the new ones and the recoveries of the ones gone.
A problem whose severity changed since it was sent (an operator's "change severity"),
or that was acknowledged, unacknowledged (or acknowledged again by someone else, or
with other words), or went into or out of a maintenance, is sent again as it is now.
Who acknowledged a problem (``problem.get``'s acknowledges) and who suppressed one by
hand (Zabbix 6.2+) are named by ``connectors.zabbix_users``: one ``user.get`` per poll
for the user ids it does not know yet, kept for the follower's life. Every problem
item is a state report (``event_update_status`` 1, the mapping's ``state_report``): it
is the problem as Zabbix has it now, so the alert takes its severity, as from the
media type's update notifications.

The problems sent and open (each as sent, with its severity) are kept in a state
file, one per Zabbix URL, so a follower restarted after any time still resolves what
recovered meanwhile, and knows the severity each open problem was sent with. The file
is written only when the forwarder has delivered everything queued, so it never
claims as sent what was still waiting for an engine that was away (a stop then
discards the queue); and at start every open problem is sent again (the engine folds
a repeat into its alert), so nothing queued and lost at a stop stays unsent.

A problem that opened and closed between two polls (a link down for 20 s), or while
the follower was away, is in no ``problem.get``: the file also keeps the highest
problem event id accounted for (``last_eventid``), and each poll first lists the
problem events after it (``SCAN_LIMIT`` at most, oldest first: a follower back after
a week catches up over several polls rather than in one huge call). Those not open
now and not sent before opened and closed in between: each is sent firing, then
resolved at its recovery event's time, in that order, so the engine sees the episode
as Zabbix had it. A first run (no file, or one written before ``last_eventid``
existed) starts from Zabbix's newest problem event, not from the open problems' ids:
with none open, that would replay every closed problem of Zabbix's history. Events go
through ``aiops.forwarder`` (kept while the engine is away).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiops.forwarder import Forwarder
from aiops.statefile import read_state, write_state
from connectors.zabbix_acknowledgement import acknowledger_ids
from connectors.zabbix_api import (
    ZabbixApi,
    ZabbixError,
    ZabbixRefused,
    problem_item,
    problem_severity,
    problem_status,
    recovery_item,
    status_changed,
    updated_item,
)
from connectors.zabbix_suppression import suppressor_ids
from connectors.zabbix_users import UserNames

log = logging.getLogger(__name__)
SCAN_LIMIT = 1000  # problem events listed per poll after ``last_eventid``


@dataclass(slots=True)
class PollStats:
    polls: int = 0
    problems: int = 0
    missed: int = 0  # problems that opened and closed between polls: sent fired, resolved
    recoveries: int = 0
    updates: int = 0  # problems sent again: severity, acknowledgement or maintenance changed
    skipped: int = 0  # events that were not a host's trigger problem
    failures: int = 0

    def line(self) -> str:
        return (f"zabbix: {self.polls} polls, {self.problems} problems, {self.missed} "
                f"opened and closed between polls, {self.recoveries} "
                f"recoveries, {self.updates} changes sent, {self.skipped} "
                f"skipped, {self.failures} failed polls")


class ZabbixFollower:
    stop_grace = 10.0  # seconds a stop waits for a poll in progress
    scan_limit = SCAN_LIMIT

    def __init__(self, api: ZabbixApi, forwarder: Forwarder, *, interval: float = 30.0,
                 state_file: Path | None = None, clock: Callable[[], float] = time.time,
                 names: UserNames | None = None):
        self.api = api
        # Who acknowledged a problem or suppressed it by hand, by name
        # (``UserNames(api.users)`` unless given).
        self.names = names if names is not None else UserNames(api.users)
        self.forwarder = forwarder
        self.interval = interval
        self.state_file = state_file
        self.clock = clock
        self.stats = PollStats()
        saved = read_state(state_file, api.url) if state_file else None
        self.open: dict[str, dict[str, Any]] = _open_problems(saved)  # event id -> item
        # The highest problem event id sent, skipped or seen open; None: a first run.
        self.last_eventid: int | None = _last_eventid(saved)
        self.skipped: set[str] = set()  # open events that are no host's trigger problem
        self._started = False  # the first poll sends every open problem again
        self._dirty = False  # the state changed since the state file was written
        self.refused: ZabbixRefused | None = None
        self.failed: BaseException | None = None
        self.last_error = ""
        # A stop writes the state from the main thread; a poll that outlived the stop's
        # grace is still changing ``open`` on its own. The lock and the flag keep the two
        # apart (``finish``).
        self._lock = threading.Lock()
        self._polling = False

    def run(self, stop: threading.Event) -> None:
        """Poll every ``interval`` until ``stop``, a refusal (``self.refused``) or an
        unforeseen failure (``self.failed``)."""
        try:
            while not stop.is_set():
                try:
                    self._guarded_poll()
                    self.last_error = ""
                except ZabbixRefused as exc:
                    self.refused = exc
                    log.error("%s", exc)
                    return
                except ZabbixError as exc:
                    self.stats.failures += 1
                    if str(exc) != self.last_error:
                        log.warning("zabbix: %s; trying again in %g s", exc, self.interval)
                    self.last_error = str(exc)
                with self._lock:
                    self.save_if_delivered()
                stop.wait(self.interval)
        except Exception as exc:  # noqa: BLE001 - said, and the process exits non-zero
            self.failed = exc
            log.exception("zabbix: the follower failed")
        finally:
            self.api.logout()

    def _guarded_poll(self) -> None:
        """``poll``, marked as under way so that a stop does not write ``open`` while it
        changes (``finish``)."""
        with self._lock:
            self._polling = True
        try:
            self.poll()
        finally:
            with self._lock:
                self._polling = False

    def poll(self) -> None:
        """One poll: new problems sent firing (all open ones on the first poll), problems
        gone sent resolved, problems that opened and closed since the last sent firing
        then resolved, problems whose severity changed sent again."""
        if self.last_eventid is None:
            self.last_eventid = self.api.newest_problem_eventid()
            self._dirty = True  # written even if nothing is sent: a restart resumes here
        # Listed before problem.get: a problem opening after this call is open in it (or,
        # closed by then, in the next poll's list); one listed here and not open there
        # closed in between, and ``recoveries``, asked after, finds its recovery.
        scanned = self.api.problem_eventids_after(self.last_eventid, self.scan_limit)
        problems = self.api.problems()
        current = {eventid: problem_severity(p) for eventid, p in problems.items()}
        known = set() if not self._started else self.open.keys() | self.skipped
        new = sorted(current.keys() - known, key=int)
        gone = sorted(self.open.keys() - current.keys(), key=_order)
        # Open now: the new or known ones' path; in ``open``: sent, and ``gone`` if over.
        missed = [e for e in scanned
                  if e not in current and e not in self.open and e not in self.skipped]
        # Recoveries first: a problem of the same trigger opened since is the same
        # condition firing again, and a recovery sent after it would end it. So the
        # problems missed go before the new ones too.
        recovered = self.api.recoveries([e for e in gone if e.isdigit()] + missed)
        events = self.api.events(missed + new)
        # Who acknowledged any of them or suppressed it by hand, in one user.get (none
        # when all are known), before any label says it.
        self.names.learn(acknowledger_ids(problems.values()) | suppressor_ids(
            [*problems.values(), *(events[e] for e in missed if e in events)]))
        states = {eventid: problem_status(p, self.names.said) for eventid, p in problems.items()}
        for eventid in gone:
            # No recovery event: the problem went with its trigger or host (deleted),
            # or its event was cleaned up; it ended by now at the latest.
            at = recovered.get(eventid, self.clock())
            self.forwarder.add(recovery_item(self.open.pop(eventid), at))
            self.stats.recoveries += 1
        changed = [e for e in sorted(self.open.keys() & current.keys(), key=int)
                   if e not in new and (
                       (current[e] and current[e] != str(self.open[e].get("severity", "")))
                       or status_changed(self.open[e], states[e]))]
        for eventid in changed:
            # Changed in Zabbix (event.acknowledge's "change severity", "acknowledge",
            # "unacknowledge"; a maintenance that began or ended): the alert and its
            # incident take the new state.
            item = updated_item(self.open[eventid], current[eventid], states[eventid])
            self.open[eventid] = item
            self.forwarder.add(item)
            self.stats.updates += 1
        for eventid in missed:
            self._send_missed(eventid, events, recovered)
        self.skipped &= current.keys()
        for eventid in new:
            try:
                # As problem.get has it now (event.get's copy may be older by a call).
                item = {**problem_item(events[eventid], update=True, user=self.names.said),
                        **states[eventid]}
            except (KeyError, ValueError) as exc:
                self.skipped.add(eventid)
                self.stats.skipped += 1
                log.debug("zabbix: skipped event %s: %s", eventid, exc)
                continue
            self.open[eventid] = item
            self.forwarder.add(item)
            self.stats.problems += 1
        self._started = True
        self.stats.polls += 1
        # Only now, all of it handed to the forwarder: a poll that failed half-way lists
        # the same events again (what it had sent goes twice; the engine folds repeats).
        if scanned and int(scanned[-1]) > self.last_eventid:
            self.last_eventid = int(scanned[-1])
            self._dirty = True
        self._dirty = self._dirty or bool(new or gone or changed)

    def _send_missed(self, eventid: str, events: dict[str, dict[str, Any]],
                     recovered: dict[str, float]) -> None:
        """A problem that opened and closed since the last poll (or while the follower
        was away): its problem, then its recovery (now, if it has no recovery event: it
        went with its trigger or host, as for a problem gone)."""
        try:
            item = problem_item(events[eventid], update=True, user=self.names.said)
        except (KeyError, ValueError) as exc:
            self.stats.skipped += 1
            log.debug("zabbix: skipped event %s: %s", eventid, exc)
            return
        self.forwarder.add(item)
        self.forwarder.add(recovery_item(item, recovered.get(eventid, self.clock())))
        self.stats.missed += 1

    def finish(self) -> None:
        """At a stop, after the forwarder's last flush: the state, if all was sent.

        A poll still under way (it outlived the stop's grace, in a slow API call) may
        have taken a problem out of ``open`` without its recovery in the forwarder yet,
        and it changes ``open`` as it goes: written now, the file could say a problem is
        over whose recovery was never sent (the alert would fire for ever), or the write
        could fail half-way. Then the file written after the last whole poll stays: the
        next start at worst sends some recoveries again, which the engine folds."""
        with self._lock:
            if self._polling:
                log.warning("zabbix: a poll was still under way at the stop; the state "
                            "file keeps what the last whole poll delivered")
                return
            self.save_if_delivered()

    def save_if_delivered(self) -> None:
        """Write the state file once the forwarder holds nothing: what the file says was
        sent then reached the engine (or was refused by it)."""
        if self._dirty and self.forwarder.pending() == 0:
            self.save()

    def save(self) -> None:
        """The problems sent and open, and the last problem event accounted for."""
        state: dict[str, Any] = {"open": self.open}
        if self.last_eventid is not None:
            state["last_eventid"] = self.last_eventid
        if self.state_file is not None and write_state(self.state_file, self.api.url, state):
            self._dirty = False


def _open_problems(saved: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    open_ = saved.get("open") if saved else None
    if not isinstance(open_, dict):
        return {}
    return {str(k): dict(v) for k, v in open_.items()
            if str(k).isdigit() and isinstance(v, dict)}


def _last_eventid(saved: dict[str, Any] | None) -> int | None:
    """The file's ``last_eventid``; None (start as a first run) when it has none: no
    file, or one written before it was kept."""
    value = saved.get("last_eventid") if saved else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _order(eventid: str) -> tuple[int, str]:
    return (int(eventid), "") if eventid.isdigit() else (0, eventid)


def state_file_for(data_dir: Path, url: str) -> Path:
    """One state file per Zabbix: two followers of two Zabbix servers may share a data
    dir, and a changed URL starts afresh rather than reading another server's ids."""
    return data_dir / "zabbix" / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.json"
