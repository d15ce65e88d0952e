"""Who acknowledged a Zabbix problem, and why (connectors/zabbix_acknowledgement.py):
the label ``acknowledged_by`` from ``problem.get``'s acknowledges, through the follower
and the zabbix mapping.

The entries have the shape a real Zabbix 6.0.14 answered
(tests/integration/test_zabbix_acknowledged_by_real.py): ``acknowledgeid``,
``userid``, ``clock``, ``message`` and ``action`` as text, in no particular order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiops.zabbix_follower import ZabbixFollower, state_file_for
from connectors.webhook_mapping import PRESETS, read_mapping
from connectors.zabbix_acknowledgement import acknowledgement_said, acknowledger_ids
from connectors.zabbix_api import ZabbixApi, problem_status
from tests.http_server import serving
from tests.unit.test_zabbix_api import EVENT, _Api, _Forwarder, _Rpc

NAMES = {"5": "Jane Doe (jdoe)", "7": "bob"}


def _update(ident: int, clock: int, action: int, userid: str = "5",
            message: str = "") -> dict[str, str]:
    return {"acknowledgeid": str(ident), "userid": userid, "clock": str(clock),
            "message": message, "action": str(action)}


def _said(*updates: Any) -> str:
    return acknowledgement_said({"eventid": "3", "acknowledges": list(updates)},
                                lambda userid: NAMES.get(userid, f"user {userid}"))


@pytest.mark.parametrize(("updates", "said"), [
    # action 2|4: acknowledged, with the message of the same update.
    ([_update(1, 100, 2 | 4, message="on it")], "Jane Doe (jdoe): on it"),
    # 2 alone: no message, whatever text the entry carries.
    ([_update(1, 100, 2)], "Jane Doe (jdoe)"),
    ([_update(1, 100, 2 | 8, message="stale text")], "Jane Doe (jdoe)"),
    # A comment (4), a severity change (8) or a close (1) later is not who acknowledged.
    ([_update(1, 100, 2 | 4, message="on it"), _update(2, 200, 4, "7", "spare ordered"),
      _update(3, 300, 8, "7"), _update(4, 400, 1, "7")], "Jane Doe (jdoe): on it"),
    # An unacknowledgement (16) after it ends it; an acknowledgement after that stands.
    ([_update(1, 100, 2 | 4, message="on it"), _update(2, 200, 16, "7")], ""),
    ([_update(1, 100, 2), _update(2, 200, 16), _update(3, 300, 2 | 4, "7", "mine now")],
     "bob: mine now"),
    # Only comments, or nothing at all: no acknowledgement to name.
    ([_update(1, 100, 4, message="looking")], ""),
    ([], ""),
    # A message is one line (a label is).
    ([_update(1, 100, 6, message="  on it,\n\tswapping\r\nthe fan ")],
     "Jane Doe (jdoe): on it, swapping the fan"),
])
def test_only_an_acknowledgement_and_its_own_message_name_who(
        updates: list[dict[str, str]], said: str) -> None:
    assert _said(*updates) == said


def test_the_latest_wins_in_whatever_order_zabbix_lists_them() -> None:
    """6.0's problem.get sorts the list by nothing: the latest by clock, then by
    acknowledgeid for two updates in one second."""
    jane, bob = _update(1, 100, 2, "5"), _update(2, 200, 2 | 4, "7", "taking over")
    assert _said(bob, jane) == _said(jane, bob) == "bob: taking over"
    first, second = _update(8, 300, 16, "5"), _update(9, 300, 2, "7")  # one second
    assert _said(second, first) == _said(first, second) == "bob"
    assert _said(_update(10, 300, 16), _update(9, 300, 2, "7")) == ""
    assert acknowledger_ids([{"acknowledges": [bob, jane]},
                             {"acknowledges": [_update(3, 50, 2, "9"), first]},
                             {"acknowledges": [_update(4, 60, 4, "11")]}]) == {"7"}


def test_missing_or_unusable_fields_are_left_out_and_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    """An answer Zabbix should not give: never a crash; what is usable is said, the
    rest logged naming the problem."""
    good = _update(5, 100, 2 | 4, message="on it")
    assert _said("not an object", {"userid": "7", "clock": "900"},  # no action
                 {**_update(6, 900, 2, "7"), "clock": None},  # no clock
                 {**_update(7, 900, 2, "7"), "action": "two"}, good) == "Jane Doe (jdoe): on it"
    assert "problem 3: 4 of its acknowledges without a usable action or clock; left out" \
        in caplog.text
    # Who or why missing: the rest is said.
    assert _said({k: v for k, v in good.items() if k != "userid"}) == "on it"
    assert _said({**good, "userid": "0", "message": None}) == ""
    assert _said({k: v for k, v in good.items() if k != "acknowledgeid"}) == \
        "Jane Doe (jdoe): on it"
    caplog.clear()
    for broken in (None, "2", {"action": "2"}):
        assert acknowledgement_said({"eventid": "3", "acknowledges": broken},
                                    str) == ""
        assert acknowledger_ids([{"acknowledges": broken}]) == set()
    assert caplog.text.count("problem 3: acknowledges is") == 3
    assert "not a list; who acknowledged it is not said" in caplog.text


def test_problem_status_says_who_only_when_the_acknowledges_were_asked() -> None:
    """problem.get asks them (the follower); an event.get object without them (a
    problem the follower missed, a history pull) says ``acknowledged`` alone."""
    acknowledged = {"eventid": "3", "acknowledged": "1",
                    "acknowledges": [_update(1, 100, 6, message="on it")]}
    assert problem_status(acknowledged, NAMES.__getitem__) == {
        "acknowledged": "true", "acknowledged_by": "Jane Doe (jdoe): on it"}
    assert problem_status(acknowledged) == {
        "acknowledged": "true", "acknowledged_by": "user 5: on it"}
    # Not acknowledged: said empty, so that the end is a change and the label goes.
    assert problem_status({**acknowledged, "acknowledged": "0"}) == {
        "acknowledged": "false", "acknowledged_by": ""}
    assert problem_status({"eventid": "3", "acknowledged": "1"}) == {"acknowledged": "true"}
    # An acknowledged flag Zabbix did not give usably: neither.
    assert problem_status({**acknowledged, "acknowledged": "7"}) == {}


def test_the_follower_sends_who_acknowledged_and_a_change_of_who_alone(
        tmp_path: Path) -> None:
    """Acknowledged by Jane with a message, then a comment (nothing sent), then taken
    over by bob (only who changed: sent as a status report), then unacknowledged (the
    label goes); the state file keeps who, so a restart sends nothing unchanged after
    its first poll's report of every open problem."""
    mapping = read_mapping(PRESETS / "zabbix.yml")
    api, state = _Api(), state_file_for(tmp_path, _Api.url)
    api.named = [{"userid": "5", "username": "jdoe", "name": "Jane", "surname": "Doe"},
                 {"userid": "7", "username": "bob"}]
    problem = {**EVENT, "acknowledged": "0", "acknowledges": []}
    api.open, api.known = {"3"}, {"3": problem}
    sent = _Forwarder()
    follower = ZabbixFollower(api, sent, state_file=state)  # type: ignore[arg-type]
    follower.poll()
    problem |= {"acknowledged": "1", "acknowledges": [_update(1, 100, 6, message="on it")]}
    follower.poll()
    problem["acknowledges"].append(_update(2, 200, 4, "7", "spare ordered"))
    follower.poll()  # a comment: nothing to send
    problem["acknowledges"].append(_update(3, 300, 6, "7", "taking over"))
    follower.poll()
    follower.poll()
    follower.save_if_delivered()
    assert [(i["acknowledged"], i["acknowledged_by"], i["event_update_status"])
            for i in sent.items] == [("false", "", "1"), ("true", "Jane Doe (jdoe): on it", "1"),
                                     ("true", "bob: taking over", "1")]
    assert api.user_calls == [["5"], ["7"]]  # each named once, when first needed
    mapped = [mapping.apply(i, 1795374300.0) for i in sent.items]
    assert [m.alerts[0].labels.get("acknowledged_by") for m in mapped] == [
        None, "Jane Doe (jdoe): on it", "bob: taking over"]
    assert mapped[2].state_report == [0]
    assert len({m.alerts[0].id for m in mapped}) == 1  # one alert: the labels do not split it
    # Restarted: the first poll reports the open problem as always, then nothing.
    again = _Forwarder()
    restarted = ZabbixFollower(api, again, state_file=state)  # type: ignore[arg-type]
    assert restarted.open["3"]["acknowledged_by"] == "bob: taking over"
    restarted.poll()
    restarted.poll()
    restarted.poll()
    assert [i["acknowledged_by"] for i in again.items] == ["bob: taking over"]
    problem["acknowledges"].append(_update(4, 400, 16, "5"))
    problem["acknowledged"] = "0"
    restarted.poll()
    assert [(i["acknowledged"], i["acknowledged_by"]) for i in again.items[1:]] == [
        ("false", "")]
    assert "acknowledged_by" not in mapping.apply(again.items[-1], 1795374300.0
                                                  ).alerts[0].labels


def test_the_api_asks_problem_get_for_the_acknowledges(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Through the API: problem.get asks selectAcknowledges; a problem Zabbix answered
    without them reads as one whose acknowledgement cannot be said (logged, the label
    goes), not as one not asked (the label would stay stale)."""
    _Rpc.calls = []
    _Rpc.answers = {
        "apiinfo.version": {"result": "6.0.14"},
        "problem.get": {"result": [
            {"eventid": "3", "severity": "4", "acknowledged": "1", "suppressed": "0",
             "acknowledges": [_update(1, 100, 2 | 4, "5", "on it")]},
            {"eventid": "4", "severity": "4", "acknowledged": "1", "suppressed": "0"}]},
        "user.get": {"result": [{"userid": "5", "username": "jdoe", "name": "Jane",
                                 "surname": "Doe"}]}}
    with serving(_Rpc) as url:
        states = ZabbixApi(url, token="t").problem_states()
    (asked,) = [c["params"] for c in _Rpc.calls if c["method"] == "problem.get"]
    assert asked["selectAcknowledges"] == ["acknowledgeid", "userid", "clock", "message",
                                           "action"]
    assert {e: s[1]["acknowledged_by"] for e, s in states.items()} == {
        "3": "user 5: on it", "4": ""}
    assert "problem 4: acknowledges is None, not a list" in caplog.text
