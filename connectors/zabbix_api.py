"""Zabbix's JSON-RPC API as an alert source: the problems open now, and the recoveries
of those sent before, read by polling (Zabbix has no event stream).

Items have the shape the media type in deploy/zabbix/ sends, so the built-in
``zabbix`` mapping takes both, and a problem reported by the media type and by the
API is one alert: the same name (the trigger's name with its macros unresolved, what
``{TRIGGER.NAME.ORIG}`` gives), entity (the first host, ``{HOST.HOST}``), start (the
problem event's second, written in UTC) and event id.

Tested against a real Zabbix 6.0 (tests/integration/test_zabbix_real.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import requests

MAX_TEXT = 1024
NOT_AUTHORISED = -32602  # Zabbix's code for a refused call, a bad token among them


class ZabbixError(Exception):
    """The API could not be read now (down, 5xx, not JSON): try again later."""


class ZabbixRefused(ZabbixError):
    """Zabbix refused the credentials or the call: trying again will not help."""


def _utc(clock: float) -> tuple[str, str]:
    moment = datetime.fromtimestamp(clock, UTC)
    return moment.strftime("%Y.%m.%d"), moment.strftime("%H:%M:%S")


def problem_item(event: dict[str, Any]) -> dict[str, Any]:
    """The item for a problem event of ``event.get`` (with ``selectHosts``,
    ``selectRelatedObject`` and ``selectTags``). Raises ValueError naming what is
    missing."""
    try:
        clock = float(event["clock"])
        hosts, trigger = event["hosts"], event["relatedObject"]
        eventid = str(event["eventid"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"a Zabbix event without {exc}: {str(event)[:200]}") from None
    if not hosts or not isinstance(trigger, dict) or not trigger.get("description"):
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
        "host": str(hosts[0].get("host", "")), "host_ip": "",
    }


def recovery_item(problem: dict[str, Any], recovered_at: float) -> dict[str, Any]:
    """The recovery of a problem item sent before (``problem_item``)."""
    date, moment = _utc(recovered_at)
    return {**problem, "event_value": "0", "recovery_date": date, "recovery_time": moment}


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
            version = self._rpc("apiinfo.version", [], auth=False)
            major, minor = (int(part) for part in str(version).split(".")[:2])
            self._in_header = (major, minor) >= (6, 4)
        if self._auth is None:
            self._login()
        try:
            return self._rpc(method, params)
        except ZabbixRefused:
            if self.token:
                raise
            self._login()  # the session ended (Zabbix's timeout, a restart): once more
            return self._rpc(method, params)

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
            if error.get("code") == NOT_AUTHORISED or method == "user.login":
                raise ZabbixRefused(f"{self.url}: Zabbix refused {text}")
            raise ZabbixError(f"{self.url}: {text}")
        return answer.get("result")

    def open_problem_ids(self) -> set[str]:
        """The event ids of the trigger problems open now."""
        problems = self.call("problem.get", {"output": ["eventid"], "source": 0,
                                             "object": 0})
        return {str(p["eventid"]) for p in problems}

    def events(self, eventids: list[str]) -> dict[str, dict[str, Any]]:
        """``event.get`` of these ids with what ``problem_item`` needs, by id."""
        if not eventids:
            return {}
        found = self.call("event.get", {
            "eventids": eventids, "output": "extend", "selectHosts": ["host"],
            "selectRelatedObject": ["triggerid", "description"], "selectTags": "extend"})
        return {str(e["eventid"]): e for e in found}

    def recovery_times(self, eventids: list[str]) -> dict[str, float]:
        """When these recovery events happened, by id."""
        if not eventids:
            return {}
        found = self.call("event.get", {"eventids": eventids, "output": ["eventid", "clock"]})
        return {str(e["eventid"]): float(e["clock"]) for e in found}
