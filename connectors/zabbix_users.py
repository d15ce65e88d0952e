"""Who a Zabbix user id is, for ``acknowledged_by`` and ``suppressed_by``: a problem's
acknowledgement, and its suppression by hand (Zabbix 6.2+), carry only the ``userid`` of
who did it, and an operator reads "Jane Doe (jdoe): on it" or "manually by Jane Doe
(jdoe)" where "user 7" means a trip to the front end.

``UserNames`` asks ``user.get`` (``username``, ``name``, ``surname``) once per poll for
the ids it does not know yet, or knows from longer ago than ``REFRESH_AFTER``, and
keeps the answers for the follower's life, at most ``MAX_USERS`` of them.

Zabbix gives a Super admin every user; an Admin or User type only the members of its
own user groups (itself included). The others are left out of the answer without an
error (seen on a real Zabbix 6.0.14: tests/integration/test_zabbix_users_real.py). A user
not named, or a ``user.get`` that fails, keeps the id in the label ("user 7"): the
label stays true, and this is logged once for the follower's life, not at every poll.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from connectors.zabbix_api import ZabbixError
from connectors.zabbix_suppression import id_said

log = logging.getLogger(__name__)
# An hour: a user renamed (or granted the right to read others) shows in the labels
# within the hour, while a follower polling every 30 s asks user.get again for a known
# user once in 120 polls. Names change rarely, and a label that changes is sent again
# for every problem it names: sooner would buy little and cost those resends.
REFRESH_AFTER = 3600.0
# Far more operators than acknowledge or suppress problems at any one site; bounds the
# memory of a follower that runs for months (the least recently used goes first).
MAX_USERS = 1000
MAX_PART = 100  # characters of each name part kept: Zabbix's own column width


def user_label(user: dict[str, Any]) -> str | None:
    """How a ``user.get`` user is said: ``"Jane Doe (jdoe)"``, ``"jdoe"`` when it has
    no name and surname, ``"Jane Doe"`` without a username; None when it says none of
    them (the id is said instead)."""
    username = _part(user.get("username"))
    full = " ".join(part for part in (_part(user.get("name")), _part(user.get("surname")))
                    if part)
    if username and full:
        return f"{full} ({username})"
    return username or full or None


def _part(value: Any) -> str:
    """A name part as one line of text (a label is one line), "" when not text."""
    if not isinstance(value, str):
        return ""
    return " ".join(value.split())[:MAX_PART]


class UserNames:
    """User ids to names, learnt from ``lookup`` (``ZabbixApi.users``) and kept for
    ``refresh_after`` seconds; ``said`` words an id for a label."""

    def __init__(self, lookup: Callable[[list[str]], list[dict[str, Any]]], *,
                 refresh_after: float = REFRESH_AFTER, max_users: int = MAX_USERS,
                 clock: Callable[[], float] = time.monotonic):
        if refresh_after <= 0 or max_users < 1:
            raise ValueError(f"refresh_after must be > 0 and max_users >= 1, got "
                             f"{refresh_after} and {max_users}")
        self.lookup = lookup
        self.refresh_after = refresh_after
        self.max_users = max_users
        self.clock = clock
        # id -> (its label, None when Zabbix did not name it; when it was asked)
        self._known: OrderedDict[str, tuple[str | None, float]] = OrderedDict()
        self._told = False  # the fallback to ids was logged

    def learn(self, userids: Iterable[str]) -> None:
        """One ``user.get`` for those of ``userids`` not known, or known from longer ago
        than ``refresh_after``; none when all are known. Never raises for Zabbix's
        answer: a failure keeps what was known (ids for the rest) until the next
        refresh."""
        now = self.clock()
        wanted = sorted({u for u in userids if u.isdigit() and u != "0"
                         and not self._fresh(u, now)}, key=int)
        if not wanted:
            return
        try:
            answer = self.lookup(wanted)
        except ZabbixError as exc:
            for userid in wanted:  # a name known before stays: the user did not change
                self._keep(userid, self._known.get(userid, (None, now))[0], now)
            self._tell(f"user.get failed ({exc})")
            return
        named = {str(u.get("userid")): user_label(u) for u in answer if isinstance(u, dict)}
        for userid in wanted:
            self._keep(userid, named.get(userid), now)
        unnamed = [u for u in wanted if named.get(u) is None]
        if unnamed:
            self._tell(f"user.get did not name user {', '.join(unnamed[:10])} (an Admin or "
                       "User type reads only the members of its own user groups)")

    def said(self, userid: str) -> str:
        """``userid`` for a label: its name if Zabbix gave one, else ``user ID``."""
        known = self._known.get(userid)
        if known is None:
            return id_said(userid)
        self._known.move_to_end(userid)
        return known[0] or id_said(userid)

    def _fresh(self, userid: str, now: float) -> bool:
        known = self._known.get(userid)
        return known is not None and now - known[1] < self.refresh_after

    def _keep(self, userid: str, label: str | None, now: float) -> None:
        self._known[userid] = (label, now)
        self._known.move_to_end(userid)
        while len(self._known) > self.max_users:
            self._known.popitem(last=False)

    def _tell(self, why: str) -> None:
        """The fallback to ids, logged the first time only: it lasts as long as the API
        user's rights, and a warning per poll would bury everything else."""
        if self._told:
            return
        self._told = True
        log.warning("zabbix: %s: who acknowledged a problem or suppressed it by hand is "
                    "said by user id (asked again after %g s; said once)", why,
                    self.refresh_after)


def names_check(lookup: Callable[[], list[dict[str, Any]]]) -> str:
    """What ``aiops zabbix check`` says of the names of who acknowledged a problem or
    suppressed it by hand, from ``lookup`` (``ZabbixApi.users``: every user the API
    user may read). Zabbix always has users besides the API user (Admin, guest), so reading only one
    is reading only itself."""
    try:
        users = lookup()
    except ZabbixError as exc:
        return (f"user names: cannot be read ({exc}): who acknowledged a problem or "
                "suppressed it by hand is said by user id")
    if len(users) <= 1:
        return ("user names: only the API user's own (an Admin or User type reads its "
                "user groups' members only): who else acknowledged a problem or "
                "suppressed it by hand is said by user id")
    return (f"user names: {len(users)} users readable (a Super admin reads all; an Admin "
            "or User type, its user groups' members only)")
