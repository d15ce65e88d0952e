"""Icinga 2's events and objects as webhook items (connectors/icinga.py), the event
stream read line by line from a real HTTP server that misbehaves, and the follower's
reconnect bookkeeping. The real Icinga 2 is in tests/integration/test_icinga_real.py;
the documents here are the shapes it sent there."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from aiops import icinga_follower
from aiops.icinga_follower import CLOCK_MARGIN, END_MARGIN, IcingaFollower
from connectors.icinga import (
    DELETED,
    MAX_LINE,
    IcingaApi,
    IcingaError,
    IcingaRefused,
    deleted_item,
    flapping_event,
    object_item,
    open_stream,
    state_change_item,
    status_event_key,
    status_of,
)
from connectors.webhook_mapping import PRESETS, read_mapping
from tests.http_server import serving
from tests.polling import wait_for
from tests.unit.test_icinga_who import (
    ACK_CLEARED,
    ACK_SET,
    FIXED,
    FIXED_SAID,
    FLEXIBLE,
    FLEXIBLE_SAID,
)


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
        "output": "PING CRITICAL", "since": 1795372061.79, "acknowledged": "false",
        "suppressed": "false"}


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


def test_objects_give_problems_with_their_state_time_and_recent_recoveries() -> None:
    problem = object_item(service(2, 500.0), 1000.0)
    assert (problem["state_since"], "since" in problem) == (500.0, False)
    assert object_item(service(0, 1200.0), 1000.0)["ended"] == 1200.0
    assert object_item(service(0, 900.0), 1000.0) is None  # recovered long ago
    assert object_item(service(3, 500.0, checked=False), 0.0) is None  # pending
    # Never hard yet (first soft attempts of a new object): not a problem dated 1970.
    assert object_item(service(3, 0.0), 0.0) is None
    assert object_item(service(float("inf"), 500.0), 0.0) is None  # not a state
    with pytest.raises(ValueError, match="without a name"):
        object_item({"type": "Service", "attrs": {"name": "ping"}}, 0.0)


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
    # A state query's problem: its state time is a fallback start, still "unknown" so
    # the engine keeps the start of an alert it has.
    queried = mapping.apply([object_item(service(2, 1795371000.0), 0.0)],
                            received=1795372101.0)
    assert (queried.alerts[0].starts_at, queried.start_unknown) == (1795371000.0, [0])


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
    def __init__(self, holding: bool = False) -> None:
        self.items: list[dict[str, Any]] = []
        self.holding = holding  # an engine that is away: what was added is pending

    def add(self, item: dict[str, Any]) -> None:
        self.items.append(item)

    def pending(self) -> int:
        return len(self.items) if self.holding else 0


class _Api:
    """Icinga as the follower sees it: streams that give ``docs`` then break, and state
    queries that answer ``problems``; records what was asked."""

    url = "https://icinga"

    def __init__(self, now: list[float], docs: list[Any], problems: list[dict]):
        self.now, self.docs, self.problems_answer = now, docs, problems
        self.asked: list[float] = []
        self.opened = 0
        # What the comment and downtime queries answer (results), or raise.
        self.comments: list[Any] | Exception = []
        self.downtimes: list[Any] | Exception = []

    def events(self, queue: str, idle: float, groups: Any = None) -> Any:
        api = self
        api.opened += 1

        class Stream:
            unreadable = 0

            def __iter__(self) -> Any:
                for doc in api.docs:
                    api.now[0] += 50
                    yield doc
                raise IcingaError("the event stream ended")

            def close(self) -> None:
                pass
        return Stream()

    def problems(self, since: float) -> list[dict[str, Any]]:
        self.asked.append(since)
        return [dict(item) for item in self.problems_answer]  # fresh, as Icinga answers

    def acknowledgement_comments(self) -> list[Any]:
        return _answer(self.comments)

    def downtimes_in_effect(self) -> list[Any]:
        return _answer(self.downtimes)


def _answer(answer: list[Any] | Exception) -> list[Any]:
    if isinstance(answer, Exception):
        raise answer
    return list(answer)


def test_the_follower_asks_for_recoveries_since_the_stream_was_last_alive(
        tmp_path: Path) -> None:
    now = [10_000.0]
    api = _Api(now, [change(2, previous=0), change(1, state_type=0)],
               [object_item(service(2, 500.0), 0.0)])
    forwarder = _Forwarder()
    state = tmp_path / "icinga" / "aiops.json"
    follower = IcingaFollower(api, forwarder, lookback=3600, state_file=state,  # type: ignore[arg-type]
                              clock=lambda: now[0])
    stop = threading.Event()
    for _ in range(2):
        with pytest.raises(IcingaError):
            follower.follow_once(stop)
    assert api.asked[0] == 10_000 - 3600 - CLOCK_MARGIN
    assert api.asked[1] == 10_100 - CLOCK_MARGIN  # from the last line read
    # The second query's problem is in the state last sent: not sent again.
    assert [i["state"] for i in forwarder.items] == ["CRITICAL", "CRITICAL", "CRITICAL"]
    assert (follower.stats.events, follower.stats.changes, follower.stats.synced) == (4, 2, 1)
    # A new follower (a restart) asks from the saved time, however long it was away.
    follower.save()
    now[0] += 7 * 86400
    again = IcingaFollower(api, _Forwarder(), lookback=3600, state_file=state,  # type: ignore[arg-type]
                           clock=lambda: now[0])
    assert again.alive_at == 10_200
    state.write_text("{not json")
    assert IcingaFollower(api, _Forwarder(), lookback=60, state_file=state,  # type: ignore[arg-type]
                          clock=lambda: now[0]).alive_at == now[0] - 60


def test_the_state_file_does_not_pass_what_the_forwarder_still_holds(
        tmp_path: Path) -> None:
    """A recovery waiting in the forwarder for an engine that is away is gone at a
    stop; the state file said the stream was alive after it, so the next start did not
    ask for it again and its alert fired for ever."""
    now = [10_000.0]
    # The recovery, then ten minutes of soft changes (each doc 50 s later).
    api = _Api(now, [change(0, end=10_040.0)] + [change(1, state_type=0)] * 12, [])
    forwarder = _Forwarder(holding=True)
    state = tmp_path / "icinga" / "aiops.json"
    follower = IcingaFollower(api, forwarder, lookback=3600, state_file=state,  # type: ignore[arg-type]
                              clock=lambda: now[0])
    with pytest.raises(IcingaError):
        follower.follow_once(threading.Event())
    follower.finish()  # the stop: the recovery is still held
    assert [i["state"] for i in forwarder.items] == ["OK"]
    restarted = IcingaFollower(api, _Forwarder(), state_file=state,  # type: ignore[arg-type]
                               clock=lambda: now[0])
    # When the stream opened (nothing was held then): the recovery is asked for again.
    assert restarted.alive_at == 10_000 and restarted.alive_at - CLOCK_MARGIN <= 10_040
    forwarder.holding = False  # the engine took it: the file may say so
    follower.save()
    assert IcingaFollower(api, _Forwarder(), state_file=state,  # type: ignore[arg-type]
                          clock=lambda: now[0]).alive_at == 10_650


def test_a_stream_that_breaks_after_a_good_connection_is_reopened_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [10_000.0]
    api = _Api(now, [], [])
    waits: list[float] = []
    stop = threading.Event()

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        if len(waits) == 6:
            stop.set()
        return stop.is_set()

    monkeypatch.setattr(stop, "wait", wait)
    IcingaFollower(api, _Forwarder(), clock=lambda: now[0]).run(stop)  # type: ignore[arg-type]
    assert waits == [1.0] * 6  # Icinga reloading: not a growing pause


def test_a_follower_that_fails_unforeseen_says_so() -> None:
    class Broken(_Api):
        def problems(self, since: float) -> list[dict[str, Any]]:
            raise OverflowError("something unforeseen")

    follower = IcingaFollower(Broken([0.0], [], []), _Forwarder())  # type: ignore[arg-type]
    follower.run(threading.Event())
    assert isinstance(follower.failed, OverflowError)


def test_the_api_client_repr_does_not_show_the_password() -> None:
    """A repr lands in logs and tracebacks; the password must not go with it."""
    from connectors.icinga import IcingaApi

    shown = repr(IcingaApi("https://icinga.example.net:5665", "aiops", "s3cret-pw"))
    assert "s3cret-pw" not in shown and "aiops" in shown


def test_acknowledgements_and_downtimes_become_the_status_labels(
        caplog: pytest.LogCaptureFixture) -> None:
    """Icinga's acknowledgement (0 none, 1 normal, 2 sticky; a StateChange's may be a
    boolean) and downtime_depth become the labels acknowledged and suppressed; a value
    Icinga does not document is left out, and logged by name."""
    mapping = read_mapping(PRESETS / "icinga.yml")
    acked = service(2, 500.0)
    acked["attrs"] |= {"acknowledgement": 2, "downtime_depth": 1}
    item = object_item(acked, 0.0)
    assert (item["acknowledged"], item["suppressed"]) == ("true", "downtime")
    labels = mapping.apply([item], received=1795372101.0).alerts[0].labels
    assert labels == {"acknowledged": "true", "suppressed": "downtime"}
    assert status_of({"acknowledgement": 0, "downtime_depth": 0}, "x") == {
        "acknowledged": "false", "suppressed": "false"}
    assert status_of({"acknowledgement": True}, "x") == {"acknowledged": "true"}
    assert status_of({"acknowledgement": 3, "downtime_depth": "two"}, "router1!ping") == {}
    assert "router1!ping: acknowledgement 3 is not 0, 1 or 2; ignored" in caplog.text
    assert "router1!ping: downtime_depth two is not a count; ignored" in caplog.text
    # A recovery says them too (Icinga ends every acknowledgement at a recovery): the
    # resolved alert is no longer acknowledged.
    recovery = state_change_item(change(0, previous=2))
    assert mapping.apply([recovery], 1795372101.0).alerts[0].labels == {
        "acknowledged": "false", "suppressed": "false"}
    recovered = service(0, 1200.0)
    recovered["attrs"] |= {"acknowledgement": 0, "downtime_depth": 1}
    assert (object_item(recovered, 1000.0)["acknowledged"],
            object_item(recovered, 1000.0)["suppressed"]) == ("false", "downtime")


def test_an_acknowledgement_past_its_expiry_is_over() -> None:
    """Icinga 2.13.6 leaves an object's acknowledgement at 1 past its
    acknowledgement_expiry until its next check result: the follower reads it over,
    as Icinga's IsAcknowledged does; without an expiry (0), or before it, acknowledged."""
    acked = service(2, 500.0)
    acked["attrs"] |= {"acknowledgement": 1, "acknowledgement_expiry": 1000.0}
    assert object_item(acked, 0.0, now=1000.5)["acknowledged"] == "false"
    assert object_item(acked, 0.0, now=1000.0)["acknowledged"] == "true"
    acked["attrs"]["acknowledgement_expiry"] = 0
    assert object_item(acked, 0.0, now=1e12)["acknowledged"] == "true"


def test_acknowledgement_and_downtime_events_name_their_object() -> None:
    """The shapes of Icinga 2.13's AcknowledgementSet and DowntimeStarted events."""
    assert status_event_key({"type": "AcknowledgementSet", "host": "router1",
                             "service": "bgp", "state": 2, "state_type": 1,
                             "author": "ann", "acknowledgement_type": 2}) == ("router1", "bgp")
    assert status_event_key({"type": "DowntimeStarted", "downtime": {
        "host_name": "router1", "service_name": ""}}) == ("router1", "")
    assert status_event_key({"type": "DowntimeRemoved", "downtime": None}) is None
    assert status_event_key(change(2)) is None


def test_the_follower_sends_an_acknowledged_problem_again_once() -> None:
    """An AcknowledgementSet: the object is read again and its problem sent with the new
    labels, once; an acknowledgement of an object that is fine sends nothing."""
    now = [10_000.0]
    acked = object_item(service(2, 500.0), 0.0) | {"acknowledged": "true",
                                                    "suppressed": "false"}
    api = _Api(now, [], [])
    answers = {("router1", "ping"): acked, ("router1", ""): None}
    api.problem = lambda key: answers[key]  # type: ignore[attr-defined]
    forwarder = _Forwarder()
    follower = IcingaFollower(api, forwarder, clock=lambda: now[0])  # type: ignore[arg-type]
    follower.handle(change(2, previous=0))
    ack = {"type": "AcknowledgementSet", "host": "router1", "service": "ping"}
    follower.handle(ack)
    follower.handle(ack)  # the same again: nothing new
    follower.handle({"type": "DowntimeStarted", "downtime": {"host_name": "router1"}})
    assert [(i["state"], i["acknowledged"]) for i in forwarder.items] == [
        ("CRITICAL", "false"), ("CRITICAL", "true")]
    assert follower.stats.status_changes == 1


# The shapes Icinga 2.13 sent (tests/integration/test_icinga_real.py).
FLAPPING = {"type": "Flapping", "host": "router1", "service": "ping", "is_flapping": True,
            "state": 0, "state_type": 1, "flapping_current": 23.0, "threshold_high": 20,
            "threshold_low": 10, "timestamp": 1795471871.85}
DELETED_SERVICE = {"type": "ObjectDeleted", "object_name": "router1!ping",
                   "object_type": "Service", "timestamp": 1795471875.13}


def test_flapping_becomes_a_status_label_and_a_deletion_a_recovery(
        caplog: pytest.LogCaptureFixture) -> None:
    """An object's ``flapping`` (a boolean) is the label flapping; a Flapping event names
    its object and says whether it flaps; an ObjectDeleted of a host or service is a
    recovery at the deletion, saying so; of anything else (a downtime) nothing."""
    mapping = read_mapping(PRESETS / "icinga.yml")
    flapping = service(2, 500.0)
    flapping["attrs"]["flapping"] = True
    item = object_item(flapping, 0.0)
    assert item["flapping"] == "true"
    assert mapping.apply([item], received=1795372101.0).alerts[0].labels == {
        "flapping": "true"}
    assert status_of({"flapping": False}, "x") == {"flapping": "false"}
    assert status_of({"flapping": 1}, "router1!ping") == {}
    assert "router1!ping: flapping 1 is not a boolean; ignored" in caplog.text
    assert flapping_event(FLAPPING) == (("router1", "ping"), "true")
    assert status_event_key(FLAPPING) == ("router1", "ping")  # the object is read again
    assert flapping_event(FLAPPING | {"is_flapping": None}) is None
    assert flapping_event(change(2)) is None
    gone = deleted_item(DELETED_SERVICE)
    assert gone == {"host": "router1", "service": "ping", "check": "ping", "state": "OK",
                    "output": DELETED, "ended": 1795471875.13}
    ended = mapping.apply([gone], received=1795471876.0)
    assert (ended.alerts[0].ends_at, ended.alerts[0].name, ended.start_unknown) == (
        1795471875.13, "ping", [0])
    host = deleted_item({"type": "ObjectDeleted", "object_name": "switch7",
                         "object_type": "Host", "timestamp": 1.0})
    assert (host["check"], host["state"], "service" in host) == ("host", "UP", False)
    assert deleted_item(DELETED_SERVICE | {"object_type": "Downtime"}) is None
    assert deleted_item(change(0)) is None and state_change_item(DELETED_SERVICE) is None
    with pytest.raises(ValueError, match="named 'router1'"):
        deleted_item(DELETED_SERVICE | {"object_name": "router1"})
    with pytest.raises(ValueError, match="without a name or time"):
        deleted_item(DELETED_SERVICE | {"timestamp": None})


def test_each_problem_of_a_flapping_object_says_it_flaps() -> None:
    """Flapping begins while the object is OK (nothing to send: the object read again is
    fine); its next problem, from a StateChange that does not say it, is labelled from
    the event; its end is sent once, read from the object; a recovery carries none."""
    now = [10_000.0]
    api = _Api(now, [], [])
    settled = object_item(service(2, 500.0), 0.0) | {"flapping": "false"}
    answers: list[dict | None] = [None, settled, settled]
    api.problem = lambda key: answers.pop(0)  # type: ignore[attr-defined]
    forwarder = _Forwarder()
    follower = IcingaFollower(api, forwarder, clock=lambda: now[0])  # type: ignore[arg-type]
    follower.handle(FLAPPING)
    follower.handle(change(2, previous=0))
    follower.handle(FLAPPING | {"is_flapping": False, "state": 2})
    follower.handle(FLAPPING | {"is_flapping": False, "state": 2})  # nothing new
    follower.handle(change(0, previous=2))
    assert [(i["state"], i.get("flapping")) for i in forwarder.items] == [
        ("CRITICAL", "true"), ("CRITICAL", "false"), ("OK", None)]
    assert follower.stats.status_changes == 1


def test_a_deleted_object_ends_its_alert_once() -> None:
    """ObjectDeleted of a service sent as a problem ends it; the same again, or one last
    sent recovered, sends nothing; one this run never sent is ended (it may fire from
    an earlier run)."""
    now = [10_000.0]
    forwarder = _Forwarder()
    follower = IcingaFollower(_Api(now, [], []), forwarder,  # type: ignore[arg-type]
                              clock=lambda: now[0])
    follower.handle(change(2, previous=0))
    follower.handle(DELETED_SERVICE)
    follower.handle(DELETED_SERVICE)
    follower.handle(DELETED_SERVICE | {"object_name": "router1!bgp"})
    follower.handle(DELETED_SERVICE | {"object_type": "Comment"})
    assert [(i["check"], i["state"], i["output"]) for i in forwarder.items] == [
        ("ping", "CRITICAL", "PING CRITICAL"), ("ping", "OK", DELETED), ("bgp", "OK", DELETED)]
    assert follower.stats.deletions == 2


def test_a_reconnect_ends_the_alerts_of_what_icinga_no_longer_has() -> None:
    """Problems sent in this run that the next connect's query does not list: the one
    Icinga no longer has (deleted while the stream was away) is ended at that connect;
    the one it still has is not (asked by name, not guessed)."""
    now = [10_000.0]
    api = _Api(now, [change(2, previous=0), change(2, service="bgp", previous=0)], [])
    asked: list[list] = []
    api.existing = lambda keys: asked.append(keys) or {("router1", "bgp")}  # type: ignore[attr-defined]
    forwarder = _Forwarder()
    follower = IcingaFollower(api, forwarder, clock=lambda: now[0])  # type: ignore[arg-type]
    for _ in range(2):
        with pytest.raises(IcingaError):
            follower.follow_once(threading.Event())
    assert asked[0] == [("router1", "ping"), ("router1", "bgp")]
    gone = forwarder.items[2]
    assert (gone["check"], gone["state"], gone["output"], gone["ended"]) == (
        "ping", "OK", DELETED, 10_100.0)  # when the second connect opened
    assert follower.stats.deletions == 1 and len(asked) == 1



def _restarted(state: Path, now: list[float], problems: list[dict], docs: list[Any] = (),
               holding: bool = False, comments: list[Any] | Exception = (),
               downtimes: list[Any] | Exception = ()) -> tuple[IcingaFollower, _Forwarder]:
    """A follower started from ``state`` that connects once (its stream gives ``docs``
    then breaks) and stops; Icinga no longer has any object its query does not list.
    ``comments`` and ``downtimes``: what their queries answer at the connect."""
    api = _Api(now, list(docs), problems)
    api.comments, api.downtimes = comments, downtimes
    api.existing = lambda keys: set()  # type: ignore[attr-defined]
    forwarder = _Forwarder(holding=holding)
    follower = IcingaFollower(api, forwarder, state_file=state,  # type: ignore[arg-type]
                              clock=lambda: now[0])
    with pytest.raises(IcingaError):
        follower.follow_once(threading.Event())
    follower.finish()
    return follower, forwarder


def test_a_restart_remembers_the_open_problems_the_engine_has(tmp_path: Path) -> None:
    """The state file keeps the problems sent and still open (not the recovered): after
    a restart one Icinga still has in that state is not sent again, and one it no longer
    has (deleted while the follower was stopped) is ended at the first connect. One the
    forwarder still held at the stop is not kept, so it is sent again."""
    now = [10_000.0]
    state = tmp_path / "icinga" / "aiops.json"
    ping = object_item(service(2, 500.0), 0.0)
    _restarted(state, now, [], [change(2, previous=0), change(2, service="bgp", previous=0),
                                change(0, service="bgp", previous=2)])
    saved = json.loads(state.read_text())["sent"]
    assert saved == [["router1", "ping", "CRITICAL",
                      {"acknowledged": "false", "suppressed": "false"}]]
    # Icinga still has ping CRITICAL: nothing sent; a new problem is held at the stop.
    _, forwarder = _restarted(state, now, [ping], [change(2, service="dns", previous=0)],
                              holding=True)
    assert [i["check"] for i in forwarder.items] == ["dns"]
    assert [entry[1] for entry in json.loads(state.read_text())["sent"]] == ["ping"]
    # Both gone from Icinga meanwhile: ping's alert ends; dns, never delivered, is not
    # asked for.
    follower, forwarder = _restarted(state, now, [])
    assert [(i["check"], i["state"], i["output"]) for i in forwarder.items] == [
        ("ping", "OK", DELETED)]
    assert follower.stats.deletions == 1
    assert json.loads(state.read_text())["sent"] == []


def test_a_state_file_from_before_it_kept_what_was_sent_reads_as_before(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A file with the time only (written before the problems sent were kept): the
    follower starts from that time knowing nothing sent, so its query's problems are
    sent, as before. An entry it cannot read is skipped, said, and so sent again."""
    now = [10_000.0]
    state = tmp_path / "icinga" / "aiops.json"
    ping = object_item(service(2, 500.0), 0.0)
    state.parent.mkdir()
    state.write_text(json.dumps({"alive_at": 9_000.0, "url": "https://icinga"}))
    follower, forwarder = _restarted(state, now, [ping])
    assert follower.api.asked == [9_000.0 - CLOCK_MARGIN]
    assert [(i["check"], i["state"]) for i in forwarder.items] == [("ping", "CRITICAL")]
    state.write_text(json.dumps({"alive_at": 9_000.0, "url": "https://icinga",
                                 "sent": [["router1", "ping", 2, {}]]}))
    _, forwarder = _restarted(state, now, [ping])
    assert [(i["check"], i["state"]) for i in forwarder.items] == [("ping", "CRITICAL")]
    assert "sent problem ['router1', 'ping', 2, {}] is unreadable" in caplog.text

class _Refusing(_Api):
    """A user who may read StateChange and acknowledgements but not Flapping or
    ObjectDeleted: Icinga refuses every stream that asks for one of them."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.asked_groups: list[list[str] | None] = []

    def events(self, queue: str, idle: float, groups: Any = None) -> Any:
        self.asked_groups.append(groups)
        if groups is None or {"flapping", "deletions"} & set(groups):
            raise IcingaRefused("HTTP 404 events/Flapping")
        return super().events(queue, idle)


def test_a_user_without_the_flapping_and_deletion_events_follows_without_them(
        caplog: pytest.LogCaptureFixture) -> None:
    """Each optional group is tried alone once to find which the user lacks; each is
    said once, and later reconnects ask only for what it may read."""
    api = _Refusing([10_000.0], [], [])
    caplog.set_level("WARNING")
    stream, refused = open_stream(api, "q", 5.0, ["acknowledgements and downtimes",
                                                 "flapping", "deletions"])
    assert sorted(refused) == ["deletions", "flapping"] and stream is not None
    follower = IcingaFollower(api, _Forwarder(), clock=lambda: 10_000.0)  # type: ignore[arg-type]
    api.asked_groups.clear()
    follower._open_stream()
    follower._open_stream()
    assert follower.missing == {"flapping", "deletions"}
    assert api.asked_groups[-1] == ["acknowledgements and downtimes"]
    assert len(api.asked_groups) == 6  # all, each alone (3), the rest; then the rest
    assert caplog.text.count("flapping is read only when the follower (re)connects") == 1
    assert "deleted from Icinga is noticed only when the follower reconnects" in caplog.text

    class Nobody(_Api):
        def events(self, queue: str, idle: float, groups: Any = None) -> Any:
            raise IcingaRefused("HTTP 404 events/StateChange")

    with pytest.raises(IcingaRefused):  # not even StateChange: refused, not hidden
        open_stream(Nobody([0.0], [], []), "q", 5.0, ["flapping"])


# Who acknowledged and which downtimes (connectors/icinga_who.py): the shapes Icinga
# 2.13.6 sent, in tests/unit/test_icinga_who.py.
def _acked(acknowledged: str = "true", suppressed: str = "false") -> dict[str, Any]:
    return object_item(service(2, 500.0), 0.0) | {"acknowledged": acknowledged,
                                                  "suppressed": suppressed}


def _comment(author: str, text: str) -> dict[str, Any]:
    return {"type": "Comment", "attrs": {"host_name": "router1", "service_name": "ping",
                                         "author": author, "text": text, "entry_type": 4,
                                         "entry_time": 1795551977.43}}


def _downtime(downtime: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Downtime", "attrs": downtime | {"service_name": "ping"}}


def test_the_stream_says_who_acknowledged_and_which_downtimes_each_change_once() -> None:
    """Acknowledged by ann, two downtimes, one removed (the other still named), then
    acknowledged anew by bob (who alone changed: sent, counted), cleared: each change
    is the problem read again and sent once with who and which; the same again sends
    nothing."""
    now = [10_000.0]
    api = _Api(now, [], [])
    answer = [_acked("false")]
    api.problem = lambda key: dict(answer[0])  # type: ignore[attr-defined]
    forwarder = _Forwarder()
    follower = IcingaFollower(api, forwarder, clock=lambda: now[0])  # type: ignore[arg-type]
    ping = {"service": "ping"}
    follower.handle(change(2, previous=0))
    answer[0] = _acked("true")
    follower.handle(ACK_SET | ping)
    follower.handle(ACK_SET | ping)  # nothing new
    answer[0] = _acked("true", "downtime")
    for downtime in (FIXED, FLEXIBLE):
        follower.handle({"type": "DowntimeTriggered", "downtime": downtime | {
            "service_name": "ping", "trigger_time": downtime["trigger_time"] or 1.0}})
    follower.handle({"type": "DowntimeRemoved", "downtime": FIXED | {"service_name": "ping"}})
    follower.handle(ACK_SET | ping | {"author": "bob"})
    answer[0] = _acked("false", "downtime")
    follower.handle(ACK_CLEARED | ping)
    # A StateChange (an escalation) of an object the follower knows in a downtime: named.
    follower.handle(change(2, previous=1) | {"downtime_depth": 1, "acknowledgement": 0})
    sent = [(i["acknowledged"], i.get("acknowledged_by"), i["suppressed"],
             i.get("suppressed_by")) for i in forwarder.items]
    assert sent == [
        ("false", None, "false", None),
        ("true", "ann: on it", "false", None),
        ("true", "ann: on it", "downtime", FIXED_SAID),
        ("true", "ann: on it", "downtime", f"{FIXED_SAID}; {FLEXIBLE_SAID}"),
        ("true", "ann: on it", "downtime", FLEXIBLE_SAID),
        ("true", "bob: on it", "downtime", FLEXIBLE_SAID),
        ("false", None, "downtime", FLEXIBLE_SAID),
        ("false", None, "downtime", FLEXIBLE_SAID)]
    assert follower.stats.status_changes == 6
    assert follower.sent[("router1", "ping")][1] == {
        "acknowledged": "false", "suppressed": "downtime", "suppressed_by": FLEXIBLE_SAID}


def test_a_connect_reads_who_and_which_once_and_a_restart_sends_nothing_unchanged(
        tmp_path: Path) -> None:
    """The state query's problem, acknowledged and in a downtime, is sent with who and
    which from one comment and one downtime query; the state file keeps them, so a
    restart with the same answers sends nothing; one whose acknowledgement is now bob's
    sends the problem again (a change of who alone), and one that no longer says who
    (its comment gone) sends it without."""
    now = [10_000.0]
    state = tmp_path / "icinga" / "aiops.json"
    problem = _acked("true", "downtime")
    ann, bob = [_comment("ann", "on it")], [_comment("bob", "mine now")]
    _, forwarder = _restarted(state, now, [problem], comments=ann,
                              downtimes=[_downtime(FIXED)])
    assert [(i["acknowledged_by"], i["suppressed_by"]) for i in forwarder.items] == [
        ("ann: on it", FIXED_SAID)]
    labels = read_mapping(PRESETS / "icinga.yml").apply(
        forwarder.items, received=10_000.0).alerts[0].labels
    assert (labels["acknowledged_by"], labels["suppressed_by"]) == ("ann: on it", FIXED_SAID)
    assert json.loads(state.read_text())["sent"] == [[
        "router1", "ping", "CRITICAL", {"acknowledged": "true", "suppressed": "downtime",
                                        "acknowledged_by": "ann: on it",
                                        "suppressed_by": FIXED_SAID}]]
    _, forwarder = _restarted(state, now, [problem], comments=ann,
                              downtimes=[_downtime(FIXED)])
    assert forwarder.items == []
    follower, forwarder = _restarted(state, now, [problem], comments=bob,
                                     downtimes=[_downtime(FIXED)])
    assert [i["acknowledged_by"] for i in forwarder.items] == ["bob: mine now"]
    assert follower.stats.synced == 1
    _, forwarder = _restarted(state, now, [problem], comments=[],
                              downtimes=[_downtime(FIXED)])
    assert [("acknowledged_by" in i, i["suppressed_by"]) for i in forwarder.items] == [
        (False, FIXED_SAID)]


def test_a_user_who_may_not_query_comments_or_downtimes_still_follows(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Both queries refused (a user set up before they were read): said once each, the
    problem still sent acknowledged and suppressed, without who and which; what the
    stream said of who is kept across a reconnect."""
    now = [10_000.0]
    caplog.set_level("WARNING")
    refused = IcingaRefused("HTTP 404 No objects found.")
    api = _Api(now, [ACK_SET | {"service": "ping"}], [_acked("true", "downtime")])
    api.comments = api.downtimes = refused
    api.problem = lambda key: _acked("true", "downtime")  # type: ignore[attr-defined]
    forwarder = _Forwarder()
    follower = IcingaFollower(api, forwarder, clock=lambda: now[0])  # type: ignore[arg-type]
    for _ in range(2):
        with pytest.raises(IcingaError):
            follower.follow_once(threading.Event())
    assert [i.get("acknowledged_by") for i in forwarder.items] == [None, "ann: on it"]
    assert caplog.text.count("who acknowledged is known only from the event stream") == 1
    assert caplog.text.count("which downtimes suppress a problem is known only") == 1
    assert follower.missing == {"comments", "downtimes"}


def test_bad_who_or_which_events_do_not_break_the_follower() -> None:
    """An AcknowledgementSet without author and comment, a Downtime event whose downtime
    lacks its name: the problem is still sent acknowledged and suppressed, without who
    and which, and the stream goes on."""
    now = [10_000.0]
    api = _Api(now, [], [])
    api.problem = lambda key: _acked("true", "downtime")  # type: ignore[attr-defined]
    forwarder = _Forwarder()
    follower = IcingaFollower(api, forwarder, clock=lambda: now[0])  # type: ignore[arg-type]
    nameless = {k: v for k, v in FIXED.items() if k != "name"} | {"service_name": "ping"}
    follower.handle({"type": "AcknowledgementSet", "host": "router1", "service": "ping"})
    follower.handle({"type": "DowntimeTriggered", "downtime": nameless})
    follower.handle({"type": "AcknowledgementSet", "host": "router1", "service": "ping",
                     "author": ["not", "text"], "comment": "on it"})
    assert [(i["acknowledged"], i.get("acknowledged_by"), i["suppressed"],
             i.get("suppressed_by")) for i in forwarder.items] == [
        ("true", None, "downtime", None), ("true", "on it", "downtime", None)]
    assert follower.stats.unreadable == 0


def test_a_deleted_object_s_acknowledgement_is_forgotten_at_its_deletion() -> None:
    """ObjectDeleted drops who acknowledged it at once, not at the next connect."""
    now = [10_000.0]
    follower = IcingaFollower(_Api(now, [], []), _Forwarder(),  # type: ignore[arg-type]
                              clock=lambda: now[0])
    follower.who.note({"type": "AcknowledgementSet", "host": "router1", "service": "ping",
                       "author": "ann", "comment": "on it", "timestamp": 9_990.0})
    assert ("router1", "ping") in follower.who.acknowledgements
    follower.handle(DELETED_SERVICE)
    assert follower.who.acknowledgements == {}


def test_what_ends_by_its_own_time_is_read_again_then() -> None:
    """A problem in a fixed downtime (end E) and a flexible one, acknowledged with an
    expiry X: Icinga says none of these ends on the stream in time (its DowntimeRemoved
    comes with its 60 s timer, its AcknowledgementCleared with the next check result).
    At each end (and END_MARGIN), the object is read again and its problem sent with
    what ended forgotten; before, nothing is sent."""
    now = [1795552008.0]
    api = _Api(now, [], [])
    answer = [_acked("true", "downtime")]
    api.problem = lambda key: dict(answer[0])  # type: ignore[attr-defined]
    forwarder = _Forwarder()
    follower = IcingaFollower(api, forwarder, clock=lambda: now[0])  # type: ignore[arg-type]
    ping = {"service_name": "ping"}
    expiry = now[0] + 20
    fixed = FIXED | ping | {"trigger_time": 1795552007.9}
    follower.handle(change(2, previous=0))
    follower.handle(ACK_SET | {"service": "ping", "expiry": expiry})
    follower.handle({"type": "DowntimeTriggered", "downtime": fixed})
    follower.handle({"type": "DowntimeTriggered", "downtime": FLEXIBLE | ping})
    assert follower.who.next_end() == expiry
    now[0] = expiry + END_MARGIN - 0.1
    follower.end_due()  # not yet
    assert len(forwarder.items) == 4
    now[0] = expiry + END_MARGIN
    answer[0] = _acked("false", "downtime")  # acknowledgement_expiry passed
    follower.end_due()
    now[0] = FLEXIBLE["trigger_time"] + 600 + END_MARGIN  # the flexible one's end
    follower.end_due()  # still in the fixed one: named alone
    now[0] = fixed["end_time"] + END_MARGIN
    answer[0] = _acked("false", "false")
    follower.end_due()
    follower.end_due()  # nothing left to end
    assert [(i["acknowledged"], i.get("acknowledged_by"), i["suppressed"],
             i.get("suppressed_by")) for i in forwarder.items[3:]] == [
        ("true", "ann: on it", "downtime", f"{FIXED_SAID}; {FLEXIBLE_SAID}"),
        ("false", None, "downtime", f"{FIXED_SAID}; {FLEXIBLE_SAID}"),
        ("false", None, "downtime", FIXED_SAID),
        ("false", None, "false", None)]
    assert follower.who.next_end() is None


def test_the_follower_reads_an_object_again_when_its_acknowledgement_expires(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Running, with a stream that says nothing after the acknowledgement: its expiry
    (a fraction of a second ahead) has the problem sent unacknowledged by the follower's
    second thread, without any event or reconnect."""
    monkeypatch.setattr(icinga_follower, "END_MARGIN", 0.1)  # the test need not wait 1 s
    stop = threading.Event()
    expiry = time.time() + 0.3
    answer = [_acked("true")]

    class Quiet(_Api):
        def events(self, queue: str, idle: float, groups: Any = None) -> Any:
            class Stream:
                unreadable = 0

                def __iter__(self) -> Any:
                    yield change(2, previous=0)
                    yield ACK_SET | {"service": "ping", "expiry": expiry}
                    stop.wait(10)  # nothing more until the test ends
                    raise IcingaError("the event stream ended")

                def close(self) -> None:
                    pass
            return Stream()

    api = Quiet([0.0], [], [])
    api.problem = lambda key: dict(answer[0])  # type: ignore[attr-defined]
    forwarder = _Forwarder()
    follower = IcingaFollower(api, forwarder)  # type: ignore[arg-type]
    thread = threading.Thread(target=follower.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: len(forwarder.items) == 2, "the acknowledged problem", timeout=5)
        answer[0] = _acked("false")  # what Icinga's object says past the expiry
        wait_for(lambda: len(forwarder.items) == 3, "the expiry", timeout=5)
        assert time.time() >= expiry + 0.1
    finally:
        stop.set()
        thread.join(timeout=10)
    assert (forwarder.items[2]["acknowledged"], "acknowledged_by" in forwarder.items[2]) == (
        "false", False)
    assert not thread.is_alive()
