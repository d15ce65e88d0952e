"""Who acknowledged a problem, and why, on a real Zabbix 6.0 (tests/zabbix_server.py):
the label ``acknowledged_by`` as ``aiops zabbix follow`` reads it from ``problem.get``'s
acknowledges (connectors/zabbix_acknowledgement.py) and as the media type sends it
from an update notification (deploy/zabbix/aiops_media_type.yaml), each through the
engine served over real HTTP.

The operator who acknowledges is Jane Doe (``jdoe``), a Super admin with her own
session: Zabbix notifies no user of their own update, and Admin has the media."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import LiveServer
from tests.integration.test_webhooks_api import alert_rows
from tests.polling import wait_for
from tests.zabbix_server import ZabbixServer, available

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not available(), reason="needs Debian's zabbix-server-pgsql, "
                                 "zabbix-frontend-php and php-cli")]
MEDIA_TYPE = Path(__file__).parents[2] / "deploy" / "zabbix" / "aiops_media_type.yaml"
KEY = "fan.state"
PASSWORD = "Fan-swap-2026"
ACTION = "to the AIOps engine"


@pytest.fixture(scope="module")
def zabbix(postgres_url: str) -> Iterator[ZabbixServer]:
    """The media type imported and given to Admin, an action (off until a test turns it
    on) for problems, recoveries and updates, and Jane Doe, who acknowledges."""
    from tests.pg_server import create_database

    server = ZabbixServer(create_database(postgres_url, "zabbix_acknowledged_by_real"))
    try:
        server.start()
        (own,) = server.api("host.get", {"filter": {"host": "Zabbix server"}})
        server.api("host.update", {"hostid": own["hostid"], "status": 1})  # no agent here
        assert server.api("configuration.import", {
            "format": "yaml", "source": MEDIA_TYPE.read_text(encoding="utf-8"),
            "rules": {"mediaTypes": {"createMissing": True, "updateExisting": True}}}) is True
        (media,) = server.api("mediatype.get", {"filter": {"name": "AIOps engine"}})
        server.api("user.update", {"userid": "1", "medias": [{
            "mediatypeid": media["mediatypeid"], "sendto": "aiops", "active": 0,
            "severity": 63, "period": "1-7,00:00-24:00"}]})
        (group,) = server.api("hostgroup.get", {"filter": {"name": "Linux servers"}})
        message = {"default_msg": 1, "mediatypeid": media["mediatypeid"]}
        server.api("action.create", {
            "name": ACTION, "eventsource": 0, "status": 1, "esc_period": "1h",
            "filter": {"evaltype": 0, "conditions": [
                {"conditiontype": 0, "operator": 0, "value": group["groupid"]}]},
            "operations": [{"operationtype": 0, "opmessage_usr": [{"userid": "1"}],
                            "opmessage": message}],
            "recovery_operations": [{"operationtype": 11, "opmessage": {"default_msg": 1}}],
            "update_operations": [{"operationtype": 0, "opmessage_usr": [{"userid": "1"}],
                                   "opmessage": message}]})
        server.api("user.create", {"username": "jdoe", "name": "Jane", "surname": "Doe",
                                   "passwd": PASSWORD, "roleid": "3",  # Super admin role
                                   "usrgrps": [{"usrgrpid": "7"}]})  # Zabbix administrators
        server.api("user.create", {"username": "bob", "passwd": PASSWORD, "roleid": "3",
                                   "usrgrps": [{"usrgrpid": "7"}]})  # no name, no surname
        yield server
    finally:
        server.close()


def _host(zabbix: ZabbixServer, name: str) -> None:
    """A host with a trapper item and a high trigger that fires on 0."""
    (group,) = zabbix.api("hostgroup.get", {"filter": {"name": "Linux servers"}})
    (host,) = zabbix.api("host.create", {"host": name, "interfaces": [], "groups": [
        {"groupid": group["groupid"]}]})["hostids"]
    zabbix.api("item.create", {"hostid": host, "name": "fan state", "key_": KEY,
                               "type": 2, "value_type": 3})
    zabbix.api("trigger.create", {"description": "Fan failed", "priority": 4,
                                  "expression": f"last(/{name}/{KEY})=0"})


def _send(zabbix: ZabbixServer, host: str, value: int) -> None:
    """The fan's state (0 failed, 1 fine) until the host's trigger shows it."""
    zabbix.send_until_shown(host, KEY, value)


def _session(zabbix: ZabbixServer, username: str, password: str) -> str:
    answer = requests.post(zabbix.url, timeout=30, json={
        "jsonrpc": "2.0", "method": "user.login", "id": 1,
        "params": {"username": username, "password": password}}).json()
    return answer["result"]


def _update(zabbix: ZabbixServer, session: str, host: str, action: int,
            **more: Any) -> None:
    """``event.acknowledge`` of the host's open problem, in ``session``."""
    (problem,) = zabbix.api("problem.get", {"hostids": [_hostid(zabbix, host)],
                                            "output": ["eventid"]})
    answer = requests.post(zabbix.url, timeout=30, json={
        "jsonrpc": "2.0", "method": "event.acknowledge", "id": 1, "auth": session,
        "params": {"eventids": [problem["eventid"]], "action": action, **more}}).json()
    assert "result" in answer, answer


def _hostid(zabbix: ZabbixServer, host: str) -> str:
    (found,) = zabbix.api("host.get", {"filter": {"host": host}, "output": ["hostid"]})
    return found["hostid"]


def _labels(live_server: LiveServer, host: str) -> list[tuple[str | None, str | None, str]]:
    """(acknowledged, acknowledged_by, status) of the host's alerts, as stored."""
    return [(a["labels"].get("acknowledged"), a["labels"].get("acknowledged_by"),
             a["status"]) for a in alert_rows(live_server.runtime) if a["entity"] == host]


def _follow(zabbix: ZabbixServer, engine: str, data: Path) -> subprocess.Popen[str]:
    secret = data.parent / "pw"
    secret.write_text("zabbix")
    return subprocess.Popen(
        [sys.executable, "-m", "aiops", "--data-dir", str(data), "zabbix", "follow", "--url",
         zabbix.url, "--user", "Admin", "--password-file", str(secret), "--forward", engine,
         "--interval", "1", "--stats-every", "0"], stderr=subprocess.PIPE, text=True)


def _stop(follower: subprocess.Popen[str]) -> str:
    follower.send_signal(signal.SIGTERM)
    return follower.communicate(timeout=30)[1]


def _action(zabbix: ZabbixServer, on: bool) -> None:
    (action,) = zabbix.api("action.get", {"filter": {"name": ACTION}})
    zabbix.api("action.update", {"actionid": action["actionid"], "status": 0 if on else 1})


def test_the_follower_says_who_acknowledged_and_why_until_an_unacknowledgement(
        tmp_path: Path, zabbix: ZabbixServer, live_server: LiveServer) -> None:
    """Jane Doe acknowledges with a message (action 2|4): the alert reads her name and
    message; a comment added later by Admin (4) changes nothing; she unacknowledges
    (16): the label goes; Admin acknowledges without a message (2): his name alone,
    kept in the state file, and a restarted follower sends the same."""
    host = "sw-ack-who-1"
    _host(zabbix, host)
    jdoe = _session(zabbix, "jdoe", PASSWORD)
    admin = _session(zabbix, "Admin", "zabbix")
    data = tmp_path / "follower"
    follower = _follow(zabbix, live_server.url, data)

    def seen(expected: list, what: str) -> None:
        wait_for(lambda: _labels(live_server, host) == expected, what, timeout=60,
                 explain=lambda: f"{_labels(live_server, host)}\n{_stop(follower)}")

    try:
        _send(zabbix, host, 0)
        seen([("false", None, "firing")], "the problem")
        _update(zabbix, jdoe, host, 2 | 4, message="on it,\n swapping the fan")
        seen([("true", "Jane Doe (jdoe): on it, swapping the fan", "firing")],
             "the acknowledgement")
        _update(zabbix, admin, host, 4, message="spare ordered")
        time.sleep(3)  # three polls: a comment is not who acknowledged
        assert _labels(live_server, host) == [
            ("true", "Jane Doe (jdoe): on it, swapping the fan", "firing")]
        _update(zabbix, jdoe, host, 16)
        seen([("false", None, "firing")], "the unacknowledgement")
        _update(zabbix, admin, host, 2)
        seen([("true", "Zabbix Administrator (Admin)", "firing")],
             "the acknowledgement without a message")
    finally:
        _stop(follower)
    (state,) = (data / "zabbix").glob("*.json")
    assert [p.get("acknowledged_by") for p in json.loads(state.read_text())["open"].values()
            if p["host"] == host] == ["Zabbix Administrator (Admin)"]
    (before,) = [a["event_count"] for a in alert_rows(live_server.runtime)
                 if a["entity"] == host]
    follower = _follow(zabbix, live_server.url, data)
    try:
        # Its first poll sends every open problem again (as it always has); no more.
        wait_for(lambda: [a["event_count"] for a in alert_rows(live_server.runtime)
                          if a["entity"] == host] == [before + 1], "the restart's report",
                 timeout=60, explain=lambda: _stop(follower))
        time.sleep(3)
        assert _labels(live_server, host) == [
            ("true", "Zabbix Administrator (Admin)", "firing")]
        assert [a["event_count"] for a in alert_rows(live_server.runtime)
                if a["entity"] == host] == [before + 1]
        _send(zabbix, host, 1)
        seen([("true", "Zabbix Administrator (Admin)", "resolved")], "the recovery")
    finally:
        _stop(follower)


def test_the_media_type_sends_who_acknowledged_with_the_update_notification(
        zabbix: ZabbixServer, live_server: LiveServer) -> None:
    """The action's update operation: Jane Doe's acknowledgement with a message and a
    severity change in one update (2|4|8) marks the alert with her name and message; a
    later severity change (8) says nothing of who and leaves it; her unacknowledgement
    (16) clears both; bob, who has no name, acknowledges (2): his username, kept
    through the recovery."""
    host = "sw-ack-who-2"
    (media,) = zabbix.api("mediatype.get", {"filter": {"name": "AIOps engine"},
                                            "selectParameters": "extend"})
    zabbix.api("mediatype.update", {"mediatypeid": media["mediatypeid"], "parameters": [
        {"name": p["name"], "value": live_server.url + "/api/v1/webhooks/zabbix"
         if p["name"] == "URL" else p["value"]} for p in media["parameters"]],
        "maxattempts": "3", "attempt_interval": "2s"})
    seen_alerts = len(zabbix.api("alert.get", {"output": ["alertid"]}))
    # The action on before the host exists: the server's configuration cache (refreshed
    # every second) that first holds the host's item then holds the action too. Turned on
    # after it, a problem could reach the server within the second before the action
    # did, and no notification ever came (seen once in CI: "the problem's notification
    # did not happen within 60 s", no alert in alert.get).
    _action(zabbix, on=True)
    _host(zabbix, host)
    jdoe = _session(zabbix, "jdoe", PASSWORD)

    def explain() -> str:
        sent = zabbix.api("alert.get", {"output": ["status", "error", "message"],
                                        "sortfield": "alertid"})[seen_alerts:]
        return f"{_labels(live_server, host)}\n{sent}\n{zabbix.log()}"

    def seen(expected: list, what: str) -> None:
        wait_for(lambda: _labels(live_server, host) == expected, what, timeout=60,
                 explain=explain)

    try:
        _send(zabbix, host, 0)
        seen([("false", None, "firing")], "the problem's notification")
        _update(zabbix, jdoe, host, 2 | 4 | 8, message="on it", severity=5)
        seen([("true", "Jane Doe (jdoe): on it", "firing")],
             "the acknowledgement's update notification")
        _update(zabbix, jdoe, host, 8, severity=3)
        wait_for(lambda: [a["severity"] for a in alert_rows(live_server.runtime)
                          if a["entity"] == host] == ["minor"], "the severity change",
                 timeout=60, explain=explain)
        assert _labels(live_server, host) == [("true", "Jane Doe (jdoe): on it", "firing")]
        _update(zabbix, jdoe, host, 16)
        seen([("false", None, "firing")], "the unacknowledgement's update notification")
        # A user with no name: {USER.FULLNAME} is the username alone.
        _update(zabbix, _session(zabbix, "bob", PASSWORD), host, 2)
        seen([("true", "bob", "firing")], "bob's acknowledgement")
        # The recovery's {EVENT.ACK.STATUS} Yes says nothing of who: the label stays.
        _send(zabbix, host, 1)
        seen([("true", "bob", "resolved")], "the recovery's notification")
        messages = wait_for(lambda: [a["message"] for a in zabbix.api("alert.get", {
            "output": ["status", "message"], "sortfield": "alertid"})[seen_alerts:]
            if a["status"] == "1"] or None, "the notifications sent")
        # What {EVENT.UPDATE.ACTION} said of the update that did three things.
        assert "Fan failed on sw-ack-who-2 updated: acknowledged, commented and changed " \
            "severity from High to Disaster" in messages, messages
    finally:
        _action(zabbix, on=False)
