"""A real Nagios Core 4 notifies the engine through deploy/nagios/ (the shipped command
definitions and aiops-notify), and a service that goes CRITICAL and back to OK becomes
one alert that fires and resolves here; an acknowledgement and a downtime, given
through Nagios's external command file as its CGIs do, reach that alert's labels.
``aiops nagios follow`` reads the same Nagios's status file, and its log for a problem
that began and ended between two reads of it.

Nagios runs from Debian's ``nagios4-core`` (scripts/install-test-deps.sh installs it;
skipped without it) in a folder of the test's own, with ``interval_length=1`` so its
intervals are seconds. The check is a script that reads the state the test writes.
"""

from __future__ import annotations

import getpass
import grp
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from aiops.store.tables import raw_events
from tests.conftest import LiveServer
from tests.integration.test_webhooks_api import alert_rows
from tests.polling import wait_for

NAGIOS = Path("/usr/sbin/nagios4")
REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not NAGIOS.exists(), reason="nagios4-core is not installed")

MAIN = """\
log_file={d}/nagios.log
cfg_file={d}/objects.cfg
cfg_file={d}/aiops.cfg
status_file={d}/status.dat
status_update_interval=1
object_cache_file={d}/objects.cache
temp_file={d}/nagios.tmp
temp_path={d}
lock_file={d}/nagios.lock
state_retention_file={d}/retention.dat
retain_state_information=0
command_file={d}/nagios.cmd
check_result_path={d}/checkresults
query_socket={d}/nagios.qh
nagios_user={user}
nagios_group={group}
interval_length=1
check_result_reaper_frequency=1
enable_notifications=1
enable_flap_detection=0
illegal_macro_output_chars=`~$&|'"<>
"""
OBJECTS = """\
define command {{
  command_name check_state
  command_line /bin/sh {d}/check.sh "$HOSTNAME$" "$SERVICEDESC$"
}}
define timeperiod {{
  timeperiod_name 24x7
  alias always
  sunday 00:00-24:00
  monday 00:00-24:00
  tuesday 00:00-24:00
  wednesday 00:00-24:00
  thursday 00:00-24:00
  friday 00:00-24:00
  saturday 00:00-24:00
}}
define host {{
  host_name core-1
  address 127.0.0.1
  check_command check_state
  max_check_attempts 1
  check_interval 1
  retry_interval 1
  check_period 24x7
  notification_period 24x7
  notification_interval 0
  contacts aiops
}}
define service {{
  host_name core-1
  service_description BGP peer
  check_command check_state
  max_check_attempts 1
  check_interval 1
  retry_interval 1
  check_period 24x7
  notification_period 24x7
  notification_interval 0
  contacts aiops
}}
define service {{
  host_name core-1
  service_description LDP session
  check_command check_state
  max_check_attempts 1
  check_interval 1
  retry_interval 1
  check_period 24x7
  notification_period 24x7
  notification_interval 0
  notifications_enabled 0
  contacts aiops
}}
"""
# LDP session notifies nothing: only ``aiops nagios follow`` reads its problems.
CHECK = """\
# the state the test wrote for this service (0 OK, 1 WARNING, 2 CRITICAL); a host is
# always up
state=$(cat "{d}/state-$2" 2>/dev/null || echo 0)
echo "BGP state $state"
exit "$state"
"""


@pytest.fixture
def nagios(tmp_path: Path, live_server: LiveServer) -> Iterator[Path]:
    # The shipped definitions, pointed at this test's engine and this checkout's script.
    shipped = (REPO / "deploy/nagios/aiops.cfg").read_text()
    with running_nagios(tmp_path / "nagios", shipped.replace(
            "/usr/local/bin/aiops-notify",
            f"{sys.executable} {REPO / 'deploy/nagios/aiops-notify'}")
            .replace("http://127.0.0.1:8080", live_server.url)) as folder:
        yield folder


@contextmanager
def running_nagios(folder: Path, notifying: str) -> Iterator[Path]:
    """Nagios running in ``folder`` on MAIN and OBJECTS, with ``notifying`` as its
    aiops.cfg (the commands and the contact ``aiops`` its objects notify)."""
    (folder / "checkresults").mkdir(parents=True)
    user = getpass.getuser()
    group = grp.getgrgid(os.getgid()).gr_name
    (folder / "nagios.cfg").write_text(MAIN.format(d=folder, user=user, group=group))
    (folder / "objects.cfg").write_text(OBJECTS.format(d=folder))
    (folder / "check.sh").write_text(CHECK.format(d=folder))
    (folder / "aiops.cfg").write_text(notifying)
    checked = subprocess.run([str(NAGIOS), "-v", str(folder / "nagios.cfg")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout[-2000:]
    process = subprocess.Popen([str(NAGIOS), str(folder / "nagios.cfg")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield folder
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def nagios_log(folder: Path) -> Callable[[], str]:
    return lambda: "nagios.log:\n" + (folder / "nagios.log").read_text(errors="replace")[-3000:]


def test_a_service_problem_and_its_recovery_in_nagios_fire_and_resolve_one_alert(
        nagios: Path, live_server: LiveServer) -> None:
    runtime = live_server.runtime
    (nagios / "state-BGP peer").write_text("2")
    firing = wait_for(lambda: alert_rows(runtime), "the problem notification", 60,
                      nagios_log(nagios))
    (alert,) = firing
    assert (alert["source"], alert["name"], alert["entity"], alert["status"]) == (
        "nagios", "BGP peer", "core-1", "firing")
    assert alert["severity"] == "critical"
    assert abs(alert["starts_at"] - time.time()) < 60  # Nagios's state change time
    (nagios / "state-BGP peer").write_text("0")
    resolved = wait_for(lambda: [a for a in alert_rows(runtime) if a["status"] == "resolved"],
                        "the recovery notification", 60, nagios_log(nagios))
    (ended,) = resolved
    assert ended["id"] == alert["id"] and ended["starts_at"] == alert["starts_at"]
    assert ended["ends_at"] >= ended["starts_at"]
    assert len(alert_rows(runtime)) == 1  # the recovery ended the problem's alert
    log = (nagios / "nagios.log").read_text()
    assert "SERVICE NOTIFICATION: aiops;core-1;BGP peer;CRITICAL;notify-service-aiops" in log
    assert "SERVICE NOTIFICATION: aiops;core-1;BGP peer;OK;notify-service-aiops" in log


def command(folder: Path, line: str) -> None:
    """An external command, written to Nagios's command file as its CGIs write it."""
    with (folder / "nagios.cmd").open("w") as pipe:
        pipe.write(f"[{int(time.time())}] {line}\n")


def labels(live_server: LiveServer) -> tuple[dict, dict] | None:
    """The one alert as the engine's API shows it, with its incident's detail."""
    rows = alert_rows(live_server.runtime)
    if len(rows) != 1 or rows[0]["incident_id"] is None:
        return None
    detail = requests.get(f"{live_server.url}/api/v1/incidents/{rows[0]['incident_id']}",
                          timeout=10).json()
    (alert,) = [a for a in detail["alerts"] if a["name"] == "BGP peer"]
    return alert, detail


def status(live_server: LiveServer) -> tuple[str | None, ...] | None:
    found = labels(live_server)
    if found is None:
        return None
    alert = found[0]
    return (alert["labels"].get("acknowledged"), alert["labels"].get("suppressed"),
            alert["severity"], alert["status"])


def test_an_acknowledgement_and_a_downtime_in_nagios_reach_the_alert_s_labels(
        nagios: Path, live_server: LiveServer) -> None:
    """ACKNOWLEDGEMENT, DOWNTIMESTART and DOWNTIMECANCELLED notifications change the
    firing alert's labels and nothing else of it; the state change after a (non-sticky)
    acknowledgement, which Nagios ends without a notification, ends it here too."""
    explain = nagios_log(nagios)
    (nagios / "state-BGP peer").write_text("2")
    wait_for(lambda: status(live_server) == ("false", "false", "critical", "firing"),
             "the problem notification", 60, explain)
    first = alert_rows(live_server.runtime)[0]
    command(nagios, "ACKNOWLEDGE_SVC_PROBLEM;core-1;BGP peer;1;1;0;ann;on it, \"peer\" down")
    wait_for(lambda: status(live_server) == ("true", "false", "critical", "firing"),
             "the acknowledgement", 60, explain)
    alert, detail = labels(live_server)
    assert (detail["acknowledged_alerts"], detail["firing_acknowledged"]) == (1, 1)
    # Who and why, from the notification's macros: Nagios strips the quotes.
    assert alert["labels"]["acknowledged_by"] == "ann: on it, peer down"
    command(nagios, f"SCHEDULE_SVC_DOWNTIME;core-1;BGP peer;{int(time.time())};"
                    f"{int(time.time()) + 3600};1;0;3600;bob;peer \"BGP\" maintenance")
    wait_for(lambda: status(live_server) == ("true", "downtime", "critical", "firing"),
             "the downtime's start", 60, explain)
    alert, detail = labels(live_server)
    assert (detail["suppressed_alerts"], detail["suppressed"]) == (1, True)
    # Which downtime, from $NOTIFICATIONAUTHOR$ and $NOTIFICATIONCOMMENT$ (quotes
    # stripped); no macro gives its id or end.
    assert alert["labels"]["suppressed_by"] == "downtime by bob: peer BGP maintenance"
    assert alert["labels"]["acknowledged_by"] == "ann: on it, peer down"  # kept
    command(nagios, "DEL_DOWNTIME_BY_HOST_NAME;core-1")
    wait_for(lambda: status(live_server) == ("true", "false", "critical", "firing"),
             "the downtime's cancellation", 60, explain)
    assert "suppressed_by" not in labels(live_server)[0]["labels"]
    (nagios / "state-BGP peer").write_text("1")  # a state change ends the acknowledgement
    wait_for(lambda: status(live_server) == ("false", "false", "warning", "firing"),
             "the WARNING problem", 60, explain)
    (alert,) = alert_rows(live_server.runtime)
    assert "acknowledged_by" not in alert["labels"]  # the PROBLEM's "false" ended it
    assert (alert["id"], alert["starts_at"], alert["ends_at"]) == (
        first["id"], first["starts_at"], None)
    with live_server.runtime.db.connect() as conn:
        events = conn.execute(sa.select(raw_events.c.disposition, raw_events.c.payload)
                              .order_by(raw_events.c.seq)).all()
    notes = [e.payload.get("description") for e in events]
    # Nagios strips the quotes (illegal_macro_output_chars) before its shell sees them.
    assert "acknowledged by ann: on it, peer down" in notes, notes
    assert all(e.disposition in ("new", "duplicate") for e in events), events
    log = (nagios / "nagios.log").read_text()
    for kind in ("ACKNOWLEDGEMENT (CRITICAL)", "DOWNTIMESTART (CRITICAL)",
                 "DOWNTIMECANCELLED (CRITICAL)"):
        assert f"SERVICE NOTIFICATION: aiops;core-1;BGP peer;{kind};notify-service-aiops" \
            in log, kind


def follow(folder: Path, live_server: LiveServer, data_dir: Path,
           *options: str) -> subprocess.Popen[str]:
    """``aiops nagios follow`` reading this Nagios's status file every second."""
    return subprocess.Popen(
        [sys.executable, "-m", "aiops", "--data-dir", str(data_dir), "nagios", "follow",
         "--status-file", str(folder / "status.dat"),
         "--objects-cache", str(folder / "objects.cache"),
         "--forward", live_server.url, "--interval", "1", "--stats-every", "1", *options],
        cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)})


def service_alert(live_server: LiveServer, name: str) -> dict | None:
    """The alert of ``name`` as the engine's API shows it (in its incident's detail)."""
    rows = [a for a in alert_rows(live_server.runtime) if a["name"] == name]
    if len(rows) != 1 or rows[0]["incident_id"] is None:
        return None
    detail = requests.get(f"{live_server.url}/api/v1/incidents/{rows[0]['incident_id']}",
                          timeout=10).json()
    (alert,) = [a for a in detail["alerts"] if a["name"] == name]
    return alert


def alert_status(live_server: LiveServer, name: str) -> tuple[str | None, ...] | None:
    alert = service_alert(live_server, name)
    if alert is None:
        return None
    return (alert["labels"].get("acknowledged"), alert["labels"].get("suppressed"),
            alert["status"])


def who(live_server: LiveServer, name: str) -> tuple[str | None, str | None]:
    """The alert's ``acknowledged_by`` and ``suppressed_by``, as the API shows them."""
    alert = service_alert(live_server, name) or {"labels": {}}
    return alert["labels"].get("acknowledged_by"), alert["labels"].get("suppressed_by")


def test_the_follower_reads_problems_acknowledgements_downtimes_and_recoveries(
        nagios: Path, live_server: LiveServer, tmp_path: Path) -> None:
    """A problem Nagios never notifies (its notifications are off) and that began before
    the follower started fires; an acknowledgement removed by hand, which Nagios does not
    notify, clears the label; a downtime sets it; the recovery resolves the alert at
    Nagios's time. A problem Nagios notifies too is one alert of both."""
    explain = nagios_log(nagios)
    (nagios / "state-LDP session").write_text("2")
    wait_for(lambda: "SERVICE ALERT: core-1;LDP session;CRITICAL;HARD"
             in (nagios / "nagios.log").read_text(), "the LDP problem in Nagios", 60, explain)
    follower = follow(nagios, live_server, tmp_path / "d")
    try:
        wait_for(lambda: alert_status(live_server, "LDP session") == (
            "false", "false", "firing"), "the problem older than the follower", 60, explain)
        (ldp,) = [a for a in alert_rows(live_server.runtime) if a["name"] == "LDP session"]
        assert (ldp["source"], ldp["entity"], ldp["labels"]["address"]) == (
            "nagios", "core-1", "127.0.0.1")
        assert abs(ldp["starts_at"] - time.time()) < 60
        command(nagios, 'ACKNOWLEDGE_SVC_PROBLEM;core-1;LDP session;2;0;0;ann;on it, "LDP"')
        wait_for(lambda: alert_status(live_server, "LDP session") == (
            "true", "false", "firing"), "the acknowledgement", 60, explain)
        # Who and why, from status.dat's acknowledgement comment (as typed).
        assert who(live_server, "LDP session") == ('ann: on it, "LDP"', None)
        command(nagios, "REMOVE_SVC_ACKNOWLEDGEMENT;core-1;LDP session")
        wait_for(lambda: alert_status(live_server, "LDP session") == (
            "false", "false", "firing"), "the acknowledgement's removal", 60, explain)
        assert who(live_server, "LDP session") == (None, None)
        start = int(time.time())
        command(nagios, f"SCHEDULE_SVC_DOWNTIME;core-1;LDP session;{start};"
                        f"{start + 3600};1;0;3600;ann;maintenance")
        wait_for(lambda: alert_status(live_server, "LDP session") == (
            "false", "downtime", "firing"), "the downtime", 60, explain)
        until = datetime.fromtimestamp(start + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert re.fullmatch(rf"downtime \d+ by ann until {until}: maintenance",
                            who(live_server, "LDP session")[1] or "")
        # Notified and followed: the notification's alert and the follower's are one.
        (nagios / "state-BGP peer").write_text("2")
        wait_for(lambda: "SERVICE NOTIFICATION: aiops;core-1;BGP peer;CRITICAL"
                 in (nagios / "nagios.log").read_text(), "the BGP notification", 60, explain)
        wait_for(lambda: alert_status(live_server, "BGP peer") == ("false", "false", "firing"),
                 "the BGP problem", 60, explain)
        wait_for(lambda: len(bgp_events(live_server)) == 2, "the follower's BGP problem",
                 60, explain)
        # The host in a downtime: Nagios counts it in the host's depth only; the
        # follower says the host's problems' services are in it, by that downtime.
        command(nagios, f"SCHEDULE_HOST_DOWNTIME;core-1;{start};{start + 7200};1;0;7200;"
                        "carl;host move")
        wait_for(lambda: alert_status(live_server, "BGP peer") == (
            "false", "downtime", "firing"), "the host's downtime", 60, explain)
        host_until = datetime.fromtimestamp(start + 7200, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert re.fullmatch(rf"downtime \d+ by carl until {host_until}: host move",
                            who(live_server, "BGP peer")[1] or "")
        wait_for(lambda: "; downtime " in (who(live_server, "LDP session")[1] or ""),
                 "the LDP session's two downtimes", 60, explain)
        (nagios / "state-LDP session").write_text("0")
        wait_for(lambda: alert_status(live_server, "LDP session") is not None
                 and alert_status(live_server, "LDP session")[2] == "resolved",
                 "the recovery", 60, explain)
        time.sleep(3)  # the follower's reads of the BGP problem (every second)
    finally:
        follower.send_signal(signal.SIGTERM)
        err = follower.communicate(timeout=30)[1]
    assert follower.returncode == 0, err
    assert "nagios: stopped; received" in err, err
    (ended,) = [a for a in alert_rows(live_server.runtime) if a["name"] == "LDP session"]
    assert ended["id"] == ldp["id"] and ended["starts_at"] == ldp["starts_at"]
    assert 0 <= time.time() - ended["ends_at"] < 60  # Nagios's time of the recovery
    events = bgp_events(live_server)
    # The notification's event and the follower's, folded into one alert, and the
    # follower's report of the host's downtime.
    assert sorted(e.disposition for e in events) == ["duplicate", "duplicate", "new"], events


def test_a_downtime_notified_and_followed_reads_the_latest_word_of_it(
        nagios: Path, live_server: LiveServer, tmp_path: Path) -> None:
    """BGP peer, notified and followed, put in a downtime three times: its
    DOWNTIMESTART notification names the downtime by author and comment, the
    follower (reading status.dat every second here) by id, author, end and comment,
    and the alert reads whichever arrived last: the follower's, unless its read fell
    between the downtime's start and the notification's arrival (docs/webhooks.md)."""
    explain = nagios_log(nagios)
    (nagios / "state-BGP peer").write_text("2")
    wait_for(lambda: alert_status(live_server, "BGP peer") == ("false", "false", "firing"),
             "the BGP problem", 60, explain)
    follower = follow(nagios, live_server, tmp_path / "d")
    try:
        wait_for(lambda: len(bgp_events(live_server)) == 2, "the follower's BGP problem",
                 60, explain)
        delays = [downtime_round(nagios, live_server, f"round {n}") for n in range(3)]
    finally:
        follower.send_signal(signal.SIGTERM)
        err = follower.communicate(timeout=30)[1]
    assert follower.returncode == 0, err
    # Seconds from the command to the engine's receipt: notification, follower.
    print("downtime reached the engine after (notified s, followed s):",
          [(round(n, 3), round(f, 3)) for n, f in delays])


def downtime_round(folder: Path, live_server: LiveServer, comment: str) -> tuple[float, float]:
    """BGP peer put in a downtime by ann, with ``comment``, and the downtime cancelled:
    seconds from the command to the engine's receipt of the notification's word of it
    and of the follower's."""
    explain = nagios_log(folder)
    start = time.time()
    command(folder, f"SCHEDULE_SVC_DOWNTIME;core-1;BGP peer;{int(start)};"
                    f"{int(start) + 3600};1;0;3600;ann;{comment}")
    said = wait_for(lambda: said_since(live_server, start, "downtime", 2),
                    "the notification's and the follower's downtime", 60, explain)
    (notified,) = [s for s in said if s[1] == f"downtime by ann: {comment}"]
    (followed,) = [s for s in said
                   if re.fullmatch(rf"downtime \d+ by ann until \S+: {comment}", s[1])]
    assert who(live_server, "BGP peer")[1] == max(said)[1]  # the one received last
    cancelled = time.time()
    command(folder, "DEL_DOWNTIME_BY_HOST_NAME;core-1")
    wait_for(lambda: said_since(live_server, cancelled, "false", 2),
             "the downtime's cancellation, notified and followed", 60, explain)
    assert who(live_server, "BGP peer")[1] is None
    return notified[0] - start, followed[0] - start


def said_since(live_server: LiveServer, since: float, suppressed: str,
               count: int) -> list[tuple[float, str]] | None:
    """The BGP peer events received since ``since`` that say ``suppressed``: (when
    received, ``suppressed_by`` or ""), when there are ``count`` of them."""
    rows = [a for a in alert_rows(live_server.runtime) if a["name"] == "BGP peer"]
    with live_server.runtime.db.connect() as conn:
        events = conn.execute(sa.select(raw_events.c.received_at, raw_events.c.payload)
                              .where(raw_events.c.alert_id == rows[0]["id"])
                              .where(raw_events.c.received_at >= since)).all()
    said = [(e.received_at, e.payload["labels"].get("suppressed_by", "")) for e in events
            if e.payload["labels"].get("suppressed") == suppressed]
    return said if len(said) == count else None


def bgp_events(live_server: LiveServer) -> list:
    """The raw events of the BGP peer alert."""
    rows = [a for a in alert_rows(live_server.runtime) if a["name"] == "BGP peer"]
    if not rows:
        return []
    with live_server.runtime.db.connect() as conn:
        return conn.execute(sa.select(raw_events.c.alert_id, raw_events.c.disposition)
                            .where(raw_events.c.alert_id == rows[0]["id"])).all()


def logged_at(folder: Path, line: str) -> int:
    """When Nagios's log has ``line`` (its first, as ``[EPOCH] line``)."""
    for raw in (folder / "nagios.log").read_text(errors="replace").splitlines():
        if raw.partition("] ")[2].startswith(line):
            return int(raw[1:raw.index("]")])
    raise AssertionError(f"{line!r} is not in nagios.log")


def test_a_problem_between_two_status_reads_reaches_the_engine_from_nagios_log(
        nagios: Path, live_server: LiveServer, tmp_path: Path) -> None:
    """LDP session (its notifications off) turns CRITICAL and OK again from two passive
    results in one write of the command file: Nagios handles both before it writes
    status.dat again, so no read of it shows the problem; only its log does. The
    follower given --log-file sends it: one alert, fired and resolved at the log's
    times, sent once."""
    explain = nagios_log(nagios)
    wait_for(lambda: (nagios / "status.dat").exists(), "Nagios's first status.dat", 60,
             explain)
    follower = follow(nagios, live_server, tmp_path / "d",
                      "--log-file", str(nagios / "nagios.log"))
    try:
        # The first read places the log at its end: the flap must come after it.
        wait_for(lambda: any(json.loads(f.read_text()).get("log", {}).get("position")
                             for f in (tmp_path / "d" / "nagios").glob("*.json")),
                 "the follower's first read of the log", 60, explain)
        now = int(time.time())
        with (nagios / "nagios.cmd").open("w") as pipe:
            pipe.write(f"[{now}] PROCESS_SERVICE_CHECK_RESULT;core-1;LDP session;2;LDP down\n"
                       f"[{now}] PROCESS_SERVICE_CHECK_RESULT;core-1;LDP session;0;LDP up\n")
        wait_for(lambda: alert_status(live_server, "LDP session") is not None
                 and alert_status(live_server, "LDP session")[2] == "resolved",
                 "the problem between two reads, fired and resolved", 60, explain)
        time.sleep(3)  # three more reads: status.dat's (OK) sends nothing of it
    finally:
        follower.send_signal(signal.SIGTERM)
        err = follower.communicate(timeout=30)[1]
    assert follower.returncode == 0, err
    (ldp,) = [a for a in alert_rows(live_server.runtime) if a["name"] == "LDP session"]
    began = logged_at(nagios, "SERVICE ALERT: core-1;LDP session;CRITICAL;HARD")
    ended = logged_at(nagios, "SERVICE ALERT: core-1;LDP session;OK;HARD")
    assert (ldp["status"], ldp["starts_at"], ldp["ends_at"]) == ("resolved", began, ended)
    with live_server.runtime.db.connect() as conn:
        events = conn.execute(sa.select(raw_events.c.disposition)
                              .where(raw_events.c.alert_id == ldp["id"])).all()
    assert len(events) == 2, events  # its PROBLEM and its RECOVERY, each once
    assert "1 problems between reads (from the log)" in err, err


def test_a_problem_that_recovered_and_came_back_between_two_reads_is_re_fired(
        nagios: Path, live_server: LiveServer, tmp_path: Path) -> None:
    """LDP session is CRITICAL (its check says so) and the follower sent it; four
    passive results in one write of the command file make it OK, CRITICAL, OK and
    CRITICAL again before Nagios writes status.dat, which then reads CRITICAL as before.
    With --log-file the engine gets both recoveries and both returns, in the log's
    order (its lines share a second or two): the alert resolved and re-fired twice,
    and is firing; no later read sends anything of it again."""
    explain = nagios_log(nagios)
    (nagios / "state-LDP session").write_text("2")
    wait_for(lambda: "SERVICE ALERT: core-1;LDP session;CRITICAL;HARD"
             in (nagios / "nagios.log").read_text(), "the LDP problem in Nagios", 60, explain)
    follower = follow(nagios, live_server, tmp_path / "d",
                      "--log-file", str(nagios / "nagios.log"))
    try:
        wait_for(lambda: alert_status(live_server, "LDP session") == (
            "false", "false", "firing"), "the problem, from status.dat", 60, explain)
        wait_for(lambda: any(json.loads(f.read_text()).get("log", {}).get("position")
                             for f in (tmp_path / "d" / "nagios").glob("*.json")),
                 "the follower's first read of the log", 60, explain)
        now = int(time.time())
        with (nagios / "nagios.cmd").open("w") as pipe:
            for state, output in ((0, "LDP up"), (2, "LDP down"), (0, "LDP up"),
                                  (2, "LDP down")):
                pipe.write(f"[{now}] PROCESS_SERVICE_CHECK_RESULT;core-1;LDP session;"
                           f"{state};{output}\n")
        wait_for(lambda: len(ldp_events(live_server)) >= 5,
                 "both recoveries and returns", 60, explain)
        time.sleep(3)  # three more reads: status.dat's CRITICAL sends nothing of it
    finally:
        follower.send_signal(signal.SIGTERM)
        err = follower.communicate(timeout=30)[1]
    assert follower.returncode == 0, err
    lines = [raw.partition("] ")[2] for raw in
             (nagios / "nagios.log").read_text(errors="replace").splitlines()
             if "SERVICE ALERT: core-1;LDP session;" in raw]
    assert [line.split(";")[2] for line in lines[-4:]] == ["OK", "CRITICAL", "OK",
                                                           "CRITICAL"], lines
    assert [e.disposition for e in ldp_events(live_server)] == [
        "new", "resolved", "refired", "resolved", "refired"]
    (ldp,) = [a for a in alert_rows(live_server.runtime) if a["name"] == "LDP session"]
    back = logged_at_last(nagios, "SERVICE ALERT: core-1;LDP session;CRITICAL;HARD")
    assert ldp["status"] == "firing" and back <= ldp["episode_start"] < back + 1, ldp
    # The first return is the open problem's; the second, ended in between, an episode.
    assert ("1 problems between reads (from the log), 1 recovered and back between reads"
            in err), err


def ldp_events(live_server: LiveServer) -> list:
    """The raw events of the LDP session alert, in the order they came."""
    rows = [a for a in alert_rows(live_server.runtime) if a["name"] == "LDP session"]
    if not rows:
        return []
    with live_server.runtime.db.connect() as conn:
        return conn.execute(sa.select(raw_events.c.disposition)
                            .where(raw_events.c.alert_id == rows[0]["id"])
                            .order_by(raw_events.c.seq)).all()


def logged_at_last(folder: Path, line: str) -> int:
    """When Nagios's log has ``line`` last."""
    found = [int(raw[1:raw.index("]")]) for raw in
             (folder / "nagios.log").read_text(errors="replace").splitlines()
             if raw.partition("] ")[2].startswith(line)]
    assert found, f"{line!r} is not in nagios.log"
    return found[-1]
