"""Zabbix's events as items of the zabbix mapping (connectors/zabbix_api.py), its
JSON-RPC errors against a local HTTP server, and the follower's bookkeeping. The
real Zabbix is in tests/integration/test_zabbix_real.py; the events here have the
shape it answered there."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from aiops.zabbix_follower import ZabbixFollower, state_file_for
from connectors.webhook_mapping import PRESETS, read_mapping
from connectors.zabbix_api import (
    ZabbixApi,
    ZabbixError,
    ZabbixRefused,
    problem_item,
    problem_status,
    recovery_item,
)
from tests.http_server import serving

EVENT = {"eventid": "3", "source": "0", "object": "0", "objectid": "23133",
         "clock": "1795374219", "value": "1", "name": "Link 0 down", "severity": "4",
         "r_eventid": "0", "opdata": "state 0",
         "hosts": [{"hostid": "10559", "host": "sw-1"}],
         "relatedObject": {"triggerid": "23133", "description": "Link {ITEM.LASTVALUE} down"},
         "tags": [{"tag": "scope", "value": "x"}]}


def test_a_problem_and_its_recovery_are_one_alert_of_the_zabbix_mapping() -> None:
    mapping = read_mapping(PRESETS / "zabbix.yml")
    problem = problem_item(EVENT)
    (fired,) = mapping.apply(problem, 1795374300.0).alerts
    assert (fired.name, fired.entity, fired.summary, fired.severity, fired.starts_at,
            fired.labels) == ("Link {ITEM.LASTVALUE} down", "sw-1", "Link 0 down", "major",
                              1795374219.0, {"trigger_id": "23133", "scope": "x"})
    (ended,) = mapping.apply(recovery_item(problem, 1795374221.0), 1795374300.0).alerts
    assert (ended.starts_at, ended.ends_at) == (1795374219.0, 1795374221.0)


@pytest.mark.parametrize("change, message", [
    ({"clock": None}, "without"),
    ({"hosts": []}, "no host or trigger"),
    ({"relatedObject": {"triggerid": "1"}}, "no host or trigger"),
])
def test_an_event_that_is_not_a_host_s_trigger_problem_is_refused(change: dict,
                                                                   message: str) -> None:
    with pytest.raises(ValueError, match=message):
        problem_item({**EVENT, **change})


class _Rpc(BaseHTTPRequestHandler):
    """A JSON-RPC endpoint that answers from ``answers`` by method, and records calls."""

    answers: dict[str, Any] = {}
    calls: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body["header"] = self.headers.get("Authorization")
        self.calls.append(body)
        answer = self.answers[body["method"]]
        if callable(answer):
            answer = answer(body)
        data = answer if isinstance(answer, bytes) else json.dumps(
            {"jsonrpc": "2.0", "id": 1, **answer}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_session_that_ended_is_logged_in_again_and_a_bad_token_is_a_refusal() -> None:
    sessions = iter(["s1", "s2"])
    _Rpc.calls = []
    _Rpc.answers = {
        "apiinfo.version": {"result": "6.0.14"},
        "user.login": lambda body: {"result": next(sessions)},
        "problem.get": lambda body: (
            {"error": {"code": -32602, "message": "Invalid params.",
                       "data": "Session terminated, re-login, please."}}
            if body.get("auth") in ("s1", "t")
            else {"result": [{"eventid": "7", "severity": "4"}]}),
    }
    with serving(_Rpc) as url:
        api = ZabbixApi(url, user="Admin", password="zabbix")
        assert api.open_problem_ids() == {"7"}
        assert api.open_problems() == {"7": "4"}
        assert _Rpc.calls[-1]["params"]["output"] == ["eventid", "severity", "acknowledged",
                                                      "suppressed"]
        assert [c["method"] for c in _Rpc.calls] == [
            "apiinfo.version", "user.login", "problem.get", "user.login", "problem.get",
            "problem.get"]
        with pytest.raises(ZabbixRefused, match="Session terminated"):
            ZabbixApi(url, token="t").open_problem_ids()


def test_zabbix_6_4_and_later_get_the_token_in_a_header() -> None:
    _Rpc.calls = []
    _Rpc.answers = {"apiinfo.version": {"result": "7.2.0"}, "problem.get": {"result": []}}
    with serving(_Rpc) as url:
        ZabbixApi(url, token="t").open_problem_ids()
    assert (_Rpc.calls[-1]["header"], "auth" in _Rpc.calls[-1]) == ("Bearer t", False)


def test_an_answer_that_is_not_json_rpc_is_an_outage_naming_it() -> None:
    _Rpc.answers = {"apiinfo.version": b"<html>login page</html>"}
    with serving(_Rpc) as url, pytest.raises(ZabbixError, match="not JSON"):
        ZabbixApi(url, token="t").open_problem_ids()


@pytest.mark.parametrize("version", [None, "abc", "7", {"major": 7}])
def test_a_version_that_is_not_one_is_an_outage_naming_it(version: Any) -> None:
    """It was a ValueError: the follower stopped with exit 1 as if it had failed
    unforeseen, naming no answer, and ``aiops zabbix check`` ended in a traceback."""
    _Rpc.answers = {"apiinfo.version": {"result": version}}
    with serving(_Rpc) as url, pytest.raises(ZabbixError, match="apiinfo.version answered"):
        ZabbixApi(url, token="t").open_problem_ids()


class _Forwarder:
    def __init__(self, pending: int = 0) -> None:
        self.items: list[dict[str, Any]] = []
        self.held = pending

    def add(self, item: dict[str, Any]) -> None:
        self.items.append(item)

    def pending(self) -> int:
        return self.held


class _Api:
    url = "http://zabbix/api_jsonrpc.php"

    def __init__(self) -> None:
        self.open: set[str] = set()
        self.known: dict[str, dict[str, Any]] = {}
        self.recovered: dict[str, float] = {}
        self.scans: list[tuple[int, int]] = []  # (after, limit) of each listing
        self.named: list[dict[str, Any]] = []  # the users user.get names
        self.user_calls: list[list[str] | None] = []

    def problems(self) -> dict[str, dict[str, Any]]:
        """As Zabbix: the problem as it is now, which event.get gives as well (a
        severity change updates both the problem and its event)."""
        return {i: self.known.get(i, {}) for i in self.open}

    def users(self, userids: list[str] | None = None) -> list[dict[str, Any]]:
        """``user.get``: those of ``named`` asked for; each call recorded."""
        self.user_calls.append(userids)
        return [u for u in self.named if userids is None or u["userid"] in userids]

    def newest_problem_eventid(self) -> int:
        return max((int(i) for i in self.known), default=0)

    def problem_eventids_after(self, eventid: int, limit: int) -> list[str]:
        self.scans.append((eventid, limit))
        return sorted((i for i in self.known if int(i) > eventid), key=int)[:limit]

    def events(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {i: self.known[i] for i in ids if i in self.known}

    def recoveries(self, ids: list[str]) -> dict[str, float]:
        return {i: self.recovered[i] for i in ids if i in self.recovered}

    def logout(self) -> None:
        pass


def test_the_follower_resolves_what_recovered_while_it_was_away(tmp_path: Path) -> None:
    api, state = _Api(), state_file_for(tmp_path, _Api.url)
    api.open = {"3", "4"}
    api.known = {"3": EVENT, "4": {**EVENT, "eventid": "4", "hosts": []}}  # 4: no host
    first = _Forwarder()
    follower = ZabbixFollower(api, first, state_file=state)  # type: ignore[arg-type]
    follower.poll()
    follower.poll()  # nothing new: nothing sent, the skipped event not asked again
    follower.save_if_delivered()
    assert [i["event_id"] for i in first.items] == ["3"]
    assert follower.stats.skipped == 1
    # Stopped; the problem recovers at 19:03:41; a new follower reads the state file.
    api.open = set()
    api.recovered = {"3": 1795374221.0}
    later = _Forwarder()
    ZabbixFollower(api, later, state_file=state, clock=lambda: 9e9).poll()  # type: ignore[arg-type]
    assert [(i["event_value"], i["recovery_time"]) for i in later.items] == [("0", "19:03:41")]


def test_what_the_forwarder_still_holds_is_not_written_as_sent(tmp_path: Path) -> None:
    api, state = _Api(), state_file_for(tmp_path, _Api.url)
    api.open, api.known = {"5"}, {"5": {**EVENT, "eventid": "5"}}
    held = _Forwarder(pending=1)  # the engine is away: the problem waits in the queue
    follower = ZabbixFollower(api, held, state_file=state)  # type: ignore[arg-type]
    follower.poll()
    follower.save_if_delivered()
    assert not state.exists()
    # Restarted (the queue lost): every open problem is sent again at the first poll.
    again = _Forwarder()
    restarted = ZabbixFollower(api, again, state_file=state)  # type: ignore[arg-type]
    restarted.poll()
    restarted.save_if_delivered()
    assert [i["event_id"] for i in again.items] == ["5"] and state.exists()
    # Gone with no recovery event (its trigger deleted): it ends now.
    api.open, api.known = set(), {}
    ended = _Forwarder()
    gone = ZabbixFollower(api, ended, state_file=state, clock=lambda: 1795374300.0)  # type: ignore[arg-type]
    gone.poll()
    assert [(i["event_id"], i["recovery_time"]) for i in ended.items] == [("5", "19:05:00")]
    # Another Zabbix's follower on the same data dir has a file of its own.
    assert state_file_for(tmp_path, "https://other/api_jsonrpc.php") != state


def test_a_stop_during_a_poll_keeps_the_last_whole_state(tmp_path: Path) -> None:
    """A poll that outlived the stop's grace had taken a recovered problem out of
    ``open`` but not yet handed its recovery to the forwarder when the stop wrote the
    state: the file said the problem was over, the recovery was lost with the process,
    and the alert fired for ever. Now the stop leaves the file alone then."""
    api, state = _Api(), state_file_for(tmp_path, _Api.url)
    api.open, api.known = {"5"}, {"5": {**EVENT, "eventid": "5"}}

    class _SlowForwarder(_Forwarder):
        entered, release = threading.Event(), threading.Event()

        def add(self, item: dict[str, Any]) -> None:
            if item.get("event_value") == "0":  # the recovery: the poll stalls here
                self.entered.set()
                self.release.wait(10)
            super().add(item)

    forwarder = _SlowForwarder(pending=1)  # the problem is not delivered yet
    follower = ZabbixFollower(api, forwarder, state_file=state, interval=0.01)  # type: ignore[arg-type]
    follower.poll()
    follower.save_if_delivered()
    assert not state.exists()
    forwarder.held = 0  # delivered now; then the problem recovers
    api.open, api.recovered = set(), {"5": 1795374221.0}
    stop = threading.Event()
    thread = threading.Thread(target=follower.run, args=(stop,))
    thread.start()
    try:
        assert forwarder.entered.wait(10)
        follower.finish()  # the stop, while the poll is inside
        assert not state.exists()
    finally:
        stop.set()
        forwarder.release.set()
        thread.join(10)
    assert [i["event_value"] for i in forwarder.items] == ["1", "0"]


def test_a_changed_severity_is_sent_again_as_a_state_report_across_restarts(
        tmp_path: Path) -> None:
    """problem.get shows a severity other than the one sent: the problem goes again
    with it, marked as an update, which the zabbix mapping lists as a state report.
    The severity sent is kept in the state file: a restarted follower sends only what
    changed since."""
    mapping = read_mapping(PRESETS / "zabbix.yml")
    api, state = _Api(), state_file_for(tmp_path, _Api.url)
    api.open, api.known = {"3"}, {"3": dict(EVENT)}
    sent = _Forwarder()
    follower = ZabbixFollower(api, sent, state_file=state)  # type: ignore[arg-type]
    follower.poll()
    follower.poll()  # nothing changed: nothing sent
    api.known["3"]["severity"] = "5"  # event.acknowledge, action 8
    follower.poll()
    follower.poll()
    follower.save_if_delivered()
    assert [(i["event_id"], i["severity"], i["event_update_status"]) for i in sent.items
            ] == [("3", "4", "1"), ("3", "5", "1")]
    assert follower.stats.updates == 1 and "1 changes sent" in follower.stats.line()
    mapped = mapping.apply(sent.items[-1], 1795374300.0)
    assert (mapped.state_report, mapped.alerts[0].severity) == ([0], "critical")
    assert mapped.alerts[0].id == mapping.apply(sent.items[0], 1795374300.0).alerts[0].id
    # Restarted: every open problem is sent again (as it is now), then only changes.
    again = _Forwarder()
    restarted = ZabbixFollower(api, again, state_file=state)  # type: ignore[arg-type]
    assert restarted.open["3"]["severity"] == "5"
    restarted.poll()
    restarted.poll()
    api.known["3"]["severity"] = "2"
    restarted.poll()
    assert [(i["severity"], i["event_update_status"]) for i in again.items] == [
        ("5", "1"), ("2", "1")]
    # Its recovery is a recovery, not an update.
    api.open, api.recovered = set(), {"3": 1795374400.0}
    restarted.poll()
    assert (again.items[-1]["event_value"], again.items[-1]["severity"],
            again.items[-1]["event_update_status"]) == ("0", "2", "0")


def test_a_malformed_answer_fails_the_poll_not_the_follower() -> None:
    _Rpc.answers = {"apiinfo.version": {"result": "6.0.14"},
                    "problem.get": {"result": [{"eventid": "x1"}]}}
    with serving(_Rpc) as url, pytest.raises(ZabbixError, match="no list of events"):
        ZabbixApi(url, token="t").open_problem_ids()


def test_an_expired_token_is_a_refusal() -> None:
    _Rpc.answers = {"apiinfo.version": {"result": "6.0.14"}, "problem.get": {
        "error": {"code": -32500, "message": "Application error.",
                  "data": "API token expired."}}}
    with serving(_Rpc) as url, pytest.raises(ZabbixRefused, match="API token expired"):
        ZabbixApi(url, token="t").open_problem_ids()


@pytest.mark.parametrize("change", [{"clock": "1e30"}, {"clock": "nan"},
                                    {"hosts": ["sw-1"]}])
def test_an_event_with_an_impossible_time_or_host_is_refused(change: dict) -> None:
    with pytest.raises(ValueError, match="no usable time|no host"):
        problem_item({**EVENT, **change})


def test_an_acknowledgement_or_maintenance_is_sent_again_as_labels(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """problem.get's acknowledged and suppressed (0/1) go as the labels acknowledged and
    suppressed, again whenever they change; a value that is neither 0 nor 1 is left out
    (the alert keeps what it had) and logged by name."""
    mapping = read_mapping(PRESETS / "zabbix.yml")
    api, state = _Api(), state_file_for(tmp_path, _Api.url)
    api.open = {"3"}
    api.known = {"3": {**EVENT, "acknowledged": "0", "suppressed": "0"}}
    sent = _Forwarder()
    follower = ZabbixFollower(api, sent, state_file=state)  # type: ignore[arg-type]
    follower.poll()
    api.known["3"]["acknowledged"] = "1"
    follower.poll()
    follower.poll()  # nothing changed
    api.known["3"] |= {"suppressed": "1", "suppression_data": [
        {"maintenanceid": "12", "suppress_until": "0"}, {"maintenanceid": "4"}]}
    follower.poll()
    api.known["3"]["acknowledged"] = "7"  # not a value Zabbix documents
    follower.poll()
    api.known["3"] |= {"acknowledged": "1", "suppressed": "0", "suppression_data": []}
    follower.poll()  # the maintenance ended
    labels = [mapping.apply(i, 1795374300.0).alerts[0].labels for i in sent.items]
    assert [(x.get("acknowledged"), x.get("suppressed"), x.get("suppressed_by"))
            for x in labels] == [
        ("false", "false", None), ("true", "false", None),
        ("true", "maintenance", "maintenance 4,12"), ("true", "false", None)]
    assert "acknowledged 7 is neither 0 nor 1; ignored" in caplog.text
    # The media type's items carry neither: no label, so the alert keeps the follower's.
    assert "acknowledged" not in mapping.apply(
        {**sent.items[0], "acknowledged": None, "suppressed": None}, 1795374300.0
    ).alerts[0].labels
    caplog.clear()
    assert problem_status({"eventid": "3", "acknowledged": "1"}) == {"acknowledged": "true"}
    assert caplog.text == ""  # a field Zabbix did not give is not a fault
    assert problem_status({"eventid": "3", "acknowledged": 0, "suppressed": "yes"}) == {
        "acknowledged": "false"}
    assert "problem 3: suppressed yes is neither 0 nor 1; ignored" in caplog.text


def _closed(eventid: int, api: _Api, recovered_at: float | None = None) -> None:
    """A problem event that opened and is closed (not in problem.get)."""
    api.known[str(eventid)] = {**EVENT, "eventid": str(eventid),
                               "clock": str(1795374000 + eventid)}
    if recovered_at is not None:
        api.recovered[str(eventid)] = recovered_at


def test_problems_that_opened_and_closed_between_polls_fire_then_resolve_in_pages(
        tmp_path: Path) -> None:
    """The problem events after the last one accounted for are listed 1,000 a poll,
    oldest first; each not open now is sent firing, then resolved at its recovery (now
    if it has none), and ``last_eventid`` moves past it; one open now goes once, by
    the open problems' path. History before the first run is not replayed."""
    api, state = _Api(), state_file_for(tmp_path, _Api.url)
    for eventid in (1, 2):
        _closed(eventid, api, 1795379000.0)
    sent = _Forwarder()
    follower = ZabbixFollower(api, sent, state_file=state, clock=lambda: 1795380000.0)  # type: ignore[arg-type]
    follower.poll()
    follower.save_if_delivered()
    assert (sent.items, follower.last_eventid) == ([], 2)
    assert json.loads(state.read_text())["last_eventid"] == 2
    for eventid in range(3, 2503):
        _closed(eventid, api, 1795379000.0 + eventid)
    del api.recovered["2502"]  # no recovery event (its trigger deleted): ends now
    api.known["7"]["hosts"] = []  # not a host's trigger: skipped
    api.known["2503"] = {**EVENT, "eventid": "2503"}
    api.open = {"2503"}
    follower.poll()
    assert follower.last_eventid == 1002
    assert [(i["event_id"], i["event_value"]) for i in sent.items[:4]] == [
        ("3", "1"), ("3", "0"), ("4", "1"), ("4", "0")]
    assert (sent.items[0]["event_time"], sent.items[1]["recovery_time"]) == (
        "19:00:03", "20:23:23")
    assert [i["event_id"] for i in sent.items[-3:]] == ["1002", "1002", "2503"]
    for _ in range(3):
        follower.poll()
    assert api.scans == [(2, 1000), (2, 1000), (1002, 1000), (2002, 1000), (2503, 1000)]
    assert [i["event_id"] for i in sent.items].count("2503") == 1
    assert (follower.stats.missed, follower.stats.skipped, len(sent.items)) == (
        2499, 1, 2 * 2499 + 1)
    assert (sent.items[-2]["event_id"], sent.items[-1]["recovery_time"]) == ("2502", "20:40:00")
    follower.save_if_delivered()
    assert json.loads(state.read_text())["last_eventid"] == 2503


def test_a_state_file_without_last_eventid_starts_as_a_first_run(tmp_path: Path) -> None:
    """A file written before ``last_eventid`` was kept: its open problems are read as
    before, and the follower starts from Zabbix's newest problem event (the closed
    ones before it are not replayed)."""
    api, state = _Api(), state_file_for(tmp_path, _Api.url)
    _closed(1, api, 1795379000.0)
    _closed(3, api, 1795379100.0)  # sent by the older follower, recovered since
    api.known["4"] = {**EVENT, "eventid": "4"}
    api.open = {"4"}
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"open": {"3": problem_item(api.known["3"], update=True)},
                                 "url": _Api.url}))
    sent = _Forwarder()
    follower = ZabbixFollower(api, sent, state_file=state)  # type: ignore[arg-type]
    assert (list(follower.open), follower.last_eventid) == (["3"], None)
    follower.poll()
    assert [(i["event_id"], i["event_value"]) for i in sent.items] == [("3", "0"), ("4", "1")]
    follower.save_if_delivered()
    assert json.loads(state.read_text())["last_eventid"] == 4


def test_what_a_failed_poll_or_a_held_queue_missed_is_listed_again(tmp_path: Path) -> None:
    """``last_eventid`` moves only once all the poll's items are in the forwarder, and
    reaches the file only once the forwarder delivered them: a poll that failed
    half-way, or a stop with the queue held, lists the same events again."""
    api, state = _Api(), state_file_for(tmp_path, _Api.url)
    held = _Forwarder(pending=1)
    follower = ZabbixFollower(api, held, state_file=state)  # type: ignore[arg-type]
    follower.poll()
    follower.save()  # last_eventid 0 written
    _closed(1, api, 1795379000.0)
    events = api.events

    def outage(ids: list[str]) -> dict[str, dict[str, Any]]:
        raise ZabbixError("down")

    api.events = outage  # type: ignore[method-assign]
    with pytest.raises(ZabbixError):
        follower.poll()
    assert (follower.last_eventid, held.items) == (0, [])
    api.events = events  # type: ignore[method-assign]
    follower.poll()
    follower.save_if_delivered()  # the engine is away: not written
    assert (follower.last_eventid, json.loads(state.read_text())["last_eventid"]) == (1, 0)
    again = _Forwarder()
    ZabbixFollower(api, again, state_file=state).poll()  # type: ignore[arg-type]
    assert [(i["event_id"], i["event_value"]) for i in again.items] == [("1", "1"), ("1", "0")]
