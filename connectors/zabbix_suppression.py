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

Who suppressed it is said by ``user``, given a user id: the follower's names it
(``connectors.zabbix_users``: "Jane Doe (jdoe)", from one ``user.get`` per poll for the
ids it does not know, ``suppressor_ids``); without one, or when Zabbix would not name
the user, ``user ID``. Tested against the documented payload shapes only: no Zabbix
6.2+ runs here (Debian bookworm packages 6.0).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

from aiops.engine.alert_status import manual_said

log = logging.getLogger(__name__)
LATEST = 253_402_300_799.0  # 9999-12-31T23:59:59Z: a later end is no time


def id_said(userid: str) -> str:
    """A user who suppressed a problem, when no name is known for the id."""
    return f"user {userid}"


def suppression(problem: dict[str, Any],
                user: Callable[[str], str] = id_said) -> dict[str, str]:
    """``suppressed`` and ``suppressed_by`` of a problem Zabbix says is suppressed
    (``suppressed`` 1): ``"maintenance"`` when a maintenance suppresses it (by hand too
    or not), ``"manual"`` when only a suppression by hand does; ``suppressed_by`` names
    each (``"maintenance 3,7; manually by Jane Doe (jdoe) until ISO-TIME"``, who as
    ``user`` says the user id), "" when Zabbix said none (``selectSuppressionData`` not
    asked, or nothing usable in it)."""
    maintenances, by_hand = _read(problem.get("suppression_data"),
                                  str(problem.get("eventid", "?")), user)
    said = ([f"maintenance {','.join(maintenances)}"] if maintenances else []) + by_hand
    kind = "manual" if by_hand and not maintenances else "maintenance"
    return {"suppressed": kind, "suppressed_by": "; ".join(said)}


def suppressor_ids(problems: Iterable[dict[str, Any]]) -> set[str]:
    """The ids of the users who suppressed any of ``problems`` by hand: those
    ``suppression`` will ask ``user`` to name."""
    ids: set[str] = set()
    for problem in problems:
        data = problem.get("suppression_data")
        for entry in data if isinstance(data, list) else []:
            if isinstance(entry, dict) and _is_by_hand(entry) and (user := _userid(entry)):
                ids.add(user)
    return ids


def _read(data: Any, eventid: str,
          user: Callable[[str], str]) -> tuple[list[str], list[str]]:
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
        elif _is_by_hand(entry):
            by_hand.add(_by_hand(entry, eventid, user))
    return sorted(ids, key=int), sorted(by_hand)


def _is_by_hand(entry: dict[str, Any]) -> bool:
    """An entry of no maintenance ("0"), or one with a ``userid`` and no maintenance id
    of its own (6.2+ gives a maintenance's entry ``userid`` "0")."""
    maintenance = str(entry.get("maintenanceid", "")).strip()
    return maintenance == "0" or ("userid" in entry and not (
        maintenance.isdigit() and maintenance != "0"))


def _userid(entry: dict[str, Any]) -> str:
    """The entry's user id, "" when it has none usable ("0": no user)."""
    user = str(entry.get("userid", "")).strip()
    return user if user.isdigit() and user != "0" else ""


def _by_hand(entry: dict[str, Any], eventid: str, user: Callable[[str], str]) -> str:
    """One suppression by hand: who (as ``user`` says the id) and until when, each
    left out when the entry does not say it usably."""
    userid = _userid(entry)
    return manual_said(user(userid) if userid else "",
                       _until(entry.get("suppress_until"), eventid))


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
