"""The Zabbix media type (deploy/zabbix/aiops_media_type.yaml) inside a real Zabbix 6.0
server (tests/zabbix_server.py): imported through Zabbix's API, given to a user with
an action, and run by Zabbix's own alerter on a real problem, its severity change and
its recovery, against an engine served over real HTTP; and ``aiops zabbix follow``
polling the same Zabbix's API."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import requests

from aiops.runtime import Runtime
from aiops.timeutil import to_rfc3339
from connectors.jsonl import read_alerts
from tests.conftest import LiveServer
from tests.http_server import serving
from tests.integration.test_webhooks_api import alert_rows, incident_rows
from tests.polling import wait_for
from tests.zabbix_server import ZabbixServer, available

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not available(), reason="needs Debian's zabbix-server-pgsql, "
                                 "zabbix-frontend-php and php-cli")]
MEDIA_TYPE = Path(__file__).parents[2] / "deploy" / "zabbix" / "aiops_media_type.yaml"
HOST, KEY = "sw-core-1", "link.state"


@pytest.fixture(scope="module")
def zabbix(postgres_url: str) -> Iterator[ZabbixServer]:
    from tests.pg_server import create_database

    server = ZabbixServer(create_database(postgres_url, "zabbix_real"))
    try:
        server.start()
        _configure(server)
        yield server
    finally:
        server.close()


def _configure(zabbix: ZabbixServer) -> None:
    """What docs/webhooks.md tells an administrator to do, through the API: import the
    media type, give Admin that media, an action that notifies Admin on problems,
    recoveries and updates; and a host with a trapper item and a trigger to fire.

    The server's own host ("Zabbix server", monitored by an agent that does not run
    here) is disabled first: its templates' triggers (the agent unavailable after 3
    minutes, among others) opened problems of their own that the action sent to the
    engine beside the test's (CI once saw two alerts where the test waited for one,
    and the next test fail behind it)."""
    (own,) = zabbix.api("host.get", {"filter": {"host": "Zabbix server"}})
    zabbix.api("host.update", {"hostid": own["hostid"], "status": 1})
    (group,) = zabbix.api("hostgroup.get", {"filter": {"name": "Linux servers"}})
    assert zabbix.api("configuration.import", {
        "format": "yaml", "source": MEDIA_TYPE.read_text(encoding="utf-8"),
        "rules": {"mediaTypes": {"createMissing": True, "updateExisting": True}}}) is True
    (media,) = zabbix.api("mediatype.get", {"filter": {"name": "AIOps engine"},
                                            "selectParameters": "extend"})
    zabbix.api("user.update", {"userid": "1", "medias": [{
        "mediatypeid": media["mediatypeid"], "sendto": "aiops", "active": 0,
        "severity": 63, "period": "1-7,00:00-24:00"}]})
    zabbix.api("action.create", {
        "name": "to the AIOps engine", "eventsource": 0, "status": 0, "esc_period": "1h",
        # only the test hosts' group (conditiontype 0: host group, operator 0: equals)
        "filter": {"evaltype": 0, "conditions": [
            {"conditiontype": 0, "operator": 0, "value": group["groupid"]}]},
        "operations": [{"operationtype": 0, "opmessage_usr": [{"userid": "1"}],
                        "opmessage": {"default_msg": 1, "mediatypeid": media["mediatypeid"]}}],
        "recovery_operations": [{"operationtype": 11, "opmessage": {"default_msg": 1}}],
        "update_operations": [{"operationtype": 0, "opmessage_usr": [{"userid": "1"}],
                               "opmessage": {"default_msg": 1,
                                             "mediatypeid": media["mediatypeid"]}}]})
    _host(zabbix, HOST, "Link Gi0/1 down")


def _host(zabbix: ZabbixServer, name: str, trigger: str, ip: str | None = None,
          priority: int = 4) -> None:
    """A host with a trapper item (unsigned) and a trigger that fires on 0 (``priority``
    4: high); with an agent interface at ``ip`` if given ({HOST.IP} is then that
    address)."""
    (group,) = zabbix.api("hostgroup.get", {"filter": {"name": "Linux servers"}})
    interfaces = [{"type": 1, "main": 1, "useip": 1, "ip": ip, "dns": "",
                   "port": "10050"}] if ip else []
    (host,) = zabbix.api("host.create", {"host": name, "interfaces": interfaces, "groups": [
        {"groupid": group["groupid"]}]})["hostids"]
    zabbix.api("item.create", {"hostid": host, "name": "link state", "key_": KEY,
                               "type": 2, "value_type": 3})
    zabbix.api("trigger.create", {"description": trigger, "priority": priority,
                                  "expression": f"last(/{name}/{KEY})=0",
                                  "opdata": "state {ITEM.LASTVALUE1}",
                                  "tags": [{"tag": "scope", "value": "availability"}]})


def _point_media_type_at(zabbix: ZabbixServer, url: str, attempts: int = 3) -> None:
    """The media type's URL set to ``url``, tried ``attempts`` times 2 s apart (one
    attempt makes a refusal a failed alert at once; more, as Zabbix's own default of 3,
    keep one lost delivery on a busy host from failing a test that waits for it)."""
    (media,) = zabbix.api("mediatype.get", {"filter": {"name": "AIOps engine"},
                                            "selectParameters": "extend"})
    parameters = [{"name": p["name"], "value": url if p["name"] == "URL" else p["value"]}
                  for p in media["parameters"]]
    zabbix.api("mediatype.update", {"mediatypeid": media["mediatypeid"],
                                    "parameters": parameters, "maxattempts": str(attempts),
                                    "attempt_interval": "2s"})


def _explain(zabbix: ZabbixServer) -> str:
    """The server's log and its latest notifications' states (status 0 not sent yet,
    1 sent, 2 failed, with the error): why a wait for a notification timed out."""
    recent = [(a["status"], a["error"]) for a in _alerts(zabbix)[-5:]]
    return f"{zabbix.log()}\nlatest notifications (status, error): {recent}"


def _send(zabbix: ZabbixServer, value: int, host: str = HOST) -> None:
    """The link's state (0 down, 1 up) until the host's trigger shows it."""
    zabbix.send_until_shown(host, KEY, value)


def _alerts(zabbix: ZabbixServer) -> list[dict]:
    return zabbix.api("alert.get", {"output": ["status", "error", "message"],
                                    "sortfield": "alertid"})


@pytest.fixture(autouse=True)
def trigger_left_ok(zabbix: ZabbixServer) -> Iterator[None]:
    """The main host's trigger OK after every test, passed or failed: a test that
    stopped with its problem open made the next one's ``_send(zabbix, 0)`` open no
    event, and so fail too.

    When it was in PROBLEM, the teardown also waits for the recovery's notification to
    be settled (sent or failed, none pending): Zabbix retries it every 2 s at whatever
    URL the media type holds then, and the next test points that at its own engine,
    which got the recovery of a problem it never saw (its one alert read ``resolved``:
    shown by running the module in reverse order)."""
    yield
    (trigger,) = zabbix.api("trigger.get", {"host": HOST, "output": ["value"]})
    if trigger["value"] != "1":  # already OK: no event, no notification to wait for
        return
    seen, sent_at = len(_alerts(zabbix)), time.monotonic()
    _send(zabbix, 1)

    def settled() -> bool:
        alerts = _alerts(zabbix)
        # The recovery's notification exists (or 15 s passed without one: an action
        # turned off makes none), and Zabbix has nothing left to send.
        made = len(alerts) > seen or time.monotonic() - sent_at > 15
        return made and all(a["status"] != "0" for a in alerts)

    wait_for(settled, "the recovery's notification settled", timeout=90,
             explain=lambda: _explain(zabbix))


def test_zabbix_runs_the_media_type_on_a_problem_and_its_recovery(
        zabbix: ZabbixServer, live_server: LiveServer) -> None:
    _point_media_type_at(zabbix, live_server.url + "/api/v1/webhooks/zabbix")
    before, seen = time.time(), len(_alerts(zabbix))
    _send(zabbix, 0)
    # 120 s: the first notification of a freshly started server (escalator, alerter,
    # the webhook's script) once took over 60 s on a host running at half speed.
    rows = wait_for(lambda: alert_rows(live_server.runtime), "the problem's alert",
                    timeout=120, explain=lambda: _explain(zabbix))
    assert len(rows) == 1, [(r["name"], r["entity"]) for r in rows]
    (alert,) = rows
    assert (alert["source"], alert["name"], alert["entity"], alert["status"],
            alert["severity"], alert["description"]) == (
        "zabbix", "Link Gi0/1 down", HOST, "firing", "major", "state 0")
    # {EVENT.TIME} is the server's local time (it runs in Europe/Paris), sent with the
    # offset Zabbix's Duktape reads: the start is the problem's second, in UTC.
    assert before - 1 <= alert["starts_at"] <= time.time()
    assert alert["labels"]["scope"] == "availability"
    assert set(alert["labels"]) == {"scope", "trigger_id", "acknowledged"}
    assert alert["labels"]["acknowledged"] == "false"  # {EVENT.ACK.STATUS} No
    _send(zabbix, 1)
    wait_for(lambda: alert_rows(live_server.runtime)[0]["status"] == "resolved",
             "the recovery", timeout=60, explain=lambda: _explain(zabbix))
    rows = alert_rows(live_server.runtime)
    assert len(rows) == 1 and rows[0]["ends_at"] >= rows[0]["starts_at"]
    # This test's notifications only: earlier tests' (other hosts') come before them.
    sent = wait_for(lambda: [a for a in _alerts(zabbix)[seen:] if a["status"] == "1"][-2:]
                    if sum(a["status"] == "1" for a in _alerts(zabbix)[seen:]) >= 2
                    else None, "Zabbix recording both notifications as sent")
    assert [a["message"] for a in sent] == ["Link Gi0/1 down on sw-core-1",
                                            "Link Gi0/1 down on sw-core-1 resolved"]


def test_a_refusal_is_a_failed_alert_in_zabbix_with_the_engine_s_answer(
        zabbix: ZabbixServer, live_server: LiveServer) -> None:
    _point_media_type_at(zabbix, live_server.url + "/api/v1/webhooks/no-such-mapping",
                         attempts=1)
    seen = len(_alerts(zabbix))
    _send(zabbix, 0)
    failed = wait_for(lambda: [a for a in _alerts(zabbix)[seen:] if a["status"] == "2"],
                      "Zabbix recording the refused notification as failed", timeout=60,
                      explain=lambda: _explain(zabbix))
    assert re.search(r"AIOps engine answered 404: .*no webhook mapping named "
                     r"'no-such-mapping'", failed[0]["error"]), failed[0]["error"]
    assert alert_rows(live_server.runtime) == []


@pytest.fixture
def no_notifications(zabbix: ZabbixServer) -> Iterator[None]:
    """The media type's action off: these tests read Zabbix through its API."""
    (action,) = zabbix.api("action.get", {"filter": {"name": "to the AIOps engine"}})
    zabbix.api("action.update", {"actionid": action["actionid"], "status": 1})
    try:
        yield
    finally:
        zabbix.api("action.update", {"actionid": action["actionid"], "status": 0})


def _follow(zabbix: ZabbixServer, engine: str, data: Path, *credentials: str,
            ) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aiops", "--data-dir", str(data), "zabbix", "follow", "--url",
         zabbix.url, *credentials, "--forward", engine, "--interval", "1",
         "--stats-every", "0"], stderr=subprocess.PIPE, text=True)


def _admin_login(folder: Path) -> tuple[str, ...]:
    """The follower's options to log in as the test server's Admin (its password in a
    file under ``folder``, as an operator would keep it)."""
    secret = folder / "pw"
    secret.write_text("zabbix")
    return ("--user", "Admin", "--password-file", str(secret))


def _stop(follower: subprocess.Popen[str]) -> str:
    follower.send_signal(signal.SIGTERM)
    return follower.communicate(timeout=30)[1]


def test_polling_the_api_fires_and_resolves_alerts_across_restarts(
        tmp_path: Path, zabbix: ZabbixServer, live_server: LiveServer,
        no_notifications: None) -> None:
    host = "sw-poll-1"
    _host(zabbix, host, "Link {ITEM.LASTVALUE} down on Gi0/2")
    secret = tmp_path / "pw"
    secret.write_text("zabbix\n")
    login = ("--user", "Admin", "--password-file", str(secret))
    data = tmp_path / "follower"

    def mine() -> list[dict]:
        return [a for a in alert_rows(live_server.runtime) if a["entity"] == host]

    follower = _follow(zabbix, live_server.url, data, *login)
    try:
        _send(zabbix, 0, host)
        (alert,) = wait_for(mine, "the polled problem", timeout=60,
                            explain=lambda: _stop(follower))
        # The trigger's name with its macro unresolved ({TRIGGER.NAME.ORIG}, as the
        # media type sends): the same alert whatever value the name quoted.
        assert (alert["source"], alert["name"], alert["status"], alert["severity"],
                alert["summary"]) == ("zabbix", "Link {ITEM.LASTVALUE} down on Gi0/2",
                                      "firing", "major", "Link 0 down on Gi0/2")
        _send(zabbix, 1, host)
        wait_for(lambda: mine()[0]["status"] == "resolved", "the polled recovery", timeout=60)
    finally:
        _stop(follower)
    first_end = mine()[0]["ends_at"]
    assert first_end >= alert["starts_at"]
    # A problem opened while the follower is stopped is sent when it starts (the same
    # condition within minutes of its clear: the alert fires again); one that recovers
    # while the follower is stopped again is resolved from its state file.
    _send(zabbix, 0, host)
    follower = _follow(zabbix, live_server.url, data, *login)
    try:
        wait_for(lambda: mine()[0]["status"] == "firing", "the problem opened while away",
                 timeout=60, explain=lambda: _stop(follower))
    finally:
        _stop(follower)
    _send(zabbix, 1, host)
    follower = _follow(zabbix, live_server.url, data, *login)
    try:
        wait_for(lambda: mine()[0]["status"] == "resolved",
                 "the recovery that happened while away", timeout=60)
    finally:
        out = _stop(follower)
    # What it forwarded: this recovery, and maybe repeats of what the last run sent just
    # before it stopped (the state file is written once the engine has it all).
    sent = re.search(r"zabbix: stopped; received (\d+), forwarded (\d+), pending 0", out)
    assert sent and int(sent[1]) == int(sent[2]) >= 1, out
    (again,) = mine()
    assert (again["transitions"], again["ends_at"] > first_end) == (3, True)  # off, on, off


def _episodes(zabbix: ZabbixServer, host: str) -> list[tuple[float, float | None]]:
    """Zabbix's problems of the host's trigger, oldest first: (the problem event's
    clock, its recovery event's clock or None while open)."""
    (found,) = zabbix.api("host.get", {"filter": {"host": host}, "output": ["hostid"]})
    problems = zabbix.api("event.get", {"hostids": [found["hostid"]], "source": 0, "object": 0,
                                        "value": 1, "output": ["eventid", "clock", "r_eventid"],
                                        "sortfield": "eventid", "sortorder": "ASC"})
    ends = [p["r_eventid"] for p in problems if p["r_eventid"] != "0"]
    clocks = {e["eventid"]: float(e["clock"]) for e in zabbix.api(
        "event.get", {"eventids": ends, "output": ["eventid", "clock"]})} if ends else {}
    return [(float(p["clock"]), clocks.get(p["r_eventid"])) for p in problems]


def _flap(zabbix: ZabbixServer, host: str) -> tuple[float, float]:
    """The host's link down and up again (a problem opened and closed): Zabbix's times
    of both."""
    _send(zabbix, 0, host)
    _send(zabbix, 1, host)
    start, end = _episodes(zabbix, host)[-1]
    assert end is not None
    return start, end


def _flap_while_frozen(zabbix: ZabbixServer, host: str,
                       follower: subprocess.Popen[str]) -> tuple[float, float]:
    """``_flap`` with the follower frozen (SIGSTOP): no poll of it can see the problem
    open, whatever the timing."""
    follower.send_signal(signal.SIGSTOP)
    try:
        return _flap(zabbix, host)
    finally:
        follower.send_signal(signal.SIGCONT)


def _in_sync(zabbix: ZabbixServer, live_server: LiveServer, host: str,
             follower: subprocess.Popen[str]) -> None:
    """A problem of ``host`` opened and seen by the engine: the follower has polled
    since it started (what happens next is after its first poll)."""
    _send(zabbix, 0, host)
    wait_for(lambda: [a for a in alert_rows(live_server.runtime)
                      if a["entity"] == host and a["status"] == "firing"],
             f"the problem of {host}", timeout=60, explain=lambda: _stop(follower))


def _fired_and_resolved(live_server: LiveServer, host: str) -> list[tuple[float, float | None,
                                                                        int, str]]:
    return [(a["starts_at"], a["ends_at"], a["transitions"], a["status"])
            for a in alert_rows(live_server.runtime) if a["entity"] == host]


def _await_one_episode(live_server: LiveServer, host: str, times: tuple[float, float],
                       follower: subprocess.Popen[str], when: str) -> None:
    """Wait for the host's one alert: fired and resolved at Zabbix's ``times``, one
    transition (firing, then resolved); on a timeout, what the engine has and the
    follower's log."""
    wait_for(lambda: _fired_and_resolved(live_server, host) == [(*times, 1, "resolved")],
             f"the problem opened and closed {when}", timeout=60,
             explain=lambda: f"{_fired_and_resolved(live_server, host)}\n{_stop(follower)}")


def test_the_follower_sends_a_problem_that_opened_and_closed_between_two_polls(
        tmp_path: Path, zabbix: ZabbixServer, live_server: LiveServer,
        no_notifications: None) -> None:
    """The follower frozen (SIGSTOP) between two polls while a link goes down and up:
    no problem.get ever lists the problem, and the engine still gets it, fired and
    resolved at Zabbix's times (one transition: firing, then resolved)."""
    host, sync = "sw-miss-1", "sw-miss-sync-1"
    _host(zabbix, host, "Link flapped on Gi0/3")
    _host(zabbix, sync, "Link down on Gi0/4")
    follower = _follow(zabbix, live_server.url, tmp_path / "follower", *_admin_login(tmp_path))
    try:
        _in_sync(zabbix, live_server, sync, follower)
        start, end = _flap_while_frozen(zabbix, host, follower)
        _await_one_episode(live_server, host, (start, end), follower, "between polls")
    finally:
        _stop(follower)
        _send(zabbix, 1, sync)


def test_the_follower_sends_at_its_restart_a_problem_that_opened_and_closed_while_away(
        tmp_path: Path, zabbix: ZabbixServer, live_server: LiveServer,
        no_notifications: None) -> None:
    host, sync = "sw-miss-2", "sw-miss-sync-2"
    _host(zabbix, host, "Link flapped on Gi0/5")
    _host(zabbix, sync, "Link down on Gi0/6")
    login = _admin_login(tmp_path)
    data = tmp_path / "follower"
    follower = _follow(zabbix, live_server.url, data, *login)
    try:
        _in_sync(zabbix, live_server, sync, follower)
    finally:
        _stop(follower)
    assert list((data / "zabbix").glob("*.json"))  # the state of the run before
    start, end = _flap(zabbix, host)
    follower = _follow(zabbix, live_server.url, data, *login)
    try:
        _await_one_episode(live_server, host, (start, end), follower, "while away")
    finally:
        _stop(follower)
        _send(zabbix, 1, sync)


def test_a_follower_s_first_run_does_not_replay_problems_closed_before_it(
        tmp_path: Path, zabbix: ZabbixServer, live_server: LiveServer,
        no_notifications: None) -> None:
    """Zabbix's history is not news: a problem closed before the first run is not sent
    (sent, it would be the alert's first episode and the later one a re-fire: three
    transitions, an earlier start); one closed between its first two polls is."""
    host, sync = "sw-miss-3", "sw-miss-sync-3"
    _host(zabbix, host, "Link flapped on Gi0/7")
    _host(zabbix, sync, "Link down on Gi0/8")
    _flap(zabbix, host)
    follower = _follow(zabbix, live_server.url, tmp_path / "follower", *_admin_login(tmp_path))
    try:
        _in_sync(zabbix, live_server, sync, follower)
        start, end = _flap_while_frozen(zabbix, host, follower)
        wait_for(lambda: _fired_and_resolved(live_server, host), "the second problem",
                 timeout=60, explain=lambda: _stop(follower))
        time.sleep(3)  # three more polls: anything else the follower would send
        assert _fired_and_resolved(live_server, host) == [(start, end, 1, "resolved")]
        assert len(_episodes(zabbix, host)) == 2
    finally:
        _stop(follower)
        _send(zabbix, 1, sync)


def test_check_with_a_token_and_a_refused_password(
        tmp_path: Path, zabbix: ZabbixServer) -> None:
    (token_id,) = zabbix.api("token.create", {"name": "aiops", "userid": "1"})["tokenids"]
    (generated,) = zabbix.api("token.generate", [token_id])
    token = tmp_path / "token"
    token.write_text(generated["token"])
    ok = subprocess.run([sys.executable, "-m", "aiops", "zabbix", "check", "--url",
                         zabbix.url, "--token-file", str(token)],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert re.match(r"http://127.0.0.1:\d+/api_jsonrpc.php: \d+ trigger problems open",
                    ok.stdout), ok.stdout
    wrong = tmp_path / "pw"
    wrong.write_text("not the password")
    refused = subprocess.run([sys.executable, "-m", "aiops", "zabbix", "check", "--url",
                              zabbix.url, "--user", "Admin", "--password-file", str(wrong)],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2, refused.stderr
    assert "Zabbix refused user.login: Application error. Incorrect user name or password" \
        in refused.stderr, refused.stderr


def test_the_media_type_and_the_follower_report_one_problem_as_one_alert(
        tmp_path: Path, zabbix: ZabbixServer, live_server: LiveServer) -> None:
    host = "sw-both"
    _host(zabbix, host, "Uplink down", ip="192.0.2.10")
    _point_media_type_at(zabbix, live_server.url + "/api/v1/webhooks/zabbix")
    follower = _follow(zabbix, live_server.url, tmp_path / "follower", *_admin_login(tmp_path))

    def mine() -> list[dict]:
        return [a for a in alert_rows(live_server.runtime) if a["entity"] == host]

    try:
        _send(zabbix, 0, host)
        # Both reports arrive (the media type's and the poll's) and fold into one.
        (alert,) = wait_for(lambda: [a for a in mine() if a["event_count"] >= 2],
                            "both reports of the problem", timeout=60,
                            explain=lambda: _explain(zabbix))
        assert len(mine()) == 1 and alert["status"] == "firing"
        _send(zabbix, 1, host)
        wait_for(lambda: mine()[0]["status"] == "resolved", "the recovery", timeout=60)
    finally:
        _stop(follower)
    assert len(mine()) == 1


def _change_severity(zabbix: ZabbixServer, alert: dict, severity: int,
                     operator: str | None = None) -> None:
    """What an operator's "Change severity" does (Zabbix 6.0: ``event.acknowledge``,
    action 8): the problem of the alert's trigger gets ``severity``; done as Admin, or
    as the session ``operator`` (Zabbix notifies no user of their own update)."""
    (problem,) = zabbix.api("problem.get", {"objectids": [alert["labels"]["trigger_id"]],
                                            "output": ["eventid", "severity"]})
    params = {"eventids": [problem["eventid"]], "action": 8, "severity": severity}
    if operator is None:
        zabbix.api("event.acknowledge", params)
        return
    answer = requests.post(zabbix.url, timeout=30, json={
        "jsonrpc": "2.0", "method": "event.acknowledge", "params": params, "id": 1,
        "auth": operator}).json()
    assert "result" in answer, answer


def _operator(zabbix: ZabbixServer) -> str:
    """A session of a second Super admin, ``operator``."""
    zabbix.api("user.create", {"username": "operator", "passwd": "Shift-lead-7x",
                               "roleid": "3", "usrgrps": [{"usrgrpid": "7"}]})
    answer = requests.post(zabbix.url, timeout=30, json={
        "jsonrpc": "2.0", "method": "user.login", "id": 1,
        "params": {"username": "operator", "password": "Shift-lead-7x"}}).json()
    return answer["result"]


def _severities(runtime: Runtime, host: str) -> list[tuple[str, str, str]]:
    """(alert severity, its status, its incident's severity) of the host's alerts, as
    stored."""
    incidents = {i["id"]: i for i in incident_rows(runtime)}
    return [(a["severity"], a["status"], incidents[a["incident_id"]]["severity"])
            for a in alert_rows(runtime) if a["entity"] == host]


def test_the_follower_sends_a_changed_severity_to_the_alert_and_its_incident(
        tmp_path: Path, zabbix: ZabbixServer, live_server: LiveServer,
        no_notifications: None) -> None:
    host = "sw-sev-1"
    _host(zabbix, host, "Packet loss high", priority=2)  # warning
    login = _admin_login(tmp_path)
    data = tmp_path / "follower"
    follower = _follow(zabbix, live_server.url, data, *login)
    try:
        _send(zabbix, 0, host)
        # 60 s: a follower started while the machine is loaded (a benchmark beside
        # the suite) took longer than 30 s to read its first problem.
        wait_for(lambda: _severities(live_server.runtime, host) == [
            ("warning", "firing", "warning")], "the warning problem", timeout=60,
            explain=lambda: _stop(follower))
        (alert,) = [a for a in alert_rows(live_server.runtime) if a["entity"] == host]
        _change_severity(zabbix, alert, 5)  # disaster
        wait_for(lambda: _severities(live_server.runtime, host) == [
            ("critical", "firing", "critical")], "the changed severity", timeout=60,
            explain=lambda: f"{_severities(live_server.runtime, host)}\n{_stop(follower)}")
    finally:
        _stop(follower)
    # Changed again while the follower is stopped: its first poll sends every open
    # problem as Zabbix has it now.
    _change_severity(zabbix, alert, 3)  # average
    follower = _follow(zabbix, live_server.url, data, *login)
    try:
        wait_for(lambda: _severities(live_server.runtime, host) == [
            ("minor", "firing", "minor")], "the severity changed while away",
            explain=lambda: f"{_severities(live_server.runtime, host)}\n{_stop(follower)}")
        _send(zabbix, 1, host)
        wait_for(lambda: _severities(live_server.runtime, host) == [
            ("minor", "resolved", "minor")], "the recovery")
    finally:
        _stop(follower)
    (final,) = [a for a in alert_rows(live_server.runtime) if a["entity"] == host]
    assert (final["id"], final["starts_at"]) == (alert["id"], alert["starts_at"])
    assert final["event_count"] >= 4  # the problem, two changes, its recovery


def test_the_media_type_sends_a_changed_severity_with_the_action_s_update_operation(
        zabbix: ZabbixServer, live_server: LiveServer) -> None:
    """Then an acknowledgement (``event.acknowledge`` action 2), sent by the same update
    operation with {EVENT.ACK.STATUS} Yes: the alert's label ``acknowledged``."""
    host = "sw-sev-2"
    _host(zabbix, host, "Fan failed", priority=2)  # warning
    _point_media_type_at(zabbix, live_server.url + "/api/v1/webhooks/zabbix")
    seen = len(_alerts(zabbix))
    _send(zabbix, 0, host)
    wait_for(lambda: _severities(live_server.runtime, host) == [
        ("warning", "firing", "warning")], "the warning problem", timeout=60,
        explain=lambda: _explain(zabbix))
    (alert,) = [a for a in alert_rows(live_server.runtime) if a["entity"] == host]
    # By an operator: Zabbix does not notify Admin, who has the media, of Admin's own
    # updates (a run as Admin sent nothing).
    operator = _operator(zabbix)
    _change_severity(zabbix, alert, 4, operator=operator)  # high
    wait_for(lambda: _severities(live_server.runtime, host) == [
        ("major", "firing", "major")], "the update notification's severity", timeout=60,
        explain=lambda: f"{_alerts(zabbix)[seen:]}\n{zabbix.log()}")

    def acknowledged() -> str | None:
        (mine,) = [a for a in alert_rows(live_server.runtime) if a["entity"] == host]
        return mine["labels"].get("acknowledged")

    assert acknowledged() == "false"
    (problem,) = zabbix.api("problem.get", {"objectids": [alert["labels"]["trigger_id"]],
                                            "output": ["eventid"]})
    answer = requests.post(zabbix.url, timeout=30, json={
        "jsonrpc": "2.0", "method": "event.acknowledge", "id": 1, "auth": operator,
        "params": {"eventids": [problem["eventid"]], "action": 2}}).json()
    assert "result" in answer, answer
    wait_for(lambda: acknowledged() == "true", "the acknowledgement's update notification",
             timeout=60, explain=lambda: f"{_alerts(zabbix)[seen:]}\n{zabbix.log()}")
    assert _incident_of(live_server, alert)["firing_acknowledged"] == 1
    _send(zabbix, 1, host)
    wait_for(lambda: _severities(live_server.runtime, host) == [
        ("major", "resolved", "major")], "the recovery", timeout=60)
    messages = wait_for(lambda: [a["message"] for a in _alerts(zabbix)[seen:]
                                 if a["status"] == "1"] if sum(
        a["status"] == "1" for a in _alerts(zabbix)[seen:]) >= 4 else None,
        "Zabbix recording the four notifications as sent")
    assert (messages[0], messages[3]) == ("Fan failed on sw-sev-2",
                                          "Fan failed on sw-sev-2 resolved"), messages
    assert messages[1].startswith("Fan failed on sw-sev-2 updated: changed severity"), \
        messages
    assert messages[2].startswith("Fan failed on sw-sev-2 updated: acknowledged"), messages
    (final,) = [a for a in alert_rows(live_server.runtime) if a["entity"] == host]
    assert final["id"] == alert["id"] and final["event_count"] == 4
    # From the acknowledgement's update, with who ({USER.FULLNAME} " (operator)": a user
    # with no name); the recovery's {EVENT.ACK.STATUS} Yes says nothing new, and is not
    # sent.
    assert (final["labels"]["acknowledged"], final["labels"]["acknowledged_by"]) == (
        "true", "operator")


def _incident_of(live_server: LiveServer, alert: dict) -> dict:
    """The alert's incident as ``GET /api/v1/incidents/{id}`` answers."""
    return requests.get(f"{live_server.url}/api/v1/incidents/{alert['incident_id']}",
                        timeout=10).json()


def test_the_follower_sends_an_acknowledgement_and_a_maintenance_to_the_alert(
        tmp_path: Path, zabbix: ZabbixServer, live_server: LiveServer,
        no_notifications: None) -> None:
    """A problem first sent unacknowledged is acknowledged through the API (what an
    operator's "Acknowledge" does: ``event.acknowledge``, action 2), then its host goes
    into a maintenance (Zabbix's timer suppresses its problems within a minute): the
    one stored alert reads ``acknowledged: true``, then ``suppressed: maintenance``,
    and its incident counts it, until the recovery."""
    host = "sw-ack-1"
    _host(zabbix, host, "Fan failed")
    login = _admin_login(tmp_path)

    def mine() -> list[dict]:
        return [a for a in alert_rows(live_server.runtime) if a["entity"] == host]

    def status() -> list[tuple[str | None, str | None, str]]:
        return [(a["labels"].get("acknowledged"), a["labels"].get("suppressed"), a["status"])
                for a in mine()]

    follower = _follow(zabbix, live_server.url, tmp_path / "follower", *login)
    maintenance: list[str] = []
    try:
        _send(zabbix, 0, host)
        wait_for(lambda: status() == [("false", "false", "firing")], "the problem",
                 timeout=60, explain=lambda: f"{status()}\n{_stop(follower)}")
        (alert,) = mine()
        assert _incident_of(live_server, alert)["acknowledged_alerts"] == 0
        (problem,) = zabbix.api("problem.get", {"objectids": [alert["labels"]["trigger_id"]],
                                                "output": ["eventid"]})
        zabbix.api("event.acknowledge", {"eventids": [problem["eventid"]], "action": 2})
        wait_for(lambda: status() == [("true", "false", "firing")], "the acknowledgement",
                 timeout=60, explain=lambda: f"{status()}\n{_stop(follower)}")
        incident = _incident_of(live_server, alert)
        assert (incident["acknowledged_alerts"], incident["firing_acknowledged"]) == (1, 1)
        (hostid,) = [h["hostid"] for h in zabbix.api("host.get", {"filter": {"host": host}})]
        now = int(time.time()) // 60 * 60
        maintenance = zabbix.api("maintenance.create", {
            "name": "fan swap", "active_since": now - 60, "active_till": now + 3600,
            "hostids": [hostid], "maintenance_type": 0,
            "timeperiods": [{"timeperiod_type": 0, "start_date": now - 60,
                             "period": 3600}]})["maintenanceids"]
        # Zabbix's timer process applies maintenances at the start of each minute.
        wait_for(lambda: status() == [("true", "maintenance", "firing")], "the maintenance",
                 timeout=150, explain=lambda: f"{status()}\n{_stop(follower)}")
        assert mine()[0]["labels"]["suppressed_by"] == f"maintenance {maintenance[0]}"
        incident = _incident_of(live_server, alert)
        assert incident["suppressed_alerts"] == incident["firing_suppressed"] == 1
        assert incident["suppressed"] is (incident["firing_alerts"] == 1)
        listed = requests.get(f"{live_server.url}/api/v1/incidents", timeout=10).json()
        assert [i["suppressed_alerts"] for i in listed["incidents"]
                if i["id"] == alert["incident_id"]] == [1]
        _send(zabbix, 1, host)
        wait_for(lambda: status() == [("true", "maintenance", "resolved")], "the recovery",
                 timeout=60, explain=lambda: f"{status()}\n{_stop(follower)}")
    finally:
        _stop(follower)
        if maintenance:
            zabbix.api("maintenance.delete", maintenance)
    (final,) = mine()
    assert (final["id"], final["starts_at"]) == (alert["id"], alert["starts_at"])


def _history(zabbix: ZabbixServer, login: tuple[str, ...], out: Path, since: float,
             *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(out.parent / "d"),
                           "zabbix", "history", "--url", url or zabbix.url, *login,
                           "--since", to_rfc3339(since), "--out", str(out), *args],
                          capture_output=True, text=True, timeout=120)


def test_history_writes_a_span_s_problems_paged_as_the_follower_sends_them_for_train(
        tmp_path: Path, zabbix: ZabbixServer, live_server: LiveServer,
        no_notifications: None) -> None:
    """Five problems after ``--since`` (one host's three opened and closed, one opened
    and closed, one still open) and one before it, pulled two a page: the five in
    event id order, each ended at its recovery or still open, each the alert the
    follower made of the same problem; ``--until`` ends the span; ``aiops train``
    takes the file."""
    old, flapped, once, still = "sw-hist-0", "sw-hist-1", "sw-hist-2", "sw-hist-3"
    for number, host in enumerate((old, flapped, once, still)):
        _host(zabbix, host, f"Link down on Gi1/{number}")
    _flap(zabbix, old)
    since = _episodes(zabbix, old)[-1][1] + 1  # type: ignore[operator]
    wait_for(lambda: time.time() >= since + 1, "the span's start to pass")
    login = _admin_login(tmp_path)
    data = tmp_path / "follower"
    follower = _follow(zabbix, live_server.url, data, *login)

    def stored(host: str) -> list[dict]:
        return [a for a in alert_rows(live_server.runtime) if a["entity"] == host]

    try:
        # Its first poll (the state file) before the problems: it sends them all.
        wait_for(lambda: list((data / "zabbix").glob("*.json")), "the follower's first poll",
                 timeout=60, explain=lambda: _stop(follower))
        _flap(zabbix, once)
        _send(zabbix, 0, still)
        wait_for(lambda: [a["status"] for a in stored(once) + stored(still)] == [
            "resolved", "firing"], "the follower's alerts", timeout=60,
            explain=lambda: _stop(follower))
    finally:
        _stop(follower)
    try:
        _pull_and_train(zabbix, tmp_path, login, since, stored, (once, still, flapped))
    finally:
        _send(zabbix, 1, still)


def _pull_and_train(zabbix: ZabbixServer, tmp_path: Path, login: tuple[str, ...],
                    since: float, stored: Callable[[str], list[dict]],
                    hosts: tuple[str, str, str]) -> None:
    """The second half of the test above: the follower's alerts stored, the pulls."""
    once, still, flapped = hosts
    for _ in range(3):
        _flap(zabbix, flapped)
    out = tmp_path / "history.jsonl"
    started = time.monotonic()
    pulled = _history(zabbix, login, out, since, "--page-size", "2")
    seconds = time.monotonic() - started
    assert pulled.returncode == 0, pulled.stderr
    print(f"zabbix history: 5 events in {seconds:.2f} s as a process "
          f"({5 / seconds:.1f} events/s); it said: {pulled.stdout.strip()}")
    alerts = read_alerts(out)
    episodes = {h: _episodes(zabbix, h) for h in (once, still, flapped)}
    assert [(a.entity, a.starts_at, a.ends_at) for a in alerts] == [
        (h, *e) for h in (once, still, flapped) for e in episodes[h]]
    assert [line.split(": ", 1)[1] for line in pulled.stderr.splitlines()] == [
        "zabbix history: 2 alerts written (1 still open), up to "
        f"{to_rfc3339(episodes[still][0][0])}",
        f"zabbix history: 4 alerts written (1 still open), up to "
        f"{to_rfc3339(episodes[flapped][1][0])}",
        f"zabbix history: 5 alerts written (1 still open), up to "
        f"{to_rfc3339(episodes[flapped][2][0])}"]
    assert " 5 alerts (1 still open, 0 events skipped) " in pulled.stdout, pulled.stdout
    # The follower's alert of the same problem, as the engine stored it.
    for alert in alerts[:2]:
        (row,) = stored(alert.entity)
        assert (alert.id, alert.source, alert.name, alert.entity, alert.severity,
                alert.summary, alert.labels, alert.starts_at, alert.ends_at) == (
            row["first_event_id"], row["source"], row["name"], row["entity"],
            row["severity"], row["summary"], row["labels"], row["starts_at"],
            row["ends_at"])
    # But the description: Zabbix resolves a trigger's operational data when asked,
    # {ITEM.LASTVALUE} with the value then: 1 since the recovery (the follower read 0
    # if it polled while the problem was open, 1 if it found it closed).
    assert [a.description for a in alerts[:2]] == ["state 1", "state 0"]
    assert alerts[0].labels == {"trigger_id": alerts[0].labels["trigger_id"],
                                "scope": "availability", "acknowledged": "false",
                                "suppressed": "false"}
    _stopped_and_resumed(zabbix, tmp_path, login, since, out.read_bytes())
    # --until ends the span (problems started up to it, both ends included).
    until = episodes[once][0][0]
    early = tmp_path / "early.jsonl"
    assert _history(zabbix, login, early, since, "--until", to_rfc3339(until)).returncode == 0
    assert [a.id for a in read_alerts(early)] == [a.id for a in alerts if a.starts_at <= until]
    trained = subprocess.run([sys.executable, "-m", "aiops", "--data-dir",
                              str(tmp_path / "trained"), "train", "--alerts", str(out),
                              "--fit-seconds", "1"],
                             capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr
    assert "trained correlation model v1 on 5 alerts" in trained.stdout, trained.stdout
    wrong = tmp_path / "wrong"
    wrong.write_text("not the password")
    refused = _history(zabbix, ("--user", "Admin", "--password-file", str(wrong)),
                       tmp_path / "refused.jsonl", since)
    assert refused.returncode == 2, refused.stderr
    assert "Zabbix refused user.login: Application error. Incorrect user name or password" \
        in refused.stderr and "0 alerts written" in refused.stderr, refused.stderr
    assert not (tmp_path / "refused.jsonl").exists()


class _GoingAway(BaseHTTPRequestHandler):
    """Zabbix's API (``target``) through a proxy that, while ``going``, closes the
    connection at the second page of a listing, as a front end restarted mid-pull;
    each listing's ``eventid_from``."""

    target = ""
    going = True
    listings: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        data = self.rfile.read(int(self.headers["Content-Length"]))
        params = json.loads(data).get("params")
        if isinstance(params, dict) and "eventid_from" in params:
            self.listings.append(params["eventid_from"])
            if self.going and len(self.listings) > 1:
                self.close_connection = True
                self.connection.close()
                return
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() in ("content-type", "authorization")}
        answer = requests.post(self.target, data=data, headers=headers, timeout=60)
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers.get("Content-Type", "text/plain"))
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, *args: Any) -> None:
        pass


def _stopped_and_resumed(zabbix: ZabbixServer, tmp_path: Path, login: tuple[str, ...],
                         since: float, whole: bytes) -> None:
    """The pull of ``_pull_and_train`` through a front end that goes away after its
    first page (exit 1, that page kept), then ``--resume`` once it is back: the file
    the uninterrupted pull wrote (``whole``), byte for byte."""
    out = tmp_path / "resumed" / "history.jsonl"
    out.parent.mkdir()
    _GoingAway.target, _GoingAway.going, _GoingAway.listings = zabbix.url, True, []
    with serving(_GoingAway) as url:
        stopped = _history(zabbix, login, out, since, "--page-size", "2", url=url)
        assert stopped.returncode == 1, stopped.stderr
        assert ("; 2 alerts written (1 still open), up to " in stopped.stderr
                and f"kept in {out}.partial: the same command with --resume continues it"
                in stopped.stderr), stopped.stderr
        assert not out.exists() and len(Path(f"{out}.partial").read_bytes().splitlines()) == 2
        _GoingAway.going = False
        resumed = _history(zabbix, login, out, since, "--page-size", "2", "--resume",
                           url=url)
    assert resumed.returncode == 0, resumed.stderr
    assert _GoingAway.listings[2] == _GoingAway.listings[1]  # after the page kept
    assert "; resumed after 2 events" in resumed.stdout, resumed.stdout
    assert out.read_bytes() == whole
    assert sorted(p.name for p in out.parent.iterdir()) == ["history.jsonl"]
