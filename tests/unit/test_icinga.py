"""Icinga 2's events and objects as webhook items (connectors/icinga.py), the event
stream read line by line from a real HTTP server that misbehaves, and the follower's
reconnect bookkeeping. The real Icinga 2 is in tests/integration/test_icinga_real.py;
the documents here are the shapes it sent there."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from aiops.icinga_follower import CLOCK_MARGIN, IcingaFollower
from connectors.icinga import (
    MAX_LINE,
    IcingaApi,
    IcingaError,
    IcingaRefused,
    object_item,
    state_change_item,
)
from connectors.webhook_mapping import PRESETS, read_mapping
from tests.http_server import serving


def change(state: int, *, service: str | None = "ping", state_type: int = 1,
           previous: int = 0, end: float = 1795372061.79) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": "StateChange", "host": "router1", "state": state, "state_type": state_type,
        "timestamp": end + 0.001, "acknowledgement": False, "downtime_depth": 0,
        "check_result": {"execution_end": end, "output": "PING CRITICAL\nperf lines",
                         "previous_hard_state": previous, "state": state}}
    if service:
        doc["service"] = service
    return doc


def test_a_hard_problem_starts_when_its_check_ended() -> None:
    assert state_change_item(change(2, previous=99)) == {
        "host": "router1", "check": "ping", "service": "ping", "state": "CRITICAL",
        "output": "PING CRITICAL", "since": 1795372061.79}


def test_soft_states_and_other_events_are_not_items() -> None:
    assert state_change_item(change(2, state_type=0)) is None
    assert state_change_item({"type": "CheckResult", "host": "router1"}) is None
    assert state_change_item([1, 2]) is None


def test_a_recovery_and_an_escalation_do_not_say_when_the_problem_began() -> None:
    recovery = state_change_item(change(0, previous=2))
    assert recovery is not None
    assert (recovery["state"], recovery["ended"], "since" in recovery) == (
        "OK", 1795372061.79, False)
    escalation = state_change_item(change(2, previous=1))
    assert escalation is not None and "since" not in escalation and "ended" not in escalation


def test_a_host_state_is_the_check_named_host() -> None:
    item = state_change_item(change(1, service=None, previous=0))
    assert item is not None
    assert (item["check"], item["state"], "service" in item) == ("host", "DOWN", False)


@pytest.mark.parametrize("doc, message", [
    ({"type": "StateChange", "state_type": 1, "state": 2}, "without a host name"),
    ({"type": "StateChange", "state_type": 1, "host": "r", "state": "2"}, "numeric state"),
    ({"type": "StateChange", "state_type": 1, "host": "r", "state": 2}, "without a time"),
])
def test_a_malformed_state_change_is_refused_by_name(doc: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        state_change_item(doc)


def service(state: int, changed: float, *, checked: bool = True) -> dict[str, Any]:
    return {"type": "Service", "name": "router1!ping", "attrs": {
        "name": "ping", "host_name": "router1", "last_hard_state": state,
        "last_hard_state_change": changed,
        "last_check_result": {"output": "PING"} if checked else None}}


def test_objects_give_problems_with_their_start_and_recent_recoveries() -> None:
    assert object_item(service(2, 500.0), 1000.0, set())["since"] == 500.0
    assert object_item(service(0, 1200.0), 1000.0, set())["ended"] == 1200.0
    assert object_item(service(0, 900.0), 1000.0, set()) is None  # recovered long ago
    assert object_item(service(3, 500.0, checked=False), 0.0, set()) is None  # pending
    # A problem the follower already sent keeps the engine's start (it may have changed
    # state while the stream was away: last_hard_state_change is then that change).
    assert "since" not in object_item(service(2, 500.0), 1000.0, {("router1", "ping")})
    with pytest.raises(ValueError, match="without a name"):
        object_item({"type": "Service", "attrs": {"name": "ping"}}, 0.0, set())


def test_the_icinga_mapping_makes_alerts_of_the_items() -> None:
    mapping = read_mapping(PRESETS / "icinga.yml")
    fired = mapping.apply([state_change_item(change(2, previous=0))], received=1795372070.0)
    (alert,) = fired.alerts
    assert (alert.source, alert.name, alert.entity, alert.severity, alert.starts_at,
            alert.ends_at, fired.start_unknown) == (
        "icinga", "ping", "router1", "critical", 1795372061.79, None, [])
    ended = mapping.apply([state_change_item(change(0, previous=2, end=1795372100.0))],
                          received=1795372101.0)
    assert (ended.alerts[0].ends_at, ended.start_unknown) == (1795372100.0, [0])


class _Stream(BaseHTTPRequestHandler):
    """An Icinga-like event stream: no length, lines as they come, then a close."""

    lines: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.startswith("/v1/objects/"):
            body = json.dumps({"results": []}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.headers.get("Authorization") != "Basic dTpw":  # u:p
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        for line in self.lines:
            self.wfile.write(line)
            self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


def test_the_stream_skips_lines_it_cannot_read_and_says_when_it_ends() -> None:
    good = json.dumps(change(2)).encode() + b"\n"
    _Stream.lines = [good, b"not json\n", b"x" * (MAX_LINE + 10), b"tail\n", good[:40],
                     good[40:], b"\n\n"]
    with serving(_Stream) as url:
        stream = IcingaApi(url, "u", "p").events("q", 5.0)
        docs = []
        with pytest.raises(IcingaError, match="the event stream ended"):
            for doc in stream:
                docs.append(doc)
        stream.close()
    assert [d["state"] for d in docs] == [2, 2]  # the split line is joined
    assert stream.unreadable == 2  # the text and the over-long line (its tail skipped too)


def test_a_refused_user_is_a_refusal_not_an_outage() -> None:
    with serving(_Stream) as url, pytest.raises(IcingaRefused, match="name or password"):
        IcingaApi(url, "u", "wrong").events("q", 5.0)


def test_a_server_that_is_not_there_is_an_outage() -> None:
    with serving(_Stream) as url:
        pass  # closed: nothing listens on its port now
    with pytest.raises(IcingaError, match="/v1/events") as raised:
        IcingaApi(url, "u", "p").events("q", 5.0)
    assert not isinstance(raised.value, IcingaRefused)


class _Forwarder:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, item: dict[str, Any]) -> None:
        self.items.append(item)


def test_the_follower_asks_for_recoveries_since_the_stream_was_last_alive() -> None:
    asked: list[tuple[float, set]] = []
    now = [10_000.0]

    class Api:
        url = "https://icinga"

        def events(self, queue: str, idle: float) -> Any:
            class Stream:
                unreadable = 0

                def __iter__(self) -> Any:
                    now[0] += 50
                    yield change(2, previous=0)
                    now[0] += 50
                    yield change(1, state_type=0)  # soft: counted, not sent
                    raise IcingaError("the event stream ended")

                def close(self) -> None:
                    pass
            return Stream()

        def problems(self, since: float, firing: set) -> list[dict[str, Any]]:
            asked.append((since, firing))
            return []

    forwarder = _Forwarder()
    follower = IcingaFollower(Api(), forwarder, lookback=3600, clock=lambda: now[0])  # type: ignore[arg-type]
    stop = threading.Event()
    for _ in range(2):
        with pytest.raises(IcingaError):
            follower.follow_once(stop)
    assert asked[0] == (10_000 - 3600 - CLOCK_MARGIN, set())
    # The second connection asks from the last line read, and knows what it sent firing.
    assert asked[1] == (10_100 - CLOCK_MARGIN, {("router1", "ping")})
    assert (follower.stats.events, follower.stats.changes, len(forwarder.items)) == (4, 2, 2)
