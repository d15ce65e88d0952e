"""Zabbix's JSON-RPC API as an alert source: the problems open now, and the recoveries
of those sent before, read by polling (Zabbix has no event stream).

Items have the shape the media type in deploy/zabbix/ sends, so the built-in
``zabbix`` mapping takes both, and a problem reported by the media type and by the
API is one alert: the same name (the trigger's name with its macros unresolved, what
``{TRIGGER.NAME.ORIG}`` gives), entity (the host), start (the problem event's second,
written in UTC), tags and event id. One exception: a trigger over several hosts is
named by the host Zabbix lists first for the event (the lowest id), while the media
type's ``{HOST.HOST}`` is the host of the expression's first item.

A problem read here is as it is now (``event.get`` and ``problem.get`` give its
current severity, which an operator may have changed since it opened), so the follower
marks its problem items as state reports (``event_update_status`` 1, what the media
type sends for an action's update operations): the alert takes their severity. Items
also say whether the problem is acknowledged (``acknowledged`` "true"/"false"; and
``acknowledged_by``, "Jane Doe (jdoe): MESSAGE" of the acknowledgement that stands, from
``problem.get``'s ``acknowledges``: ``connectors.zabbix_acknowledgement``) and
suppressed (``suppressed`` "maintenance", "manual" for a suppression by hand only
(Zabbix 6.2+), or "false"; and ``suppressed_by``, "maintenance ID,..." and "manually by
Jane Doe (jdoe) until ISO-TIME", or "by user ID" when the user cannot be named:
``connectors.zabbix_suppression``, ``connectors.zabbix_users``), from ``problem.get``'s
``acknowledged``, ``suppressed`` (0/1) and ``suppression_data``; the mapping makes them the
labels every source uses for these (``aiops.engine.alert_status``). A value other than
0 or 1 is not guessed at: the item leaves it out (the alert keeps what it had) and the
follower logs it by name.

Tested against a real Zabbix 6.0 (tests/integration/test_zabbix_real.py); the
suppression by hand of 6.2+ against its documented payloads only.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests

from connectors.zabbix_acknowledgement import acknowledgement_said
from connectors.zabbix_suppression import id_said, suppression

log = logging.getLogger(__name__)
MAX_TEXT = 1024
LATEST = 253_402_300_799.0  # 9999-12-31T23:59:59Z
BATCH = 200  # event ids per event.get: Zabbix resolves macros in memory (PHP's limit)
# Trigger problem events (source 0: triggers, object 0: a trigger, value 1: PROBLEM).
PROBLEM_EVENTS = {"source": 0, "object": 0, "value": 1}
# What Zabbix says when it refuses the credentials (codes vary: 6.0 answers an expired
# token with -32500 "Application error.", a bad one with -32602 "Not authorized.").
REFUSALS = ("not authorized", "not authorised", "session terminated", "api token expired",
            "incorrect user name or password", "re-login", "account is blocked",
            "no permissions")


class ZabbixError(Exception):
    """The API could not be read now (down, 5xx, not JSON): try again later."""


class ZabbixRefused(ZabbixError):
    """Zabbix refused the credentials or the call: trying again will not help."""


def _utc(clock: float) -> tuple[str, str]:
    moment = datetime.fromtimestamp(clock, UTC)
    return moment.strftime("%Y.%m.%d"), moment.strftime("%H:%M:%S")


def problem_status(problem: dict[str, Any],
                   user: Callable[[str], str] = id_said) -> dict[str, str]:
    """``acknowledged`` and ``suppressed`` item fields of a ``problem.get`` (or
    ``event.get``) object, each left out when Zabbix gave none, or gave something other
    than 0 or 1 (then logged with the field's name and value: not a reason to drop the
    problem); with ``suppressed``, ``suppressed_by`` (``zabbix_suppression``; who
    suppressed it by hand as ``user`` says a user id); with ``acknowledged``, when the
    object has its ``acknowledges`` (asked), ``acknowledged_by``
    (``zabbix_acknowledgement``; who as ``user`` says)."""
    out: dict[str, str] = {}
    acknowledged, suppressed = _flag(problem, "acknowledged"), _flag(problem, "suppressed")
    if acknowledged is not None:
        out["acknowledged"] = "true" if acknowledged else "false"
        if "acknowledges" in problem:
            # Said even when empty, as suppressed_by: an unacknowledgement, or an
            # acknowledgement nobody can be named for, is a change and the label goes.
            out["acknowledged_by"] = (acknowledgement_said(problem, user)
                                      if acknowledged else "")
    if suppressed:
        out |= suppression(problem, user)
    elif suppressed is not None:
        # suppressed_by said even when empty, so that the end of a suppression is a
        # change and the label goes (the mapping leaves an empty label out; the engine
        # drops it).
        out |= {"suppressed": "false", "suppressed_by": ""}
    return out


def _flag(problem: dict[str, Any], name: str) -> bool | None:
    """A 0/1 field of a problem; None when absent or neither (logged by name)."""
    if problem.get(name) is None:
        return None
    value = str(problem[name]).strip()
    if value in ("0", "1"):
        return value == "1"
    log.warning("zabbix: problem %s: %s %s is neither 0 nor 1; ignored",
                problem.get("eventid", "?"), name, str(problem.get(name))[:50])
    return None


def problem_item(event: dict[str, Any], update: bool = False,
                 user: Callable[[str], str] = id_said) -> dict[str, Any]:
    """The item for a problem event of ``event.get`` (with ``selectHosts``,
    ``selectRelatedObject`` and ``selectTags``); ``update``: a report of the problem as
    it is now, as the media type sends for an update operation; ``user``: as
    ``problem_status``. Raises ValueError naming what is missing."""
    try:
        clock = float(event["clock"])
        hosts, trigger = event["hosts"], event["relatedObject"]
        eventid = str(event["eventid"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"a Zabbix event without {exc}: {str(event)[:200]}") from None
    if not 0 <= clock <= LATEST:  # also NaN
        raise ValueError(f"Zabbix event {eventid} has no usable time ({clock})")
    if (not isinstance(hosts, list) or not hosts or not isinstance(hosts[0], dict)
            or not hosts[0].get("host") or not isinstance(trigger, dict)
            or not trigger.get("description")):
        raise ValueError(f"Zabbix event {eventid} has no host or trigger (not a trigger "
                         "event?)")
    date, moment = _utc(clock)
    tags = [{"tag": t.get("tag", ""), "value": t.get("value", "")}
            for t in event.get("tags") or [] if isinstance(t, dict)]
    return {
        "event_source": "0", "event_id": eventid, "event_value": "1",
        "event_name": str(event.get("name", ""))[:MAX_TEXT], "event_date": date,
        "event_time": moment, "recovery_date": "", "recovery_time": "",
        "timezone": "+00:00", "severity": str(event.get("severity", "0")),
        "opdata": str(event.get("opdata") or "")[:MAX_TEXT], "tags": json.dumps(tags),
        "trigger_id": str(trigger.get("triggerid", event.get("objectid", ""))),
        "trigger_name": str(trigger["description"])[:MAX_TEXT],
        "host": str(hosts[0]["host"]), "host_ip": "",
        "event_update_status": "1" if update else "0",
    } | problem_status(event, user)


def recovery_item(problem: dict[str, Any], recovered_at: float) -> dict[str, Any]:
    """The recovery of a problem item sent before (``problem_item``)."""
    date, moment = _utc(recovered_at)
    return {**problem, "event_value": "0", "recovery_date": date, "recovery_time": moment,
            "event_update_status": "0"}


def updated_item(problem: dict[str, Any], severity: str,
                 status: dict[str, str] | None = None) -> dict[str, Any]:
    """A problem item sent before (``problem_item``), its severity (or acknowledgement,
    or suppression: ``problem_status``) changed since: a state report, so the alert
    takes it."""
    return {**problem, **(status or {}), "severity": severity or problem.get("severity", ""),
            "event_update_status": "1"}


def status_changed(sent: dict[str, Any], status: dict[str, str]) -> bool:
    """Whether ``status`` (``problem_status``) says something other than the item sent."""
    return any(sent.get(name) != value for name, value in status.items())


def problem_severity(problem: dict[str, Any]) -> str:
    """A problem's severity, 0-5 as text; "" when Zabbix gave none usable."""
    value = problem.get("severity")
    text = str(value if value is not None else "").strip()
    return text if text in ("0", "1", "2", "3", "4", "5") else ""


class ZabbixApi:
    """One Zabbix API endpoint, as an API token (Zabbix 5.4+) or a user and password
    (logged in again when the session ends)."""

    def __init__(self, url: str, *, token: str | None = None, user: str | None = None,
                 password: str | None = None, verify: str | bool = True,
                 timeout: float = 30.0):
        if not token and not (user and password):
            raise ValueError("give an API token, or a user and a password")
        self.url = url
        self.token, self.user, self.password = token, user, password
        self.verify = verify
        self.timeout = timeout
        self._session = requests.Session()
        self._auth: str | None = token
        self._in_header: bool | None = None  # 6.4+: a bearer header; 7.2 refuses "auth"

    def call(self, method: str, params: Any) -> Any:
        if self._in_header is None:
            self._in_header = self._version() >= (6, 4)
        if self._auth is None:
            self._login()
        try:
            return self._rpc(method, params)
        except ZabbixRefused:
            if self.token:
                raise
            self._login()  # the session ended (Zabbix's timeout, a restart): once more
            return self._rpc(method, params)

    def _version(self) -> tuple[int, int]:
        """Zabbix's major and minor version; ZabbixError naming the answer when it is
        none (a proxy or another JSON-RPC service at the URL): this poll fails and the
        next tries again, as for an answer that is not JSON."""
        version = self._rpc("apiinfo.version", [], auth=False)
        try:
            major, minor = (int(part) for part in version.split(".")[:2])
        except (AttributeError, ValueError):  # not text; not two numbers
            raise ZabbixError(f"{self.url}: apiinfo.version answered {str(version)[:100]!r}, "
                              "not a version (is this Zabbix's api_jsonrpc.php?)") from None
        return major, minor

    def _login(self) -> None:
        """A session for the user (Zabbix 6.0+ names the parameter ``username``)."""
        self._auth = None
        self._auth = str(self._rpc("user.login", {"username": self.user,
                                                  "password": self.password}, auth=False))

    def _rpc(self, method: str, params: Any, auth: bool = True) -> Any:
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params, "id": 1}
        headers = {"Content-Type": "application/json-rpc"}
        if auth and self._auth:
            if self._in_header:
                headers["Authorization"] = f"Bearer {self._auth}"
            else:
                body["auth"] = self._auth
        try:
            response = self._session.post(self.url, json=body, headers=headers,
                                          timeout=self.timeout, verify=self.verify)
        except requests.RequestException as exc:
            raise ZabbixError(f"{self.url}: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise ZabbixError(f"{self.url}: HTTP {response.status_code} "
                              f"{response.text[:300]}")
        try:
            answer = response.json()
        except ValueError:
            raise ZabbixError(f"{self.url}: not JSON (is this Zabbix's api_jsonrpc.php?): "
                              f"{response.text[:200]!r}") from None
        if not isinstance(answer, dict):
            raise ZabbixError(f"{self.url}: not a JSON-RPC answer: {str(answer)[:200]}")
        error = answer.get("error")
        if isinstance(error, dict):
            text = f"{method}: {error.get('message', '')} {error.get('data', '')}".strip()
            if method == "user.login" or any(r in text.lower() for r in REFUSALS):
                raise ZabbixRefused(f"{self.url}: Zabbix refused {text}")
            raise ZabbixError(f"{self.url}: {text}")
        return answer.get("result")

    def _list(self, method: str, params: Any) -> list[dict[str, Any]]:
        """A call whose answer is a list of objects with an ``eventid``; anything else
        is an error of this poll (tried again), not of the follower."""
        result = self.call(method, params)
        if not isinstance(result, list) or not all(
                isinstance(r, dict) and str(r.get("eventid", "")).isdigit() for r in result):
            raise ZabbixError(f"{self.url}: {method} answered no list of events: "
                              f"{str(result)[:200]}")
        return result

    def logout(self) -> None:
        """End a user's session (a token has none): sessions left open pile up in
        Zabbix. Best effort: the follower is stopping."""
        if self.token or not self._auth:
            return
        with contextlib.suppress(ZabbixError):
            self._rpc("user.logout", [])

    def open_problem_ids(self) -> set[str]:
        """The event ids of the trigger problems open now."""
        return set(self.open_problems())

    def open_problems(self) -> dict[str, str]:
        """The trigger problems open now: their current severity (0-5, as text; "" if
        Zabbix gave none) by event id."""
        return {eventid: severity for eventid, (severity, _) in self.problem_states().items()}

    def problem_states(self) -> dict[str, tuple[str, dict[str, str]]]:
        """The trigger problems open now, by event id: their current severity (as
        ``open_problems``) and whether they are acknowledged and suppressed, by a
        maintenance or by hand (``problem_status``). ``problem.get`` lists suppressed problems
        too (``suppressed`` unset: both)."""
        return {eventid: (problem_severity(p), problem_status(p))
                for eventid, p in self.problems().items()}

    def problems(self) -> dict[str, dict[str, Any]]:
        """The trigger problems open now as ``problem.get`` has them, by event id: what
        ``problem_severity`` and ``problem_status`` read. Their updates
        (``selectAcknowledges``) say who acknowledged each; a problem Zabbix gave none
        for reads as one whose list says nothing usable (logged), not as one not asked,
        so that the label of who acknowledged it goes rather than stays stale."""
        problems = {str(p["eventid"]): p for p in self._list("problem.get", {
            "output": ["eventid", "severity", "acknowledged", "suppressed"],
            "selectSuppressionData": "extend",
            "selectAcknowledges": ["acknowledgeid", "userid", "clock", "message", "action"],
            "source": 0, "object": 0})}
        for problem in problems.values():
            problem.setdefault("acknowledges", None)
        return problems

    def users(self, userids: list[str] | None = None) -> list[dict[str, Any]]:
        """``user.get``'s id, username, name and surname of these users (None: all the
        API user may read). Zabbix leaves out those the API user may not read, without
        an error (connectors.zabbix_users)."""
        params: dict[str, Any] = {"output": ["userid", "username", "name", "surname"]}
        if userids is not None:
            params["userids"] = userids
        result = self.call("user.get", params)
        if not isinstance(result, list) or not all(isinstance(u, dict) for u in result):
            raise ZabbixError(f"{self.url}: user.get answered no list of users: "
                              f"{str(result)[:200]}")
        return result

    def newest_problem_eventid(self) -> int:
        """The id of Zabbix's newest trigger problem event (0: none yet), where a
        follower with no state starts: everything up to it is history, not news."""
        newest = self._list("event.get", {**PROBLEM_EVENTS, "output": ["eventid"],
                                          "sortfield": "eventid", "sortorder": "DESC",
                                          "limit": 1})
        return int(newest[0]["eventid"]) if newest else 0

    def problem_eventids_after(self, eventid: int, limit: int, *,
                               time_from: int | None = None,
                               time_till: int | None = None) -> list[str]:
        """The ids of the trigger problem events after ``eventid``, oldest first, at most
        ``limit`` (ids only: the follower asks details of the few it sends, ``events``,
        which keeps one call over thousands of events within PHP's memory); with
        ``time_from``/``time_till``, only those whose clock is within them (both
        included: Zabbix's ``e.clock>=`` and ``e.clock<=``)."""
        window = {key: str(value) for key, value in (("time_from", time_from),
                                                     ("time_till", time_till))
                  if value is not None}
        return [str(e["eventid"]) for e in self._list("event.get", {
            **PROBLEM_EVENTS, **window, "output": ["eventid"],
            "eventid_from": str(eventid + 1), "sortfield": "eventid", "sortorder": "ASC",
            "limit": limit})]

    def events(self, eventids: list[str]) -> dict[str, dict[str, Any]]:
        """``event.get`` of these ids with what ``problem_item`` needs, by id, asked
        ``BATCH`` at a time (a few thousand at once exhaust a front end's PHP memory)."""
        found: dict[str, dict[str, Any]] = {}
        for at in range(0, len(eventids), BATCH):
            for event in self._list("event.get", {
                    "eventids": eventids[at:at + BATCH], "output": "extend",
                    "selectHosts": ["host"], "selectRelatedObject": ["triggerid", "description"],
                    # What suppresses a suppressed one: ``suppressed_by``, as
                    # ``problem_states`` gives it for an open problem.
                    "selectTags": "extend", "selectSuppressionData": "extend"}):
                found[str(event["eventid"])] = event
        return found

    def recoveries(self, eventids: list[str]) -> dict[str, float]:
        """When the problems of these ids recovered, by problem id; absent: no recovery
        event (the problem went with its trigger or host, or its event was cleaned up)."""
        recovery: dict[str, str] = {}
        for at in range(0, len(eventids), BATCH):
            for event in self._list("event.get", {"eventids": eventids[at:at + BATCH],
                                                  "output": ["eventid", "r_eventid"]}):
                if str(event.get("r_eventid") or "0") != "0":
                    recovery[str(event["eventid"])] = str(event["r_eventid"])
        when = self.clocks(list(recovery.values()))
        return {problem: when[r] for problem, r in recovery.items() if r in when}

    def clocks(self, eventids: list[str]) -> dict[str, float]:
        """The times of these events (recovery events: their problems' ends), by id;
        absent: no such event, or no usable time."""
        ids = sorted(set(eventids), key=int)
        when: dict[str, float] = {}
        for at in range(0, len(ids), BATCH):
            for event in self._list("event.get", {"eventids": ids[at:at + BATCH],
                                                  "output": ["eventid", "clock"]}):
                try:
                    clock = float(event["clock"])
                except (KeyError, TypeError, ValueError):
                    continue
                if 0 <= clock <= LATEST:
                    when[str(event["eventid"])] = clock
        return when
