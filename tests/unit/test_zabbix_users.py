"""Who suppressed a Zabbix problem by hand, by name (connectors/zabbix_users.py): the
wording, the cache the follower keeps (one ``user.get`` for the ids it does not know,
refreshed after ``refresh_after``, at most ``max_users``) and the fallback to the id
when Zabbix does not name a user. The shape of ``user.get``'s answers is what a real
Zabbix 6.0.14 gave (tests/integration/test_zabbix_users_real.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiops.zabbix_follower import ZabbixFollower, state_file_for
from connectors.zabbix_api import ZabbixError, ZabbixRefused
from connectors.zabbix_users import REFRESH_AFTER, UserNames, names_check, user_label
from tests.unit.test_zabbix_api import EVENT, _Api, _Forwarder

JANE = {"userid": "3", "username": "jdoe", "name": "Jane", "surname": "Doe"}
BOB = {"userid": "4", "username": "bob", "name": "", "surname": ""}
UNTIL = 1795381200  # 2026-11-22T21:00:00Z


class _Lookup:
    """``ZabbixApi.users`` as Zabbix answers it: those of ``users`` asked for (the API
    user may read no others: Zabbix leaves them out), or ``error``; calls recorded."""

    def __init__(self, *users: dict[str, Any]) -> None:
        self.users = list(users)
        self.calls: list[list[str]] = []
        self.error: ZabbixError | None = None

    def __call__(self, userids: list[str]) -> list[dict[str, Any]]:
        self.calls.append(userids)
        if self.error:
            raise self.error
        return [u for u in self.users if u["userid"] in userids]


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("user", "said"), [
    (JANE, "Jane Doe (jdoe)"),
    (BOB, "bob"),  # no name: the username alone
    ({"userid": "5", "name": "Ann", "surname": ""}, "Ann"),  # no username given
    ({"userid": "5", "username": "x", "name": "", "surname": "Lee"}, "Lee (x)"),
    # One line, whatever the names hold; not text is not said.
    ({"userid": "5", "username": " ann\n", "name": "Ann\tMarie ", "surname": None},
     "Ann Marie (ann)"),
    ({"userid": "5", "username": "a" * 300, "name": ["x"]}, "a" * 100),
])
def test_a_user_is_said_by_name_and_username(user: dict[str, Any], said: str) -> None:
    assert user_label(user) == said


@pytest.mark.parametrize("user", [{"userid": "5"}, {"userid": "5", "username": " ",
                                                   "name": "", "surname": 7}])
def test_a_user_without_any_name_is_not_said(user: dict[str, Any]) -> None:
    assert user_label(user) is None


def test_one_user_get_for_the_ids_not_known_and_none_when_all_are() -> None:
    lookup = _Lookup(JANE, BOB)
    names = UserNames(lookup)
    names.learn(["4", "3", "3", "0", "", "x"])  # "0": no user; not ids: not asked
    names.learn(["3", "4"])  # known: no call
    names.learn(["3", "4", "5"])  # one new id: asked alone
    assert lookup.calls == [["3", "4"], ["5"]]
    assert (names.said("3"), names.said("4"), names.said("9")) == (
        "Jane Doe (jdoe)", "bob", "user 9")


def test_names_are_asked_again_after_refresh_after() -> None:
    """Chosen as an hour (REFRESH_AFTER): a rename shows within it."""
    lookup, clock = _Lookup(JANE), _Clock()
    names = UserNames(lookup, clock=clock)
    names.learn(["3"])
    clock.now += REFRESH_AFTER - 1
    names.learn(["3"])
    assert lookup.calls == [["3"]]
    lookup.users = [{**JANE, "surname": "Roe"}]
    clock.now += 1
    names.learn(["3"])
    assert lookup.calls == [["3"], ["3"]] and names.said("3") == "Jane Roe (jdoe)"
    assert REFRESH_AFTER == 3600.0


def test_the_cache_keeps_at_most_max_users_the_least_recently_used_going_first() -> None:
    lookup = _Lookup(JANE, BOB, {"userid": "5", "username": "cy"})
    names = UserNames(lookup, max_users=2)
    names.learn(["3", "4"])
    assert names.said("3") == "Jane Doe (jdoe)"  # used: 4 is now the oldest
    names.learn(["5"])
    assert (names.said("3"), names.said("4"), names.said("5")) == (
        "Jane Doe (jdoe)", "user 4", "cy")
    names.learn(["4"])  # forgotten: asked again
    assert lookup.calls[-1] == ["4"]


def test_users_zabbix_does_not_name_keep_their_id_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    """As a User type of Zabbix 6.0 reads: its user groups' members only, the others
    left out without an error. Not asked again at every poll, and said once."""
    lookup, clock = _Lookup(JANE), _Clock()
    names = UserNames(lookup, clock=clock)
    names.learn(["1", "3"])
    names.learn(["1", "3"])
    assert lookup.calls == [["1", "3"]]
    assert (names.said("1"), names.said("3")) == ("user 1", "Jane Doe (jdoe)")
    clock.now += REFRESH_AFTER
    names.learn(["1", "3", "6"])  # asked again, still not named: not said again
    assert lookup.calls[-1] == ["1", "3", "6"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["zabbix: user.get did not name user 1 (an Admin or User type reads "
                        "only the members of its own user groups): who acknowledged a "
                        "problem or suppressed it by hand is said by user id (asked again "
                        "after 3600 s; said once)"]


@pytest.mark.parametrize("error", [ZabbixError("down"),
                                   ZabbixRefused('No permissions to call "user.get".')])
def test_a_user_get_that_fails_keeps_the_ids_and_the_names_known(
        error: ZabbixError, caplog: pytest.LogCaptureFixture) -> None:
    lookup, clock = _Lookup(JANE), _Clock()
    names = UserNames(lookup, clock=clock)
    names.learn(["3"])
    lookup.error = error
    clock.now += REFRESH_AFTER
    names.learn(["3", "4"])  # fails: Jane stays named, 4 by id
    names.learn(["3", "4"])  # not asked again before refresh_after
    assert len(lookup.calls) == 2
    assert (names.said("3"), names.said("4")) == ("Jane Doe (jdoe)", "user 4")
    assert [r.getMessage() for r in caplog.records] == [
        f"zabbix: user.get failed ({error}): who acknowledged a problem or suppressed it by "
        "hand is said by user id (asked again after 3600 s; said once)"]


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="refresh_after must be > 0"):
        UserNames(_Lookup(), refresh_after=0)
    with pytest.raises(ValueError, match="max_users >= 1"):
        UserNames(_Lookup(), max_users=0)


def _suppressed(eventid: str, userid: str) -> dict[str, Any]:
    return {**EVENT, "eventid": eventid, "suppressed": "1", "suppression_data": [
        {"maintenanceid": "0", "suppress_until": str(UNTIL), "userid": userid}]}


def test_the_follower_names_who_suppressed_asking_user_get_once(tmp_path: Path) -> None:
    """Problems suppressed by hand, new, open and missed between polls: each label
    names the user; user.get asked only for ids not known yet."""
    api, sent = _Api(), _Forwarder()
    api.named = [JANE, BOB]
    api.open, api.known = {"3"}, {"3": _suppressed("3", "3")}
    follower = ZabbixFollower(api, sent, state_file=state_file_for(tmp_path, _Api.url))  # type: ignore[arg-type]
    follower.poll()
    api.open.add("4")
    api.known["4"] = _suppressed("4", "3")  # the same user: no call
    follower.poll()
    api.known["5"] = _suppressed("5", "4")  # opened and closed between polls, by bob
    api.recovered["5"] = 1795374400.0
    follower.poll()
    assert api.user_calls == [["3"], ["4"]]
    assert [(i["event_id"], i["suppressed_by"]) for i in sent.items] == [
        ("3", "manually by Jane Doe (jdoe) until 2026-11-22T21:00:00Z"),
        ("4", "manually by Jane Doe (jdoe) until 2026-11-22T21:00:00Z"),
        ("5", "manually by bob until 2026-11-22T21:00:00Z"),
        ("5", "manually by bob until 2026-11-22T21:00:00Z")]  # and its recovery


def test_the_follower_keeps_polling_when_user_get_is_refused(tmp_path: Path) -> None:
    """A role that may not call user.get: the label keeps the id, the poll goes on
    (a refusal of user.get is not one of the credentials)."""
    api, sent = _Api(), _Forwarder()
    api.open, api.known = {"3"}, {"3": _suppressed("3", "7")}

    def refused(userids: list[str] | None = None) -> list[dict[str, Any]]:
        raise ZabbixRefused('Zabbix refused user.get: No permissions to call "user.get".')

    api.users = refused  # type: ignore[method-assign]
    follower = ZabbixFollower(api, sent, state_file=state_file_for(tmp_path, _Api.url))  # type: ignore[arg-type]
    follower.poll()
    assert [i["suppressed_by"] for i in sent.items] == [
        "manually by user 7 until 2026-11-22T21:00:00Z"]


def test_check_says_whether_names_can_be_read() -> None:
    assert names_check(lambda: [JANE, BOB]) == (
        "user names: 2 users readable (a Super admin reads all; an Admin or User type, "
        "its user groups' members only)")
    assert names_check(lambda: [JANE]).startswith("user names: only the API user's own")

    def failing() -> list[dict[str, Any]]:
        raise ZabbixError("http://z: user.get: No permissions")

    assert names_check(failing) == (
        "user names: cannot be read (http://z: user.get: No permissions): who acknowledged "
        "a problem or suppressed it by hand is said by user id")
