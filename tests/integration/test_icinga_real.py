"""``aiops icinga follow`` as a process against a real Icinga 2 (tests/icinga_server.py)
and an engine served over real HTTP: hard state changes become alerts and their
recoveries end them; soft states are not sent; problems and recoveries that happened
while the follower was away, or while Icinga restarted, arrive when it (re)connects;
a wrong password or a wrong CA is said, by name."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from aiops.config import DataDir
from aiops.runtime import open_runtime
from aiops.store.tables import raw_events
from tests.conftest import LiveServer, free_port, serving_app
from tests.icinga_server import PASSWORD, USER, IcingaServer, available
from tests.integration.test_webhooks_api import alert_rows
from tests.polling import wait_for

pytestmark = pytest.mark.skipif(not available(),
                                reason="needs Icinga 2 (Debian icinga2-bin) and openssl")


@pytest.fixture
def icinga() -> Iterator[IcingaServer]:
    server = IcingaServer(free_port())
    try:
        server.start()
        yield server
    finally:
        server.close()


def _follow(icinga: IcingaServer, engine_url: str, tmp_path: Path, *extra: str,
            password: str = PASSWORD, user: str = USER) -> subprocess.Popen[str]:
    secret = tmp_path / "icinga-password"
    secret.write_text(password + "\n")
    return subprocess.Popen(
        [sys.executable, "-m", "aiops", "--data-dir", str(tmp_path / "d"), "icinga", "follow",
         "--url", icinga.url, "--user", user, "--password-file", str(secret),
         "--ca", str(icinga.ca), "--forward", engine_url, "--stats-every", "0", *extra],
        stderr=subprocess.PIPE, text=True)


def _stop(follower: subprocess.Popen[str]) -> str:
    follower.send_signal(signal.SIGTERM)
    return follower.communicate(timeout=30)[1]


def _alert(live_server: LiveServer, name: str, entity: str = "router1") -> dict | None:
    found = [a for a in alert_rows(live_server.runtime)
             if (a["name"], a["entity"]) == (name, entity)]
    assert len(found) <= 1, found
    return found[0] if found else None


def _connected(follower: subprocess.Popen[str]) -> str:
    """Wait for the line that says the stream is open and the state query sent; what
    the follower said until then."""
    said = ""
    for _ in range(20):
        line = follower.stderr.readline()
        said += line
        if "connected to" in line:
            return said
        assert line, "the follower ended before it connected"
    raise AssertionError("no 'connected' line from the follower")


def test_hard_state_changes_fire_escalate_and_resolve_one_alert(
        tmp_path: Path, icinga: IcingaServer, live_server: LiveServer) -> None:
    follower = _follow(icinga, live_server.url, tmp_path)
    try:
        _connected(follower)
        icinga.set_state("router1", "ping", 1, "PING WARNING - Packet loss = 20%")
        alert = wait_for(lambda: _alert(live_server, "ping"), "the WARNING alert")
        assert (alert["source"], alert["status"], alert["severity"], alert["summary"]) == (
            "icinga", "firing", "warning", "PING WARNING - Packet loss = 20%")
        icinga.set_state("router1", "ping", 2, "PING CRITICAL - Packet loss = 100%\nmore")
        wait_for(lambda: _alert(live_server, "ping")["severity"] == "critical",
                 "the escalation to CRITICAL")
        icinga.set_state("router1", "ping", 0, "PING OK")
        ended = wait_for(lambda: (a := _alert(live_server, "ping"))["status"] == "resolved"
                         and a, "the recovery")
        assert ended["starts_at"] == alert["starts_at"]  # the WARNING's start, one alert
        # A soft state (switch7's disk needs 3 attempts) is Icinga still re-checking: not
        # sent. A host going DOWN is the alert named "host".
        icinga.set_state("switch7", "disk", 2, "DISK CRITICAL - / 99%")
        icinga.set_state("switch7", None, 1, "CRITICAL - host unreachable")
        host = wait_for(lambda: _alert(live_server, "host", "switch7"), "the host DOWN alert")
        assert (host["status"], host["severity"]) == ("firing", "critical")
        assert _alert(live_server, "disk", "switch7") is None
    finally:
        out = _stop(follower)
    assert "icinga: stopped; received 4, forwarded 4, pending 0" in out, out


def test_what_changed_while_the_follower_or_icinga_was_away_arrives_on_reconnect(
        tmp_path: Path, icinga: IcingaServer, live_server: LiveServer) -> None:
    icinga.set_state("router1", "bgp", 2, "BGP CRITICAL - peer 192.0.2.1 Idle")
    icinga.set_state("router1", "ping", 2, "PING CRITICAL")
    follower = _follow(icinga, live_server.url, tmp_path)
    try:
        _connected(follower)  # both problems come from the state query
        bgp = wait_for(lambda: _alert(live_server, "bgp"), "the problem older than the follower")
        assert bgp["status"] == "firing"
        wait_for(lambda: _alert(live_server, "ping"), "the second old problem")
    finally:
        _stop(follower)
    icinga.set_state("router1", "bgp", 0, "BGP OK")  # while no follower runs
    follower = _follow(icinga, live_server.url, tmp_path)
    try:
        _connected(follower)
        wait_for(lambda: _alert(live_server, "bgp")["status"] == "resolved",
                 "the recovery that happened while the follower was stopped")
        icinga.stop()  # Icinga restarts: the follower reconnects by itself
        icinga.start()
        _connected(follower)
        icinga.set_state("router1", "ping", 0, "PING OK")
        wait_for(lambda: _alert(live_server, "ping")["status"] == "resolved",
                 "the recovery after Icinga's restart", explain=icinga.log)
    finally:
        _stop(follower)
    rows = alert_rows(live_server.runtime)
    assert sorted(a["name"] for a in rows) == ["bgp", "ping"], rows  # nothing doubled


def test_a_wrong_password_stops_the_follower_naming_it(
        tmp_path: Path, icinga: IcingaServer, live_server: LiveServer) -> None:
    follower = _follow(icinga, live_server.url, tmp_path, password="wrong")
    _, err = follower.communicate(timeout=60)
    assert follower.returncode == 2, err
    assert "Icinga refused the user's name or password: HTTP 401" in err, err


def test_check_reports_problems_and_names_a_wrong_ca_or_a_missing_permission(
        tmp_path: Path, icinga: IcingaServer) -> None:
    icinga.set_state("router1", "ping", 2, "PING CRITICAL")
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD)
    base = [sys.executable, "-m", "aiops", "icinga", "check", "--url", icinga.url,
            "--password-file", str(secret)]

    def check(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(base + list(args), capture_output=True, text=True, timeout=60)

    ok = check("--user", USER, "--ca", str(icinga.ca))
    assert ok.returncode == 0, ok.stderr
    assert "1 hosts and services in a hard problem state" in ok.stdout
    assert "event stream: ok; who acknowledged and which downtimes: ok" in ok.stdout
    # The system's CAs do not know Icinga's own: TLS fails, and the message says what to give.
    untrusted = check("--user", USER)
    assert untrusted.returncode == 1
    assert "certificate verify failed" in untrusted.stderr
    assert "give Icinga's CA certificate with --ca" in untrusted.stderr
    # A user without the services query and the event stream: refused by name.
    limited = check("--user", "nobody", "--ca", str(icinga.ca))
    assert limited.returncode == 2, limited.stderr
    assert "/v1/objects/services: Icinga refused the call (the user needs the permission " \
           "objects/query/Service" in limited.stderr, limited.stderr


@pytest.fixture
def short_span_server(tmp_path: Path) -> Iterator[LiveServer]:
    """An engine whose conditions start a new episode 2 s after their onset (300 s by
    default): what a restart of the follower minutes after an escalation meets."""
    data_dir = DataDir.from_env(tmp_path / "engine")
    data_dir = dataclasses.replace(
        data_dir, settings=dataclasses.replace(data_dir.settings, max_incident_span=2.0))
    runtime = open_runtime(data_dir)
    try:
        with serving_app(runtime) as served:
            yield served
    finally:
        runtime.close()


def test_a_restarted_follower_keeps_an_escalated_problem_one_alert(
        tmp_path: Path, icinga: IcingaServer, short_span_server: LiveServer) -> None:
    """After WARNING then CRITICAL, Icinga's last_hard_state_change is the CRITICAL's
    time; a follower restarted after the escalation happened while it was stopped sends
    it only as a fallback start, and the engine keeps the WARNING's: the alert is not
    ended and started again. Restarted once more, it sends nothing: its state file says
    the engine has ping CRITICAL."""
    icinga.set_state("router1", "ping", 1, "PING WARNING")
    follower = _follow(icinga, short_span_server.url, tmp_path)
    try:
        _connected(follower)
        alert = wait_for(lambda: _alert(short_span_server, "ping"), "the WARNING alert")
    finally:
        _stop(follower)
    time.sleep(3)  # past the engine's (shortened) onset window
    icinga.set_state("router1", "ping", 2, "PING CRITICAL")  # while no follower runs
    for _ in range(2):
        follower = _follow(icinga, short_span_server.url, tmp_path)
        try:
            _connected(follower)  # the state query sends ping CRITICAL, the first time
            wait_for(lambda: _alert(short_span_server, "ping")["severity"] == "critical",
                     "the escalation, from the restarted follower's state query")
        finally:
            _stop(follower)
    again = _alert(short_span_server, "ping")
    assert (again["status"], again["starts_at"], again["event_count"]) == (
        "firing", alert["starts_at"], 2)


def _status(live_server: LiveServer, name: str) -> tuple[str | None, str | None, str] | None:
    alert = _alert(live_server, name)
    return alert and (alert["labels"].get("acknowledged"), alert["labels"].get("suppressed"),
                      alert["status"])


def _who(live_server: LiveServer, name: str) -> tuple[str | None, str | None] | None:
    alert = _alert(live_server, name)
    return alert and (alert["labels"].get("acknowledged_by"),
                      alert["labels"].get("suppressed_by"))


def _downtime(icinga: IcingaServer, host: str, service: str | None, author: str,
              comment: str, end: float, **params: object) -> tuple[str, str]:
    """Schedule a fixed downtime from now to ``end``: its full name (to remove it by)
    and how suppressed_by names it (``all_services``: the service downtime's, the
    first, as Icinga answers it)."""
    answer = icinga.action("schedule-downtime", host, service, author=author,
                           comment=comment, start_time=time.time() - 5, end_time=end,
                           fixed=True, **params)["results"][0]
    full = answer["service_downtimes"][0]["name"] if params.get("all_services") \
        else answer["name"]
    until = datetime.fromtimestamp(int(end), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return full, f"downtime {full.rsplit('!', 1)[-1]} by {author} until {until}: {comment}"


def test_acknowledgements_and_downtimes_reach_the_alert_and_its_incident(
        tmp_path: Path, icinga: IcingaServer, live_server: LiveServer) -> None:
    """A problem first sent unacknowledged is acknowledged, put in a downtime of its own
    and in one of its host's with all_services, one of the two removed, then both
    and the acknowledgement, through Icinga's API as an operator's Icinga Web does: the
    stream's AcknowledgementSet/Cleared and DowntimeStarted/Triggered/Removed events
    bring each change, with who acknowledged and which downtimes, to the one stored
    alert's labels, and its incident counts them."""
    follower = _follow(icinga, live_server.url, tmp_path)
    try:
        _connected(follower)
        icinga.set_state("router1", "bgp", 2, "BGP CRITICAL - peer down")
        wait_for(lambda: _status(live_server, "bgp") == ("false", "false", "firing"),
                 "the problem", explain=lambda: f"{_status(live_server, 'bgp')}")
        first = _alert(live_server, "bgp")
        icinga.action("acknowledge-problem", "router1", "bgp", author="ann",
                      comment="on it, peer down", sticky=True)
        wait_for(lambda: _status(live_server, "bgp") == ("true", "false", "firing")
                 and _who(live_server, "bgp") == ("ann: on it, peer down", None),
                 "the acknowledgement", explain=lambda: f"{_alert(live_server, 'bgp')}")
        end = time.time() + 3600
        own, own_said = _downtime(icinga, "router1", "bgp", "ann", "peer maintenance", end)
        wait_for(lambda: _status(live_server, "bgp") == ("true", "downtime", "firing")
                 and _who(live_server, "bgp") == ("ann: on it, peer down", own_said),
                 "the downtime", explain=lambda: f"{_alert(live_server, 'bgp')}")
        detail = requests.get(f"{live_server.url}/api/v1/incidents/{first['incident_id']}",
                              timeout=10).json()
        assert (detail["acknowledged_alerts"], detail["suppressed_alerts"],
                detail["suppressed"]) == (1, 1, detail["firing_alerts"] == 1)
        # The host's downtime for all its services: bgp's own child downtime, named too.
        _, child_said = _downtime(icinga, "router1", None, "bob", "router swap", end + 60,
                                  all_services=True)
        wait_for(lambda: _who(live_server, "bgp")[1] == f"{own_said}; {child_said}",
                 "both downtimes named", explain=lambda: f"{_alert(live_server, 'bgp')}")
        icinga.remove_downtime(own)
        wait_for(lambda: _who(live_server, "bgp")[1] == child_said,
                 "the other downtime still named",
                 explain=lambda: f"{_alert(live_server, 'bgp')}")
        icinga.action("remove-downtime", "router1", None)  # the host's, and its child
        icinga.action("remove-downtime", "router1", "bgp")
        icinga.action("remove-acknowledgement", "router1", "bgp")
        wait_for(lambda: _status(live_server, "bgp") == ("false", "false", "firing")
                 and _who(live_server, "bgp") == (None, None),
                 "the removals", explain=lambda: f"{_alert(live_server, 'bgp')}")
    finally:
        out = _stop(follower)
    assert "acknowledgements and downtimes are read only" not in out, out
    assert "is known only from the event stream" not in out, out
    final = _alert(live_server, "bgp")
    assert (final["id"], final["starts_at"], final["severity"]) == (
        first["id"], first["starts_at"], "critical")


def test_who_and_which_come_from_the_queries_at_a_connect_and_a_restart_sends_nothing(
        tmp_path: Path, icinga: IcingaServer, live_server: LiveServer) -> None:
    """A problem acknowledged and in a downtime before the follower starts: its connect's
    comment and downtime queries give who and which. Restarted, it sends nothing (its
    state file says the engine has them). Acknowledged anew by someone else while it is
    stopped: the next start sends the problem again, with the new who only. A host's
    downtime without all_services leaves its services alone (Icinga does not count it
    in their downtime_depth)."""
    icinga.set_state("router1", "bgp", 2, "BGP CRITICAL - peer down")
    icinga.action("acknowledge-problem", "router1", "bgp", author="ann", comment="on it")
    _, own_said = _downtime(icinga, "router1", "bgp", "ann", "peer maintenance",
                            time.time() + 3600)
    _downtime(icinga, "router1", None, "bob", "host only", time.time() + 3600)
    for _ in range(2):
        follower = _follow(icinga, live_server.url, tmp_path)
        try:
            _connected(follower)
            wait_for(lambda: _who(live_server, "bgp") == ("ann: on it", own_said),
                     "who and which from the queries",
                     explain=lambda: f"{_alert(live_server, 'bgp')}")
        finally:
            out = _stop(follower)
        assert "is known only from the event stream" not in out, out
    assert _alert(live_server, "bgp")["event_count"] == 1  # the restart sent nothing
    icinga.action("remove-acknowledgement", "router1", "bgp")
    icinga.action("acknowledge-problem", "router1", "bgp", author="cy", comment="mine now")
    follower = _follow(icinga, live_server.url, tmp_path)
    try:
        _connected(follower)
        wait_for(lambda: _who(live_server, "bgp") == ("cy: mine now", own_said),
                 "the new who", explain=lambda: f"{_alert(live_server, 'bgp')}")
    finally:
        _stop(follower)
    alert = _alert(live_server, "bgp")
    assert (alert["event_count"], alert["labels"]["suppressed"]) == (2, "downtime")


def test_a_user_without_the_new_permissions_still_follows_and_reads_them_at_connect(
        tmp_path: Path, icinga: IcingaServer, live_server: LiveServer) -> None:
    """An API user set up before acknowledgements were read (StateChange only): the
    follower says so once and goes on; the state query at its connect reads them."""
    icinga.set_state("router1", "bgp", 2, "BGP CRITICAL - peer down")
    icinga.action("acknowledge-problem", "router1", "bgp", author="ann", comment="on it")
    follower = _follow(icinga, live_server.url, tmp_path, user="legacy")
    try:
        said = _connected(follower)
        wait_for(lambda: _status(live_server, "bgp") == ("true", "false", "firing"),
                 "the acknowledged problem", explain=lambda: f"{_status(live_server, 'bgp')}")
        assert _who(live_server, "bgp") == (None, None)  # who: not readable by this user
        icinga.set_state("router1", "bgp", 0, "BGP OK")
        wait_for(lambda: (_status(live_server, "bgp") or ("",))[-1] == "resolved",
                 "the recovery")
    finally:
        said += _stop(follower)
    assert "acknowledgements and downtimes are read only when the follower (re)connects" \
        in said and "events/AcknowledgementSet" in said, said
    # Nor may it query comments and downtimes: acknowledged, without who (said once).
    assert said.count("who acknowledged is known only from the event stream") == 1, said
    assert "objects/query/Comment" in said and "objects/query/Downtime" in said, said
    # aiops icinga check says the same, and passes.
    secret = tmp_path / "icinga-password"
    checked = subprocess.run(
        [sys.executable, "-m", "aiops", "--data-dir", str(tmp_path / "d"), "icinga", "check",
         "--url", icinga.url, "--user", "legacy", "--password-file", str(secret),
         "--ca", str(icinga.ca)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert "event stream: ok, state changes only" in checked.stdout
    assert "events/DowntimeRemoved" in checked.stdout
    assert "who acknowledged and which downtimes: not readable" in checked.stdout
    assert "objects/query/Downtime" in checked.stdout


def _flapping(live_server: LiveServer, name: str) -> tuple[str | None, str] | None:
    alert = _alert(live_server, name)
    return alert and (alert["labels"].get("flapping"), alert["status"])


def test_a_flapping_service_is_labelled_flapping_until_it_settles(
        tmp_path: Path, icinga: IcingaServer, live_server: LiveServer) -> None:
    """A service whose results alternate OK/CRITICAL: Icinga's flapping detection sends
    Flapping (is_flapping true); the next CRITICAL reaches the one alert labelled
    flapping "true". CRITICAL results until it settles: Flapping false, the object is
    read again, and the label becomes "false"."""
    icinga.create_service("router1", "uplink", enable_flapping=True,
                          flapping_threshold_high=20.0, flapping_threshold_low=10.0)
    follower = _follow(icinga, live_server.url, tmp_path)
    try:
        _connected(follower)
        for i in range(24):
            icinga.set_state("router1", "uplink", 0 if i % 2 else 2,
                             "UPLINK OK" if i % 2 else "UPLINK CRITICAL - carrier lost")
        icinga.set_state("router1", "uplink", 2, "UPLINK CRITICAL - carrier lost")
        wait_for(lambda: _flapping(live_server, "uplink") == ("true", "firing"),
                 "the flapping label", explain=lambda: f"{_flapping(live_server, 'uplink')}")
        for _ in range(40):  # the same state, over and over: Icinga's flapping decays
            icinga.set_state("router1", "uplink", 2, "UPLINK CRITICAL - carrier lost")
        wait_for(lambda: _flapping(live_server, "uplink") == ("false", "firing"),
                 "flapping's end", explain=lambda: f"{_flapping(live_server, 'uplink')}")
    finally:
        out = _stop(follower)
    assert "flapping is read only" not in out, out


def _summaries(live_server: LiveServer, alert_id: int) -> list[str]:
    """The summaries of the events stored with an alert, in arrival order."""
    with live_server.runtime.db.connect() as conn:
        rows = conn.execute(sa.select(raw_events.c.payload).where(
            raw_events.c.alert_id == alert_id).order_by(raw_events.c.seq)).all()
    return [row.payload["summary"] for row in rows]


def test_a_service_deleted_while_critical_resolves_its_alert(
        tmp_path: Path, icinga: IcingaServer, live_server: LiveServer) -> None:
    """A service created at runtime and deleted while CRITICAL (``DELETE
    /v1/objects/services/...``): the stream's ObjectDeleted ends its alert at the
    deletion. Another deleted while the stream is away (removed from Icinga's
    configuration while it is stopped, as a deploy and reload does, which sends no
    ObjectDeleted): the reconnect finds it gone and ends its alert then."""
    icinga.create_service("router1", "vpn")
    icinga.create_service("router1", "ntp")
    follower = _follow(icinga, live_server.url, tmp_path)
    try:
        _connected(follower)
        icinga.set_state("router1", "vpn", 2, "VPN CRITICAL - tunnel down")
        icinga.set_state("router1", "ntp", 2, "NTP CRITICAL - offset 12 s")
        wait_for(lambda: _alert(live_server, "vpn"), "the vpn alert")
        wait_for(lambda: _alert(live_server, "ntp"), "the ntp alert")
        before = time.time()
        icinga.delete_service("router1", "vpn")
        ended = wait_for(lambda: (a := _alert(live_server, "vpn"))["status"] == "resolved"
                         and a, "the deleted service's alert resolving")
        assert before - 1 <= ended["ends_at"] <= time.time() + 1, ended
        assert _summaries(live_server, ended["id"])[-1] == "deleted from Icinga's configuration"
        icinga.stop()
        for conf in (icinga.root / "lib/api").rglob("*ntp*.conf"):
            conf.unlink()  # Icinga no longer has the service when it starts again
        icinga.start()
        _connected(follower)
        wait_for(lambda: _alert(live_server, "ntp")["status"] == "resolved",
                 "the alert of the service gone after the reload resolving")
    finally:
        _stop(follower)
    assert _alert(live_server, "ping") is None  # nothing else ended or opened


def test_a_service_deleted_while_the_follower_is_stopped_resolves_at_its_restart(
        tmp_path: Path, icinga: IcingaServer, live_server: LiveServer) -> None:
    """A runtime service CRITICAL, the follower stopped, the service deleted (no
    follower reads the ObjectDeleted), the follower started again: its state file says
    it sent that problem, its first connect finds it gone and ends its alert. A problem
    Icinga still has in the state sent is not sent again."""
    icinga.create_service("router1", "vpn")
    icinga.set_state("router1", "ping", 2, "PING CRITICAL")
    follower = _follow(icinga, live_server.url, tmp_path)
    try:
        _connected(follower)
        icinga.set_state("router1", "vpn", 2, "VPN CRITICAL - tunnel down")
        wait_for(lambda: _alert(live_server, "vpn"), "the vpn alert")
        wait_for(lambda: _alert(live_server, "ping"), "the ping alert")
    finally:
        _stop(follower)
    icinga.delete_service("router1", "vpn")
    before = time.time()
    follower = _follow(icinga, live_server.url, tmp_path)
    try:
        _connected(follower)
        ended = wait_for(lambda: (a := _alert(live_server, "vpn"))["status"] == "resolved"
                         and a, "the alert of the service deleted while stopped resolving")
    finally:
        _stop(follower)
    assert before - 1 <= ended["ends_at"] <= time.time() + 1, ended  # at that connect
    assert _summaries(live_server, ended["id"])[-1] == "deleted from Icinga's configuration"
    ping = _alert(live_server, "ping")
    assert (ping["status"], ping["event_count"]) == ("firing", 1), ping  # not sent again


LASTS = 10.0  # seconds a short downtime or acknowledgement lasts: beyond the stream's
# delay (Icinga 2.13.6 held events back up to about 5 s; the alerts read a downtime about
# 6 s after it was made), so the alert reads it before it ends


def test_downtimes_and_an_acknowledgement_that_end_by_their_own_time_end_on_the_alert(
        tmp_path: Path, icinga: IcingaServer, live_server: LiveServer) -> None:
    """A fixed downtime, a flexible one (triggered at once by the problem: its duration
    counts from the problem's state change) and an acknowledgement with an expiry, each
    ending LASTS seconds after it was made: every alert reads them, then reads them over
    within seconds of the end. Icinga says none of these ends on the stream in time
    (DowntimeRemoved comes with its 60 s expiry timer, AcknowledgementCleared only with
    the next check result, which a passive check never sends): the follower reads each
    object again at the end it knows."""
    icinga.create_service("router1", "vpn")
    follower = _follow(icinga, live_server.url, tmp_path)
    try:
        _connected(follower)
        icinga.set_state("router1", "bgp", 2, "BGP CRITICAL - peer down")
        icinga.set_state("router1", "vpn", 2, "VPN CRITICAL - tunnel down")
        ping_changed = time.time()
        icinga.set_state("router1", "ping", 2, "PING CRITICAL")
        end = time.time() + LASTS
        _, bgp_said = _downtime(icinga, "router1", "bgp", "ann", "reboot", end)
        icinga.action("schedule-downtime", "router1", "ping", author="bob", comment="flex",
                      start_time=time.time() - 5, end_time=end + 3600, fixed=False,
                      duration=round(end - ping_changed))
        icinga.action("acknowledge-problem", "router1", "vpn", author="cy",
                      comment="looking", expiry=end)

        def labels() -> dict[str, tuple]:
            return {name: (_status(live_server, name), _who(live_server, name))
                    for name in ("bgp", "ping", "vpn")}

        def explain() -> str:
            return f"{labels()}\n{icinga.log()}"

        wait_for(lambda: (now := labels())["bgp"] == (
            ("false", "downtime", "firing"), (None, bgp_said))
            and now["ping"][0] == ("false", "downtime", "firing")
            and (now["ping"][1][1] or "").endswith(": flex")
            and now["vpn"] == (("true", "false", "firing"), ("cy: looking", None)),
            "the downtimes and the acknowledgement", explain=explain)
        assert time.time() < end, "read only after the end: lengthen LASTS"
        wait_for(lambda: labels() == {name: (("false", "false", "firing"), (None, None))
                                      for name in ("bgp", "ping", "vpn")},
                 "their ends", timeout=end - time.time() + 10, explain=explain)
    finally:
        _stop(follower)


def test_an_acknowledgement_not_sticky_ends_at_a_state_change_and_at_a_recovery(
        tmp_path: Path, icinga: IcingaServer, live_server: LiveServer) -> None:
    """Two problems acknowledged (not sticky); then bgp goes from WARNING to CRITICAL and
    ping recovers: Icinga clears both (AcknowledgementCleared, then a StateChange that
    says acknowledgement false), and both alerts read unacknowledged, without who: the
    escalated one firing, the recovered one resolved."""
    follower = _follow(icinga, live_server.url, tmp_path)
    try:
        _connected(follower)
        icinga.set_state("router1", "bgp", 1, "BGP WARNING - flapping peer")
        icinga.set_state("router1", "ping", 2, "PING CRITICAL")
        icinga.action("acknowledge-problem", "router1", "bgp", author="ann", comment="mine")
        icinga.action("acknowledge-problem", "router1", "ping", author="bob", comment="also")

        def states() -> tuple:
            return tuple((_status(live_server, name), _who(live_server, name))
                         for name in ("bgp", "ping"))

        wait_for(lambda: states() == ((("true", "false", "firing"), ("ann: mine", None)),
                                      (("true", "false", "firing"), ("bob: also", None))),
                 "both acknowledged", explain=lambda: f"{states()}")
        icinga.set_state("router1", "bgp", 2, "BGP CRITICAL - peer down")
        icinga.set_state("router1", "ping", 0, "PING OK")
        wait_for(lambda: states() == ((("false", "false", "firing"), (None, None)),
                                      (("false", "false", "resolved"), (None, None))),
                 "both unacknowledged", explain=lambda: f"{states()}")
        assert _alert(live_server, "bgp")["severity"] == "critical"
    finally:
        _stop(follower)
