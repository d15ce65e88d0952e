"""Who ``user.get`` names, on a real Zabbix 6.0 (tests/zabbix_server.py): the follower
names who acknowledged a problem or suppressed it by hand from it
(connectors/zabbix_users.py).

Zabbix 6.0 has no suppression by hand (6.2+: tested on its documented payloads in
tests/unit/test_zabbix_suppression.py), but ``user.get`` is the same call, and what an
API user may read of other users is this server's to say. As 6.0.14 answered here: a
Super admin reads every user; a user of type User reads itself and the members of its
own user groups, and the others it asks for by id are left out, without an error."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.zabbix_api import ZabbixApi
from connectors.zabbix_users import UserNames, names_check
from tests.zabbix_server import ZabbixServer, available

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not available(), reason="needs Debian's zabbix-server-pgsql, "
                                 "zabbix-frontend-php and php-cli")]
PASSWORD = "Users-real-2026"  # Zabbix 6.0's default policy: 8 characters at least


@pytest.fixture(scope="module")
def zabbix(postgres_url: str) -> Iterator[ZabbixServer]:
    """A Zabbix with two user groups of users of type User: "ops" (jdoe, bob) and
    "solo" (solo alone)."""
    from tests.pg_server import create_database

    server = ZabbixServer(create_database(postgres_url, "zabbix_users_real"))
    try:
        server.start()
        (role,) = server.api("role.get", {"filter": {"name": "User role"},
                                          "output": ["roleid", "type"]})
        assert role["type"] == "1"  # type User
        for group, members in (("ops", [("jdoe", "Jane", "Doe"), ("bob", "", "")]),
                               ("solo", [("solo", "Sol", "O")])):
            (groupid,) = server.api("usergroup.create", {"name": group})["usrgrpids"]
            for username, name, surname in members:
                server.api("user.create", {
                    "username": username, "name": name, "surname": surname,
                    "passwd": PASSWORD, "roleid": role["roleid"],
                    "usrgrps": [{"usrgrpid": groupid}]})
        yield server
    finally:
        server.close()


def _ids(zabbix: ZabbixServer) -> dict[str, str]:
    """User ids by username, as the Super admin reads them."""
    return {u["username"]: u["userid"]
            for u in zabbix.api("user.get", {"output": ["userid", "username"]})}


def test_a_super_admin_reads_every_user_s_name(zabbix: ZabbixServer) -> None:
    ids = _ids(zabbix)
    api = ZabbixApi(zabbix.url, user="Admin", password="zabbix")
    names = UserNames(api.users)
    names.learn([ids["Admin"], ids["jdoe"], ids["bob"], ids["solo"]])
    assert [names.said(ids[u]) for u in ("Admin", "jdoe", "bob", "solo")] == [
        "Zabbix Administrator (Admin)", "Jane Doe (jdoe)", "bob", "Sol O (solo)"]
    assert names_check(api.users) == (
        f"user names: {len(ids)} users readable (a Super admin reads all; an Admin or User "
        "type, its user groups' members only)")
    api.logout()


def test_a_user_type_reads_itself_and_its_groups_members_only(
        zabbix: ZabbixServer, caplog: pytest.LogCaptureFixture) -> None:
    """What 6.0.14 answers an API user of type User: no error, the others left out."""
    ids = _ids(zabbix)
    everyone = [ids[u] for u in ("Admin", "jdoe", "bob", "solo")]
    solo = ZabbixApi(zabbix.url, user="solo", password=PASSWORD)
    assert solo.users(everyone) == [{"userid": ids["solo"], "username": "solo",
                                     "name": "Sol", "surname": "O"}]
    assert [u["username"] for u in solo.users()] == ["solo"]
    jdoe = ZabbixApi(zabbix.url, user="jdoe", password=PASSWORD)
    assert sorted(u["username"] for u in jdoe.users(everyone)) == ["bob", "jdoe"]
    # The follower of such a user: the others by id, said once.
    names = UserNames(solo.users)
    names.learn(everyone)
    assert [names.said(i) for i in everyone] == [
        f"user {ids['Admin']}", f"user {ids['jdoe']}", f"user {ids['bob']}", "Sol O (solo)"]
    assert [r.getMessage().split(":")[1] for r in caplog.records] == [
        " user.get did not name user " + ", ".join(everyone[:3]) + " (an Admin or User type "
        "reads only the members of its own user groups)"]
    solo.logout()
    jdoe.logout()


def test_check_says_when_only_the_api_user_itself_is_named(
        tmp_path: Path, zabbix: ZabbixServer) -> None:
    password = tmp_path / "pw"
    password.write_text(PASSWORD)
    checked = subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(tmp_path),
                              "zabbix", "check", "--url", zabbix.url, "--user", "solo",
                              "--password-file", str(password)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.splitlines() == [
        f"{zabbix.url}: 0 trigger problems open",
        f"{zabbix.url}: user names: only the API user's own (an Admin or User type reads "
        "its user groups' members only): who else acknowledged a problem or suppressed it "
        "by hand is said by user id"]
