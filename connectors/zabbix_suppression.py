"""What suppresses a Zabbix problem, from the ``suppression_data`` of ``problem.get``
or ``event.get`` (``selectSuppressionData``): its maintenances, and an operator's
suppression of the problem by hand (Zabbix 6.2+: ``event.acknowledge`` action 32,
"suppress", with ``suppress_until``; 64 ends it).

Each entry is one row of Zabbix's ``event_suppress``: ``maintenanceid``,
``suppress_until`` and, from 6.2, ``userid``. A maintenance's entry has its id (and
``userid`` "0"); a suppression by hand has ``maintenanceid`` "0" (the front end reads
the row's NULL as "0") and the ``userid`` of who suppressed it, ``suppress_until``
its end or "0" for "indefinitely". Zabbix 6.0 writes maintenances only, and its
entries carry no ``userid``: for it nothing here differs from reading maintenance ids.

Who suppressed it is said as ``user ID``: ``problem.get``'s acknowledges carry the
``userid`` only (``event.get``'s can add ``username``, but the follower reads open
problems with ``problem.get``), and a ``user.get`` per poll would need the right to
read other users. Tested against the documented payload shapes only: no Zabbix 6.2+
runs here (Debian bookworm packages 6.0).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from aiops.engine.alert_status import manual_said

log = logging.getLogger(__name__)
LATEST = 253_402_300_799.0  # 9999-12-31T23:59:59Z: a later end is no time


def suppression(problem: dict[str, Any]) -> dict[str, str]:
    """``suppressed`` and ``suppressed_by`` of a problem Zabbix says is suppressed
    (``suppressed`` 1): ``"maintenance"`` when a maintenance suppresses it (by hand too
    or not), ``"manual"`` when only a suppression by hand does; ``suppressed_by`` names
    each (``"maintenance 3,7; manually by user 5 until ISO-TIME"``), "" when Zabbix
    said none (``selectSuppressionData`` not asked, or nothing usable in it)."""
    maintenances, by_hand = _read(problem.get("suppression_data"),
                                  str(problem.get("eventid", "?")))
    said = ([f"maintenance {','.join(maintenances)}"] if maintenances else []) + by_hand
    kind = "manual" if by_hand and not maintenances else "maintenance"
    return {"suppressed": kind, "suppressed_by": "; ".join(said)}


def _read(data: Any, eventid: str) -> tuple[list[str], list[str]]:
    """The maintenance ids (in number order) and the suppressions by hand (as
    ``manual_said`` words them, sorted: the same data gives the same label, so an
    unchanged problem is not sent again) in ``suppression_data``; an entry that is
    neither (not an object, or no id of either kind) is left out."""
    if not isinstance(data, list):
        return [], []
    ids: set[str] = set()
    by_hand: set[str] = set()
    for entry in data:
        if not isinstance(entry, dict):
            continue
        maintenance = str(entry.get("maintenanceid", "")).strip()
        if maintenance.isdigit() and maintenance != "0":
            ids.add(maintenance)
        elif maintenance == "0" or "userid" in entry:
            by_hand.add(_by_hand(entry, eventid))
    return sorted(ids, key=int), sorted(by_hand)


def _by_hand(entry: dict[str, Any], eventid: str) -> str:
    """One suppression by hand: who (``user ID``) and until when, each left out when
    the entry does not say it usably."""
    user = str(entry.get("userid", "")).strip()
    author = f"user {user}" if user.isdigit() and user != "0" else ""
    return manual_said(author, _until(entry.get("suppress_until"), eventid))


def _until(value: Any, eventid: str) -> float | None:
    """``suppress_until`` as seconds (0: indefinitely); None when absent, or when it is
    no time (logged naming the problem and the value: not a reason to drop the rest)."""
    if value is None:
        return None
    try:
        until = float(str(value).strip())
    except ValueError:
        until = math.nan
    if not 0 <= until <= LATEST:  # also NaN
        log.warning("zabbix: problem %s: suppress_until %s is no time; left out",
                    eventid, str(value)[:50])
        return None
    return until
