"""What an operator did about an alert in the monitoring system it came from:
acknowledged it, or put its object in a maintenance window, a downtime or a silence;
and whether that system says its object flaps.

Every source that knows says it in the same two labels (CONTRACTS §1: labels are
"everything else the source said"):

- ``acknowledged``: ``"true"`` or ``"false"``;
- ``acknowledged_by``, with ``acknowledged`` where the source says who acknowledged and
  why: ``"AUTHOR: COMMENT"`` (Nagios: its acknowledgement's comment, from status.dat or
  an ACKNOWLEDGEMENT notification; Icinga 2: its acknowledgement's author and comment,
  from the stream's AcknowledgementSet or its acknowledgement comment; Zabbix: the
  user's name and the message of the acknowledgement that stands, from
  ``problem.get``'s acknowledges or an acknowledgement's update notification). It
  belongs to
  ``acknowledged``: an event that
  carries ``acknowledged`` without it removes it (the acknowledgement is over, or the
  sender cannot say who);
- ``suppressed``: ``"maintenance"`` or ``"manual"`` (Zabbix: a maintenance, or an
  operator's suppression of the problem by hand, 6.2+; a problem with both reads
  ``"maintenance"``), ``"downtime"`` (Icinga 2, Nagios), ``"silence"`` or
  ``"inhibited"`` (Alertmanager), or ``"false"``;
- ``suppressed_by``, with ``suppressed`` where the source says what suppresses it:
  ``"maintenance 3,7"`` (Zabbix's maintenance ids), ``"manually by Jane Doe (jdoe)
  until ISO-TIME"`` (Zabbix's suppression by hand, ``"by user 5"`` when Zabbix does not
  name the user; ``manual_said``), ``"silence ID,..."`` or
  ``"inhibited by FINGERPRINT,..."`` (Alertmanager), ``"downtime ID by AUTHOR until
  ISO-TIME: COMMENT"`` (the downtimes in effect, joined by ``"; "``: Nagios's by id,
  Icinga 2's by name; ``downtime_said``; a Nagios DOWNTIMESTART notification, whose
  macros give no id or end, ``"downtime by AUTHOR: COMMENT"``, worded alike by
  deploy/nagios/aiops-notify); several kinds joined by ``"; "``
  (``"maintenance 3; manually by user 5 indefinitely"``). It belongs to
  ``suppressed``: an event that carries ``suppressed`` without it removes it;
- ``flapping``: ``"true"`` or ``"false"``, where the source detects flapping itself
  (Icinga 2, Nagios). A label only: the incident does not count it, and the engine's own
  flapping (state changes within ``flap_window``) does not read it.

They are not identifying labels (``EngineSettings.volatile_labels``): an acknowledged
problem is the same condition as before. A firing alert takes the values of the latest
event of its condition that carries them (``take_latest``); a sender that knows nothing
of them (a webhook of Alertmanager; Zabbix's media type of a maintenance) sends neither
and changes nothing. Correlation and root-cause ranking ignore them (a suppressed alert is still
evidence of a fault); they change only what an incident tells an operator
(``incident_status``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

ACKNOWLEDGED = "acknowledged"
ACKNOWLEDGED_BY = "acknowledged_by"
SUPPRESSED = "suppressed"
SUPPRESSED_BY = "suppressed_by"
FLAPPING = "flapping"
STATUS_LABELS = (ACKNOWLEDGED, ACKNOWLEDGED_BY, SUPPRESSED, SUPPRESSED_BY, FLAPPING)
# A label that says who or what, and the label it belongs to: an event carrying the
# latter without it removes it.
BELONGS_TO = {ACKNOWLEDGED_BY: ACKNOWLEDGED, SUPPRESSED_BY: SUPPRESSED}
SUPPRESSIONS = ("maintenance", "manual", "downtime", "silence", "inhibited")


def acknowledged_by(author: str, comment: str) -> str:
    """``acknowledged_by``'s value: ``"AUTHOR: COMMENT"`` of the parts said, "" when
    neither is (then the label is left out). One wording for every source, so an
    operator reads Nagios's and Icinga's alike."""
    return ": ".join(part for part in (author.strip(), comment.strip()) if part)


def downtime_said(ident: str, author: str, until: float | None, comment: str) -> str:
    """One downtime of ``suppressed_by``: ``"downtime ID by AUTHOR until ISO-TIME:
    COMMENT"`` (UTC, to the second; ``unknown`` for a blank author); the end is left out
    when the source does not say it, and the comment when it is blank. Several are
    joined with ``"; "``."""
    said = f"downtime {ident} by {author.strip() or 'unknown'}"
    if until is not None:
        said += f" until {_utc_second(until)}"
    return f"{said}: {comment.strip()}" if comment.strip() else said


def manual_said(author: str, until: float | None) -> str:
    """A suppression by hand (Zabbix 6.2+'s "suppress" of a problem) in
    ``suppressed_by``: ``"manually by AUTHOR until ISO-TIME"`` (UTC, to the second), or
    ``"... indefinitely"`` when ``until`` is 0 (Zabbix's "indefinitely"). A part the
    source does not say is left out (``"manually"`` at the least), not guessed: the
    label still says the problem is suppressed by hand, and how much is known."""
    said = f"manually by {author.strip()}" if author.strip() else "manually"
    if until is None:
        return said
    return f"{said} indefinitely" if until == 0 else f"{said} until {_utc_second(until)}"


def _utc_second(moment: float) -> str:
    return datetime.fromtimestamp(int(moment), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_acknowledged(labels: Mapping[str, str]) -> bool:
    return labels.get(ACKNOWLEDGED) == "true"


def is_suppressed(labels: Mapping[str, str]) -> bool:
    return labels.get(SUPPRESSED) in SUPPRESSIONS


def take_latest(current: Mapping[str, str], event: Mapping[str, str]) -> dict[str, str] | None:
    """``current`` labels with the status labels ``event`` carries, or None when that
    changes nothing (the common case: no copy). A label the event does not carry keeps
    its value: a sender that does not know (a media type's notification) must not
    clear what a follower that does read."""
    changed: dict[str, str] | None = None
    for name in STATUS_LABELS:
        value = event.get(name)
        if value is not None and current.get(name) != value:
            if changed is None:
                changed = dict(current)
            changed[name] = value
    for detail, owner in BELONGS_TO.items():
        if owner in event and detail not in event and detail in current:
            # Who acknowledged, or what suppressed it, is no longer said: it is over
            # (or the source cannot say).
            if changed is None:
                changed = dict(current)
            del changed[detail]
    return changed


def incident_status(alerts: Iterable[tuple[str, Mapping[str, str]]]) -> dict[str, object]:
    """What an incident tells an operator of its alerts (``(status, labels)`` pairs):
    how many are acknowledged and how many suppressed, of those firing and of all, and
    ``suppressed``: it has firing alerts and every one of them is suppressed (someone
    declared the work; nobody need be woken)."""
    acknowledged = suppressed = firing = firing_acknowledged = firing_suppressed = 0
    for status, labels in alerts:
        ack, sup = is_acknowledged(labels), is_suppressed(labels)
        acknowledged += ack
        suppressed += sup
        if status == "firing":
            firing += 1
            firing_acknowledged += ack
            firing_suppressed += sup
    return {
        "acknowledged_alerts": acknowledged, "suppressed_alerts": suppressed,
        "firing_alerts": firing, "firing_acknowledged": firing_acknowledged,
        "firing_suppressed": firing_suppressed,
        "acknowledged": firing > 0 and firing_acknowledged == firing,
        "suppressed": firing > 0 and firing_suppressed == firing,
    }
