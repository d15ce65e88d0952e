"""Deduplication and the alert lifecycle: firing → resolved, re-fire, flapping.

A condition is identified by its fingerprint (source, name, entity and the labels
that identify it). Events of a firing condition fold into its alert; an event with
``ends_at`` resolves it; a new start soon after resolving reopens the same alert
and counts towards flapping; a start long after is a new occurrence, and so is a
start more than ``max_incident_span`` after the recorded onset of a condition that
is not flapping (its incident no longer takes alerts; see ``_is_new_onset``), even
if its clear was never seen: the episode before is then ended at the new start;
unless the condition's starts keep a steady beat (a sender repeating it, stamped
when sent: ``aiops.engine.beat``), which folds into its alert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import replace

from aiops.config import EngineSettings
from aiops.engine.alert_status import take_latest
from aiops.engine.beat import on_beat, with_start
from aiops.engine.state import FIRING, RESOLVED, AlertRecord
from aiops.models import Alert
from topology.graph import TopologyGraph

NEW = "new"
DUPLICATE = "duplicate"
RESOLVE = "resolved"
REFIRE = "refired"
# A clear that does not say when its condition began, of a condition with no alert
# (never seen firing, or ended long ago): kept as a raw event, no alert (the engine).
UNMATCHED_CLEAR = "unmatched_clear"
# A state report that says no start and ends nothing (a Nagios acknowledgement, downtime
# or flapping notification) of a condition with no firing alert: kept as a raw event,
# no alert (16 characters: the column's width).
UNMATCHED_REPORT = "unmatched_report"


def fingerprint(alert: Alert, volatile_labels: tuple[str, ...]) -> str:
    """Stable id of the condition an event reports, independent of the event's id."""
    parts = [alert.source, alert.name, alert.entity]
    parts.extend(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k not in volatile_labels)
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()


def _episode_start(record: AlertRecord) -> float:
    """When the alert's current episode began: its last re-fire, else its start (0.0 is
    "not re-fired", not a time: a start before 1970 is negative)."""
    return record.episode_start or record.starts_at


class Deduplicator:
    """Holds the live alerts by fingerprint; memory is bounded by live conditions."""

    def __init__(self, settings: EngineSettings, next_id: Callable[[], int]):
        self.settings = settings
        self._next_id = next_id
        self.active: dict[str, AlertRecord] = {}
        # Firing alerts that ``apply`` ended because their condition started anew; the
        # engine takes them (``take_superseded``) to update their incidents.
        self._superseded: list[AlertRecord] = []
        # Firing alerts whose severity or summary a later event changed (``take_changed``).
        self._changed: list[AlertRecord] = []
        # Starts the restart rule would have made new alerts that folded as a steady
        # beat instead (``_keeps_beat``): how often that rule speaks, for measuring it.
        self.beat_folds = 0

    def restore(self, record: AlertRecord) -> None:
        self.active[record.fingerprint] = record

    def apply(self, event: Alert, reports_state: bool = False) -> tuple[AlertRecord, str]:
        """Fold ``event`` into the alert it belongs to; return it and what happened.

        ``reports_state``: the event is its sender's report of the condition's current
        state (a Nagios or Icinga state change, which says no start; an event a
        mapping's ``state_report`` marks, such as a Zabbix problem whose severity was
        changed, which says its start): a firing alert takes its severity and summary.
        A re-send with the start known (Alertmanager's group notifications) does not:
        with ``severity`` a volatile label, a warning and a critical rule on one metric
        are one condition, and the alert would otherwise read whichever the group
        listed last."""
        fp = fingerprint(event, self.settings.volatile_labels)
        record = self.active.get(fp)
        if record is None or self._is_new_occurrence(record, event):
            return self._start(fp, event), NEW
        if event.ends_at is not None and event.ends_at < _episode_start(record):
            # The clear of an earlier episode, delivered after this one began (or
            # fired again): it must not end this one, nor, read as a new onset, make
            # an alert of its own.
            record.event_count += 1
            return record, DUPLICATE
        if self._is_new_onset(record, event) and not self._keeps_beat(record, event):
            if record.status == FIRING:
                # A new start means the episode before ended, unseen; the latest it can
                # have ended is when the new one began.
                self._transition(record, RESOLVED, event.starts_at)
                record.ends_at = event.starts_at
                self._superseded.append(record)
            # Flapping is a property of the condition, not of one episode: the new
            # occurrence inherits the recent state changes and counts its own start.
            fresh = self._start(fp, event)
            fresh.recent_transitions.extend(record.recent_transitions)
            # So are its latest starts (a clear emptied them): a sender repeating it
            # every 15 minutes keeps its beat at the third start, although the second
            # made this new alert.
            if fresh.status == FIRING:
                fresh.recent_starts = with_start(record.recent_starts, event.starts_at)
            record.recent_starts = ()
            self._transition(fresh, fresh.status, event.starts_at)
            return fresh, NEW

        record.event_count += 1
        record.last_event_at = max(record.last_event_at, event.ends_at or event.starts_at)
        if record.status == FIRING:
            self._take_status(record, event)
            if event.ends_at is None:
                record.recent_starts = with_start(record.recent_starts, event.starts_at)
                if reports_state:
                    self._take_latest_state(record, event)
                return record, DUPLICATE
            self._transition(record, RESOLVED, event.ends_at)
            record.ends_at = event.ends_at
            record.recent_starts = ()  # a clear ends the beat
            return record, RESOLVE
        # Resolved: a re-delivery of the same episode, or the condition came back.
        assert record.ends_at is not None
        if event.starts_at <= record.ends_at:
            return record, DUPLICATE
        self._transition(record, FIRING, event.starts_at)
        record.ends_at = None
        record.episode_start = event.starts_at
        self._take_latest_state(record, event)  # the new episode's, not the last one's
        self._take_status(record, event)
        if event.ends_at is not None:
            self._transition(record, RESOLVED, event.ends_at)
            record.ends_at = event.ends_at
        else:
            record.recent_starts = with_start(record.recent_starts, event.starts_at)
        return record, REFIRE

    def _start(self, fp: str, event: Alert) -> AlertRecord:
        record = AlertRecord(id=self._next_id(), fingerprint=fp, event=event, node_id=None,
                             starts_at=event.starts_at, last_event_at=event.starts_at)
        if event.ends_at is not None:
            record.status, record.ends_at = RESOLVED, event.ends_at
        else:
            record.recent_starts = (event.starts_at,)
        self.active[fp] = record
        return record

    def _is_new_occurrence(self, record: AlertRecord, event: Alert) -> bool:
        return (
            record.status == RESOLVED
            and record.ends_at is not None
            and event.starts_at - record.ends_at > self.settings.refire_window
        )

    def adopt_start(self, event: Alert) -> bool:
        """Give ``event``, whose sender did not say when its condition started (a Nagios
        recovery, a syslog clear, a tool that sends no time), the start of its
        condition's alert, so it folds into that episode rather than reading as a new
        one (``_is_new_onset``): a firing alert's for any such event, and a resolved
        one's for a clear (a second "up" of an interface already up is a duplicate,
        not a re-fire that makes the condition look flapping). When the event ended
        before that alert began it keeps its own time (a late clear of an earlier
        episode: a duplicate that ends nothing), and so it does without an alert of
        its condition (a problem: a new episode).

        Returns whether its condition has an alert here (firing, or resolved recently
        enough to re-fire): a clear without one ends nothing the engine knows of, and
        the engine keeps it out of the alerts (``UNMATCHED_CLEAR``)."""
        record = self.active.get(fingerprint(event, self.settings.volatile_labels))
        if record is None:
            return False
        if record.status != FIRING and event.ends_at is None:
            return True  # the condition is back: a new start
        if event.ends_at is not None and event.ends_at < _episode_start(record):
            return True
        event.starts_at = record.starts_at
        return True

    def adopt_firing_start(self, event: Alert) -> bool:
        """Give ``event``, a report of its condition's status that says no start and
        ends nothing (a Nagios acknowledgement, downtime or flapping notification), the
        start of its condition's firing alert, so it folds into that alert as a state
        report. Returns whether there is one: without it the report is not a new
        problem (Nagios notifies an acknowledgement or a downtime of an object whose
        problem the engine never saw, or that is over), and the engine keeps it out of
        the alerts (``UNMATCHED_REPORT``)."""
        record = self.active.get(fingerprint(event, self.settings.volatile_labels))
        if record is None or record.status != FIRING:
            return False
        event.starts_at = record.starts_at
        return True

    def _take_latest_state(self, record: AlertRecord, event: Alert) -> None:
        """A firing condition reported again with another severity or summary (Nagios
        or Icinga going from WARNING to CRITICAL, a packet loss that grew, a Zabbix
        problem whose severity an operator changed), or firing again after its clear,
        shows the latest: the alert is what an engineer reads, and its incident's
        severity follows. The first event's id and time stay the alert's."""
        first = record.event
        if (event.severity, event.summary) == (first.severity, first.summary):
            return
        record.event = replace(first, severity=event.severity, summary=event.summary)
        self._changed.append(record)

    @staticmethod
    def _take_status(record: AlertRecord, event: Alert) -> None:
        """An acknowledgement, maintenance, downtime or silence the event reports
        (``aiops.engine.alert_status``) becomes the alert's, whatever else the event
        says: it is not an identifying label, and the latest word of the source wins."""
        labels = take_latest(record.event.labels, event.labels)
        if labels is not None:
            record.event = replace(record.event, labels=labels)

    def take_changed(self) -> list[AlertRecord]:
        """The firing alerts whose severity or summary changed since last asked."""
        changed, self._changed = self._changed, []
        return changed

    def take_superseded(self) -> list[AlertRecord]:
        """The firing alerts ended by new starts of their conditions since last asked."""
        ended, self._superseded = self._superseded, []
        return ended

    def _is_new_onset(self, record: AlertRecord, event: Alert) -> bool:
        """A condition that starts again more than ``max_incident_span`` after its
        recorded onset is a new occurrence, correlated afresh, whether or not its clear
        was seen.

        Its incident stopped taking alerts by then (a cascade unfolds in minutes), so
        folding the new start into the old alert would tie whatever fault set it off
        now to an incident of the past: on the benchmark's scenarios that merged
        separate faults whenever a (type, device) condition recurred within the
        re-fire window (dev scenarios: pair F1 0.703 → 0.752). A flapping condition
        keeps folding into one alert, as before; re-deliveries of the same onset
        (Alertmanager keeps ``startsAt``) are unaffected.

        A still-firing condition reported with a start minutes later restarted without
        its clear reaching us (a missed resolve; an alarm that never clears): on the
        development scenarios 5 % of events were such restarts in another fault, all
        more than 2 minutes after the onset, while re-sends of the same episode all came
        within 2 minutes (dev pair F1 0.791 → 0.818; docs/architecture.md).

        The span is the settings' own, not stretched by a model's learned time scale
        (``aiops.learning.timescale``): where monitoring is slow an incident still takes
        alerts after it, and a restart there is still correlated afresh, possibly into
        the same incident. How a condition's events fold is a property of its sender,
        not of how fast faults cascade.
        """
        return (
            not record.flapping
            and event.starts_at != record.episode_start  # a re-send of this episode
            and event.starts_at - record.starts_at > self.settings.max_incident_span
        )

    def _keeps_beat(self, record: AlertRecord, event: Alert) -> bool:
        """A start of a firing condition that ``_is_new_onset`` takes for a restart is a
        re-send when it keeps the beat of the condition's latest starts (the sender
        repeats what lasts, stamped when sent; ``aiops.engine.beat``): counted in
        ``beat_folds``. A clear ends the beat, so a condition that cleared is judged
        by the restart rule alone."""
        if record.status != FIRING or event.ends_at is not None:
            return False
        if not on_beat(record.recent_starts, event.starts_at,
                       self.settings.steady_beat_max_gap):
            return False
        self.beat_folds += 1
        return True

    def _transition(self, record: AlertRecord, status: str, at: float) -> None:
        record.status = status
        record.transitions += 1
        window = record.recent_transitions
        window.append(at)
        while window and window[0] < at - self.settings.flap_window:
            window.popleft()
        record.flapping = len(window) >= self.settings.flap_threshold

    def evict(self, now: float) -> int:
        """Forget resolved alerts too old to re-fire into; return how many."""
        horizon = now - self.settings.refire_window
        stale = [fp for fp, r in self.active.items()
                 if r.status == RESOLVED and r.ends_at is not None and r.ends_at < horizon]
        for fp in stale:
            del self.active[fp]
        return len(stale)


def deduplicated(alerts: Sequence[Alert], topology: TopologyGraph,
                 settings: EngineSettings) -> list[AlertRecord]:
    """The alerts the engine would make of a history's events, in start order:
    deduplicated as it does (``Deduplicator``; re-sends and re-fires fold into their
    alert), each placed on the node its entity resolves to (None: unresolved)."""
    seq = 0

    def next_id() -> int:
        nonlocal seq
        seq += 1
        return seq

    dedup = Deduplicator(settings, next_id)
    records: list[AlertRecord] = []
    for event in sorted(alerts, key=lambda a: a.starts_at):
        record, disposition = dedup.apply(event)
        dedup.take_superseded()
        dedup.take_changed()
        if disposition == NEW:
            record.node_id = topology.resolve(event.entity)
            records.append(record)
    return records
