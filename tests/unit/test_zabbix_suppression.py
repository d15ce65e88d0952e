"""A Zabbix problem suppressed by hand (6.2+: ``event.acknowledge`` action 32 with
``suppress_until``) reads ``suppressed: manual`` and says who and until when, beside
its maintenances (connectors/zabbix_suppression.py).

Tested against the documented payloads only: no Zabbix 6.2+ runs here (Debian
bookworm packages 6.0). The shapes are those of Zabbix's API code for
``selectSuppressionData`` ("extend": ``maintenanceid``, ``suppress_until``,
``userid``; a row's NULL id reads "0"): a maintenance's entry has its id and
``userid`` "0", a suppression by hand ``maintenanceid`` "0" and the user's id, and
``suppress_until`` "0" for "indefinitely". Zabbix 6.0's entries (no ``userid``) are
in tests/unit/test_zabbix_api.py and, from a real 6.0, tests/integration.

Who suppressed it is named by ``user.get``, answered here as a real Zabbix 6.0.14
answered (tests/integration/test_zabbix_users_real.py): the users the API user may
read, the others left out without an error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiops.engine.alert_status import is_suppressed, manual_said
from aiops.zabbix_follower import ZabbixFollower, state_file_for
from connectors.webhook_mapping import PRESETS, read_mapping
from connectors.zabbix_api import ZabbixApi, problem_item, problem_status
from tests.http_server import serving
from tests.unit.test_zabbix_api import EVENT, _Api, _Forwarder, _Rpc

UNTIL = 1795381200  # 2026-11-22T21:00:00Z
BY_HAND = {"maintenanceid": "0", "suppress_until": str(UNTIL), "userid": "5"}
MAINTENANCE = {"maintenanceid": "12", "suppress_until": "1795384800", "userid": "0"}


def _status(*entries: Any, suppressed: str = "1") -> dict[str, str]:
    return problem_status({"eventid": "3", "suppressed": suppressed,
                           "suppression_data": list(entries)})


def test_problem_get_of_a_problem_suppressed_by_hand_reads_manual() -> None:
    """Through the API as it answers: by hand only, by hand and in a maintenance, and
    indefinitely; the labels are what the engine counts as suppressed."""
    _Rpc.calls = []
    _Rpc.answers = {"apiinfo.version": {"result": "7.0.0"}, "problem.get": {"result": [
        {"eventid": "3", "severity": "4", "acknowledged": "0", "suppressed": "1",
         "suppression_data": [BY_HAND]},
        {"eventid": "4", "severity": "4", "acknowledged": "1", "suppressed": "1",
         "suppression_data": [BY_HAND, MAINTENANCE]},
        {"eventid": "5", "severity": "2", "acknowledged": "0", "suppressed": "1",
         "suppression_data": [{"maintenanceid": "0", "suppress_until": "0",
                               "userid": "7"}]}]}}
    with serving(_Rpc) as url:
        states = ZabbixApi(url, token="t").problem_states()
    assert _Rpc.calls[-1]["params"]["selectSuppressionData"] == "extend"
    assert {e: (s["suppressed"], s["suppressed_by"]) for e, (_, s) in states.items()} == {
        "3": ("manual", "manually by user 5 until 2026-11-22T21:00:00Z"),
        "4": ("maintenance", "maintenance 12; manually by user 5 until 2026-11-22T21:00:00Z"),
        "5": ("manual", "manually by user 7 indefinitely")}
    mapping = read_mapping(PRESETS / "zabbix.yml")
    item = {**problem_item(EVENT, update=True), **states["3"][1]}
    labels = mapping.apply(item, 1795374300.0).alerts[0].labels
    assert labels["suppressed"] == "manual" and is_suppressed(labels)


def test_the_follower_sends_a_suppression_by_hand_and_its_end(tmp_path: Path) -> None:
    """Suppressed by hand, then a maintenance begins too, then both end: each change
    is sent once, as a state report of the one alert."""
    api, sent = _Api(), _Forwarder()
    api.open = {"3"}
    api.known = {"3": {**EVENT, "suppressed": "1", "suppression_data": [BY_HAND]}}
    state = state_file_for(tmp_path, _Api.url)
    follower = ZabbixFollower(api, sent, state_file=state)  # type: ignore[arg-type]
    follower.poll()
    follower.poll()  # nothing changed: nothing sent
    api.known["3"]["suppression_data"] = [MAINTENANCE, BY_HAND]
    follower.poll()
    api.known["3"] |= {"suppressed": "0", "suppression_data": []}  # unsuppressed (64)
    follower.poll()
    mapping = read_mapping(PRESETS / "zabbix.yml")
    labels = [mapping.apply(i, 1795374300.0).alerts[0].labels for i in sent.items]
    assert [(x.get("suppressed"), x.get("suppressed_by")) for x in labels] == [
        ("manual", "manually by user 5 until 2026-11-22T21:00:00Z"),
        ("maintenance", "maintenance 12; manually by user 5 until 2026-11-22T21:00:00Z"),
        ("false", None)]
    assert follower.stats.updates == 2


def _event_get(body: dict[str, Any]) -> dict[str, Any]:
    """``event.get`` as the follower asks it: the newest problem (3), none after it,
    and the events of the ids asked, suppressed as problem.get says."""
    params = body["params"]
    if "eventids" in params:
        return {"result": [{**EVENT, "eventid": e} for e in params["eventids"]]}
    return {"result": [{"eventid": "3"}] if params.get("sortorder") == "DESC" else []}


def test_the_follower_names_who_suppressed_through_the_api(tmp_path: Path) -> None:
    """Through the API as it answers: user.get asked once, for the two ids, with the
    fields that name them; user 7, whom Zabbix leaves out (an API user of type User
    reads only its user groups' members), is said by id; the next poll asks nothing."""
    _Rpc.calls = []
    _Rpc.answers = {
        "apiinfo.version": {"result": "7.0.0"}, "event.get": _event_get,
        "problem.get": {"result": [
            {"eventid": "3", "severity": "4", "acknowledged": "0", "suppressed": "1",
             "suppression_data": [BY_HAND]},
            {"eventid": "4", "severity": "4", "acknowledged": "0", "suppressed": "1",
             "suppression_data": [MAINTENANCE, {"maintenanceid": "0", "suppress_until": "0",
                                                "userid": "7"}]}]},
        "user.get": {"result": [{"userid": "5", "username": "jdoe", "name": "Jane",
                                 "surname": "Doe"}]}}
    sent = _Forwarder()
    with serving(_Rpc) as url:
        follower = ZabbixFollower(ZabbixApi(url, token="t"), sent,  # type: ignore[arg-type]
                                  state_file=state_file_for(tmp_path, url))
        follower.poll()
        follower.poll()
    asked = [c["params"] for c in _Rpc.calls if c["method"] == "user.get"]
    assert asked == [{"output": ["userid", "username", "name", "surname"],
                      "userids": ["5", "7"]}]
    assert sorted((i["event_id"], i["suppressed"], i["suppressed_by"]) for i in sent.items) == [
        ("3", "manual", "manually by Jane Doe (jdoe) until 2026-11-22T21:00:00Z"),
        ("4", "maintenance", "maintenance 12; manually by user 7 indefinitely")]


def test_check_says_whether_zabbix_names_users(tmp_path: Path) -> None:
    """``aiops zabbix check``: the open problems, then whether user.get names others
    (here it reads only one user, the API user itself)."""
    from click.testing import CliRunner

    from aiops.cli import main

    _Rpc.answers = {"apiinfo.version": {"result": "6.0.14"}, "problem.get": {"result": []},
                    "user.get": {"result": [{"userid": "3", "username": "api"}]}}
    token = tmp_path / "token"
    token.write_text("t")
    with serving(_Rpc) as url:
        result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "zabbix", "check",
                                           "--url", url, "--token-file", str(token)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{url}: 0 trigger problems open",
        f"{url}: user names: only the API user's own (an Admin or User type reads its user "
        "groups' members only): who else acknowledged a problem or suppressed it by hand is "
        "said by user id"]


@pytest.mark.parametrize(("entries", "said"), [
    # Fields missing: the label says what is there.
    ([{"maintenanceid": "0", "suppress_until": "0"}], "manually indefinitely"),
    ([{"maintenanceid": "0", "userid": "5"}], "manually by user 5"),
    ([{"maintenanceid": "0"}], "manually"),
    ([{"userid": "5", "suppress_until": str(UNTIL)}],
     "manually by user 5 until 2026-11-22T21:00:00Z"),
    ([{"maintenanceid": "0", "userid": "0", "suppress_until": "0"}], "manually indefinitely"),
    ([{"maintenanceid": "0", "userid": None, "suppress_until": None}], "manually"),
    # The same suppression twice is said once.
    ([BY_HAND, dict(BY_HAND)], "manually by user 5 until 2026-11-22T21:00:00Z"),
])
def test_a_suppression_by_hand_missing_fields_is_said_without_them(
        entries: list[dict[str, Any]], said: str) -> None:
    assert _status(*entries) == {"suppressed": "manual", "suppressed_by": said}


@pytest.mark.parametrize("until", ["soon", "", "-5", "1e30", "nan", "inf", [1]])
def test_a_suppress_until_that_is_no_time_is_left_out_and_logged(
        until: Any, caplog: pytest.LogCaptureFixture) -> None:
    assert _status({"maintenanceid": "0", "userid": "5", "suppress_until": until}) == {
        "suppressed": "manual", "suppressed_by": "manually by user 5"}
    assert "problem 3: suppress_until" in caplog.text and "is no time" in caplog.text


@pytest.mark.parametrize(("entries", "said"), [
    # Zabbix 6.0's shape (no userid) and 6.2+'s maintenance entry (userid "0") alike.
    ([{"maintenanceid": "12", "suppress_until": "0"}], "maintenance 12"),
    ([MAINTENANCE, {"maintenanceid": "4", "suppress_until": "0"}], "maintenance 4,12"),
    # Nothing usable: suppressed as Zabbix says, by what is not said (as before).
    ([], ""), (["x", {}, {"maintenanceid": "abc"}], ""),
])
def test_maintenances_read_as_before(entries: list[Any], said: str) -> None:
    assert _status(*entries) == {"suppressed": "maintenance", "suppressed_by": said}


def test_not_suppressed_or_no_list_of_suppressions() -> None:
    assert _status(BY_HAND, suppressed="0") == {"suppressed": "false", "suppressed_by": ""}
    assert problem_status({"eventid": "3", "suppressed": "1", "suppression_data": "x"}) == {
        "suppressed": "maintenance", "suppressed_by": ""}


def test_manual_said() -> None:
    assert manual_said(" ann ", UNTIL) == "manually by ann until 2026-11-22T21:00:00Z"
    assert manual_said("", 0) == "manually indefinitely"
    assert manual_said("user 5", None) == "manually by user 5"

