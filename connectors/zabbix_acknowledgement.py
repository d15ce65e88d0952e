"""Who acknowledged a Zabbix problem, and why, from the ``acknowledges`` of
``problem.get`` (``selectAcknowledges``): the label ``acknowledged_by``,
``"NAME: MESSAGE"``, worded as Nagios's and Icinga's ``"AUTHOR: COMMENT"``
(``aiops.engine.alert_status.acknowledged_by``).

Zabbix keeps every update of a problem in that list, one entry per
``event.acknowledge`` call: its ``userid``, ``clock``, ``message`` and ``action``, a bit
mask of what the update did (1 close, 2 acknowledge, 4 add a message, 8 change the
severity, 16 unacknowledge; 6.2+ adds 32 suppress, 64 unsuppress and more). Only an
acknowledgement names who acknowledged: a comment added later, or a severity change,
does not, and an unacknowledgement ends it. So the label is the latest entry that
acknowledged or unacknowledged the problem, if it acknowledged it, with its message if
the same update added one (Zabbix stores it on that entry). The list comes in no
order (6.0's ``problem.get`` sorts it by nothing): the latest is the highest
``clock``, then the highest ``acknowledgeid`` (two updates in one second).

Who is said by ``user``, given a user id (``connectors.zabbix_users``:
``"Jane Doe (jdoe)"``, or ``user ID`` when Zabbix does not name the user).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from aiops.engine.alert_status import acknowledged_by

log = logging.getLogger(__name__)
ACKNOWLEDGE = 2
MESSAGE = 4
UNACKNOWLEDGE = 16
MAX_MESSAGE = 2048  # Zabbix's own column holds 2,048 characters


def acknowledgement_said(problem: dict[str, Any], user: Callable[[str], str]) -> str:
    """``acknowledged_by`` of an acknowledged problem: ``"NAME: MESSAGE"`` of its
    latest acknowledgement, ``"NAME"`` when that update added no message; "" when the
    list says no acknowledgement stands (then the label goes) or is not a list
    (logged)."""
    latest = _latest(problem)
    if latest is None or not _action(latest) & ACKNOWLEDGE:
        return ""
    userid = _userid(latest)
    message = latest.get("message") if _action(latest) & MESSAGE else ""
    text = " ".join(message.split())[:MAX_MESSAGE] if isinstance(message, str) else ""
    return acknowledged_by(user(userid) if userid else "", text)


def acknowledger_ids(problems: Iterable[dict[str, Any]]) -> set[str]:
    """The ids of the users whose acknowledgement stands on any of ``problems``: those
    ``acknowledgement_said`` will ask ``user`` to name."""
    ids: set[str] = set()
    for problem in problems:
        latest = _latest(problem, quiet=True)
        if latest is not None and _action(latest) & ACKNOWLEDGE and (userid := _userid(latest)):
            ids.add(userid)
    return ids


def _latest(problem: dict[str, Any], quiet: bool = False) -> dict[str, Any] | None:
    """The latest entry of the problem's ``acknowledges`` that acknowledged or
    unacknowledged it; None when there is none. A list that is not one, and entries
    that are not objects or lack a usable ``action`` or ``clock``, are left out and
    logged naming the problem (not when ``quiet``: the same problem is read again to
    word it, and one line a poll is enough)."""
    updates = problem.get("acknowledges")
    eventid = problem.get("eventid", "?")
    if not isinstance(updates, list):
        if not quiet:
            log.warning("zabbix: problem %s: acknowledges is %s, not a list; who "
                        "acknowledged it is not said", eventid, str(updates)[:50])
        return None
    found: tuple[tuple[int, int], dict[str, Any]] | None = None
    unusable = 0
    for update in updates:
        if not isinstance(update, dict) or _number(update.get("action")) < 0:
            unusable += 1
            continue
        if not _action(update) & (ACKNOWLEDGE | UNACKNOWLEDGE):
            continue  # a comment, a severity change: not who acknowledged
        order = (_number(update.get("clock")), _number(update.get("acknowledgeid")))
        if order[0] < 0:
            unusable += 1
            continue
        if found is None or order > found[0]:
            found = (order, update)
    if unusable and not quiet:
        log.warning("zabbix: problem %s: %d of its acknowledges without a usable action "
                    "or clock; left out", eventid, unusable)
    return found[1] if found else None


def _action(update: dict[str, Any]) -> int:
    return max(_number(update.get("action")), 0)


def _number(value: Any) -> int:
    """A whole number Zabbix writes as text; -1 when it is none."""
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(
        value, bool) else ""
    return int(text) if text.isdigit() else -1


def _userid(update: dict[str, Any]) -> str:
    """The update's user id, "" when it has none usable ("0": no user)."""
    number = _number(update.get("userid"))
    return str(number) if number > 0 else ""
