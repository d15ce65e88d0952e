"""``aiops nagios follow --log-file``: a problem a read of status.dat saw open that
recovered and came back before the next read (aiops/nagios_log_episodes.py,
aiops/nagios_follower.py, the docstring's 4.). Without the log it is one alert to its
last end; with it, its RECOVERY at the log's end and the new problem at the log's start
reach the engine, which ends the alert and re-fires it (or starts a new one), and what
status.dat shows of it afterwards is not sent twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiops.forwarder import Forwarder
from aiops.nagios_follower import NagiosFollower
from aiops.runtime import Runtime
from tests.unit.test_nagios_acknowledgements import AT_1H, downtime
from tests.unit.test_nagios_follow import T0, service, status, taken, write
from tests.unit.test_nagios_log import NOISE, alert, append, brief, make
from tests.unit.test_nagios_status_reports import alert_rows, send

BGP = ("core-1", "BGP peer")


def written(when: int, *blocks: str) -> str:
    """status.dat as Nagios wrote it at ``when`` (its info block's ``created``)."""
    return status(*blocks).replace("created=1800000000", f"created={when}")


def critical(when: int, *, since: int, **extra: int) -> str:
    """status.dat at ``when`` with BGP peer CRITICAL since ``since`` (its first check)."""
    return written(when, service("BGP peer", 2, since=since, **extra),
                   service("LDP session", 0, since=T0 - 100))


def ok(when: int, *, since: int) -> str:
    return written(when, service("BGP peer", 0, since=since),
                   service("LDP session", 0, since=T0 - 100))


@pytest.fixture
def open_problem(tmp_path: Path) -> tuple[NagiosFollower, Forwarder, Path]:
    """A follower whose read of status.dat sent BGP peer's problem (CRITICAL since T0,
    hard at T0 + 10 as status.dat's helper writes it), its log at its end."""
    log = tmp_path / "nagios.log"
    log.write_text(NOISE + alert(T0 - 10, "BGP peer", "CRITICAL", kind="SOFT")
                   + alert(T0 + 10, "BGP peer", "CRITICAL"))
    follower, forwarder = make(tmp_path)
    write(tmp_path / "status.dat", critical(T0 + 12, since=T0))
    assert follower.read_once()
    assert brief(taken(forwarder)) == [("PROBLEM", "BGP peer", "CRITICAL", str(T0), None)]
    return follower, forwarder, log


def test_a_problem_back_between_two_reads_is_its_recovery_then_the_new_problem(
        tmp_path: Path, open_problem: tuple[NagiosFollower, Forwarder, Path]) -> None:
    follower, forwarder, log = open_problem
    append(log, alert(T0 + 20, "BGP peer", "OK", output="peer up") + NOISE
           + alert(T0 + 30, "BGP peer", "CRITICAL", kind="SOFT", output="peer down")
           + alert(T0 + 32, "BGP peer", "CRITICAL", output="peer down"))
    write(tmp_path / "status.dat", critical(T0 + 35, since=T0 + 30))
    follower.read_once()
    recovery, problem = taken(forwarder)
    # The end the log says, then the start: its first SOFT line since it was fine.
    assert brief([recovery, problem]) == [
        ("RECOVERY", "BGP peer", "OK", None, str(T0 + 20)),
        ("PROBLEM", "BGP peer", "CRITICAL", str(T0 + 30), None)]
    assert recovery == {"type": "RECOVERY", "host": "core-1", "address": "192.0.2.1",
                        "check": "BGP peer", "state": "OK", "output": "peer up",
                        "acknowledged": "false", "suppressed": "false",
                        "flapping": "false", "ended": str(T0 + 20)}
    assert problem["output"] == "peer down" and follower.stats.came_back == 1
    assert "1 recovered and back between reads" in follower.stats.line()
    # status.dat, written after, shows the new one open: nothing sent of it again, and
    # it is the status.dat path's, which ends it at Nagios's last hard state change.
    assert follower.sent[BGP][0] == "CRITICAL"
    write(tmp_path / "status.dat", critical(T0 + 45, since=T0 + 30))
    follower.read_once()
    assert taken(forwarder) == []
    append(log, alert(T0 + 50, "BGP peer", "OK"))
    write(tmp_path / "status.dat", ok(T0 + 55, since=T0 + 40))
    follower.read_once()
    assert brief(taken(forwarder)) == [("RECOVERY", "BGP peer", "OK", None, str(T0 + 50))]
    assert follower.log_state is not None
    assert (follower.log_state.recovered, follower.log_state.came_back) == ({}, {})


def test_two_cycles_between_two_reads_are_sent_in_the_log_s_order(
        tmp_path: Path, open_problem: tuple[NagiosFollower, Forwarder, Path]) -> None:
    follower, forwarder, log = open_problem
    append(log, alert(T0 + 20, "BGP peer", "OK")
           + alert(T0 + 22, "BGP peer", "WARNING")
           + alert(T0 + 24, "BGP peer", "CRITICAL")
           + alert(T0 + 26, "BGP peer", "OK")
           + alert(T0 + 28, "BGP peer", "UNKNOWN", kind="SOFT")
           + alert(T0 + 29, "BGP peer", "UNKNOWN"))
    write(tmp_path / "status.dat", critical(T0 + 25, since=T0 + 22))  # inside the second
    follower.read_once()
    assert brief(taken(forwarder)) == [
        ("RECOVERY", "BGP peer", "OK", None, str(T0 + 20)),
        ("PROBLEM", "BGP peer", "WARNING", str(T0 + 22), None),
        ("PROBLEM", "BGP peer", "CRITICAL", None, None),  # a change within: no start
        ("RECOVERY", "BGP peer", "OK", None, str(T0 + 26)),
        ("PROBLEM", "BGP peer", "UNKNOWN", str(T0 + 28), None)]
    assert (follower.stats.came_back, follower.stats.between_reads) == (1, 1)
    # status.dat written before the log's last line of it shows the one in between
    # (CRITICAL): left out, not sent as a change of state.
    assert follower.sent[BGP][0] == "UNKNOWN"
    write(tmp_path / "status.dat", written(T0 + 40, service("BGP peer", 3, since=T0 + 28),
                                           service("LDP session", 0, since=T0 - 100)))
    follower.read_once()
    assert taken(forwarder) == []


def test_a_status_dat_written_before_the_end_or_in_between_is_not_compared_for_it(
        tmp_path: Path, open_problem: tuple[NagiosFollower, Forwarder, Path]) -> None:
    """Written before the recovery it shows the old problem, acknowledged; written
    between the recovery and the new problem, fine: neither is sent (no acknowledgement
    of the new problem, no end of it), until a status.dat written after is read."""
    follower, forwarder, log = open_problem
    write(tmp_path / "status.dat", critical(T0 + 15, since=T0, ack=1))
    follower.read_once()
    assert [i["type"] for i in taken(forwarder)] == ["STATUS"]
    append(log, alert(T0 + 20, "BGP peer", "OK") + alert(T0 + 30, "BGP peer", "CRITICAL"))
    write(tmp_path / "status.dat", critical(T0 + 18, since=T0, ack=1))
    follower.read_once()
    items = taken(forwarder)
    assert brief(items) == [("RECOVERY", "BGP peer", "OK", None, str(T0 + 20)),
                            ("PROBLEM", "BGP peer", "CRITICAL", str(T0 + 30), None)]
    assert [i["acknowledged"] for i in items] == ["false", "false"]
    write(tmp_path / "status.dat", ok(T0 + 25, since=T0 + 10))
    follower.read_once()
    # Written in the same second as the log's line: read as before it.
    write(tmp_path / "status.dat", ok(T0 + 30, since=T0 + 10))
    follower.read_once()
    assert taken(forwarder) == []
    assert follower.log_state is not None and follower.log_state.came_back == {
        BGP: T0 + 30}
    # Written after: compared again, as any other (an acknowledgement is sent).
    write(tmp_path / "status.dat", critical(T0 + 31, since=T0 + 20, ack=1))
    follower.read_once()
    assert [(i["type"], i["acknowledged"]) for i in taken(forwarder)] == [
        ("STATUS", "true")]
    assert follower.log_state.came_back == {}


def test_the_end_in_one_read_and_the_problem_in_the_next_across_a_restart(
        tmp_path: Path, open_problem: tuple[NagiosFollower, Forwarder, Path]) -> None:
    """The recovery is in the log after the status.dat read (which still shows the
    problem): kept, in the state file, until the log says whether it came back."""
    follower, forwarder, log = open_problem
    append(log, alert(T0 + 20, "BGP peer", "OK"))
    write(tmp_path / "status.dat", critical(T0 + 18, since=T0))
    follower.read_once()
    assert taken(forwarder) == []
    follower.finish()
    saved = json.loads((tmp_path / "state.json").read_text())["log"]
    assert saved["recovered"] == [["core-1", "BGP peer", T0 + 20, "OK", "BGP a=b"]]
    again, forwarder = make(tmp_path)
    append(log, alert(T0 + 30, "BGP peer", "CRITICAL"))
    write(tmp_path / "status.dat", ok(T0 + 25, since=T0 + 10))  # written in between
    again.read_once()
    assert brief(taken(forwarder)) == [
        ("RECOVERY", "BGP peer", "OK", None, str(T0 + 20)),
        ("PROBLEM", "BGP peer", "CRITICAL", str(T0 + 30), None)]
    again.finish()
    # Restarted again over that status.dat (not written since): nothing twice, nor
    # over the next one, written after the new problem began.
    third, forwarder = make(tmp_path)
    write(tmp_path / "status.dat", ok(T0 + 25, since=T0 + 10))
    third.read_once()
    assert taken(forwarder) == [] and third.sent[BGP][0] == "CRITICAL"
    write(tmp_path / "status.dat", critical(T0 + 35, since=T0 + 30))
    third.read_once()
    assert taken(forwarder) == []
    assert third.log_state is not None and third.log_state.came_back == {}


def test_a_recovery_not_followed_by_a_problem_stays_the_status_dat_path_s(
        tmp_path: Path, open_problem: tuple[NagiosFollower, Forwarder, Path]) -> None:
    follower, forwarder, log = open_problem
    append(log, alert(T0 + 20, "BGP peer", "OK")
           + alert(T0 + 22, "BGP peer", "CRITICAL", kind="SOFT")
           + alert(T0 + 23, "BGP peer", "OK", kind="SOFT"))  # retries only: no problem
    write(tmp_path / "status.dat", ok(T0 + 25, since=T0 + 10))
    follower.read_once()
    assert brief(taken(forwarder)) == [("RECOVERY", "BGP peer", "OK", None, str(T0 + 20))]
    assert follower.log_state is not None and follower.log_state.recovered == {}
    # Later problems are episodes between reads, as before.
    append(log, alert(T0 + 30, "BGP peer", "CRITICAL") + alert(T0 + 32, "BGP peer", "OK"))
    write(tmp_path / "status.dat", ok(T0 + 35, since=T0 + 22))
    follower.read_once()
    assert brief(taken(forwarder)) == [
        ("PROBLEM", "BGP peer", "CRITICAL", str(T0 + 30), None),
        ("RECOVERY", "BGP peer", "OK", None, str(T0 + 32))]
    assert follower.stats.came_back == 0


def test_back_in_a_part_of_the_log_not_read_it_stays_one_problem(
        tmp_path: Path, open_problem: tuple[NagiosFollower, Forwarder, Path]) -> None:
    """The recovery read, then a rotation whose new file begins with the problem as a
    CURRENT state: when it came back is unknown, the end is forgotten."""
    follower, forwarder, log = open_problem
    append(log, alert(T0 + 20, "BGP peer", "OK"))
    write(tmp_path / "status.dat", critical(T0 + 18, since=T0))
    follower.read_once()
    log.rename(tmp_path / "elsewhere.log")  # not an archive: the old file's rest lost
    log.write_text(f"[{T0 + 40}] CURRENT SERVICE STATE: core-1;BGP peer;CRITICAL;HARD;1;x\n"
                   + alert(T0 + 41, "BGP peer", "WARNING"))
    write(tmp_path / "status.dat", critical(T0 + 45, since=T0 + 30))
    follower.read_once()
    assert taken(forwarder) == []
    assert follower.log_state is not None and follower.log_state.recovered == {}


def test_a_problem_back_in_a_downtime_is_sent_suppressed(
        tmp_path: Path, open_problem: tuple[NagiosFollower, Forwarder, Path]) -> None:
    follower, forwarder, log = open_problem
    append(log, alert(T0 + 20, "BGP peer", "OK") + alert(T0 + 30, "BGP peer", "CRITICAL"))
    write(tmp_path / "status.dat", written(T0 + 35, service("BGP peer", 2, since=T0 + 30,
                                                            downtime=1),
                                           service("LDP session", 0, since=T0 - 100),
                                           downtime(3, "ann", "peer maintenance")))
    follower.read_once()
    said = f"downtime 3 by ann until {AT_1H}: peer maintenance"
    assert [(i["type"], i["suppressed"], i.get("suppressed_by")) for i in taken(forwarder)
            ] == [("RECOVERY", "downtime", said), ("PROBLEM", "downtime", said)]


def test_cycles_within_one_second_keep_the_log_s_order(
        tmp_path: Path, open_problem: tuple[NagiosFollower, Forwarder, Path]) -> None:
    """Passive results handled in one second: each start is sent a millisecond after
    the end before it, or the engine would read the new problem as a re-delivery."""
    follower, forwarder, log = open_problem
    append(log, "".join(alert(T0 + 20, "BGP peer", state)
                        for state in ("OK", "CRITICAL", "OK", "CRITICAL")))
    write(tmp_path / "status.dat", critical(T0 + 21, since=T0 + 20))
    follower.read_once()
    assert brief(taken(forwarder)) == [
        ("RECOVERY", "BGP peer", "OK", None, str(T0 + 20)),
        ("PROBLEM", "BGP peer", "CRITICAL", f"{T0 + 20}.001", None),
        ("RECOVERY", "BGP peer", "OK", None, f"{T0 + 20}.001"),
        ("PROBLEM", "BGP peer", "CRITICAL", f"{T0 + 20}.002", None)]


def test_without_the_log_it_stays_one_problem(tmp_path: Path) -> None:
    from tests.unit.test_nagios_follow import make as make_without_log

    follower, forwarder = make_without_log(tmp_path)
    write(tmp_path / "status.dat", critical(T0 + 12, since=T0))
    follower.read_once()
    assert len(taken(forwarder)) == 1
    write(tmp_path / "status.dat", critical(T0 + 35, since=T0 + 30))
    follower.read_once()
    assert taken(forwarder) == []


# -- what the engine makes of it --------------------------------------------------------

def dispositions(runtime: Runtime, items: list[dict[str, str]], at: float) -> list[str]:
    return [next(iter(send(runtime, item, at).dispositions)) for item in items]


def test_the_engine_ends_the_alert_and_re_fires_it_each_time(
        runtime: Runtime, tmp_path: Path,
        open_problem: tuple[NagiosFollower, Forwarder, Path]) -> None:
    follower, forwarder, log = open_problem
    send(runtime, {"type": "PROBLEM", "host": "core-1", "address": "192.0.2.1",
                   "check": "BGP peer", "state": "CRITICAL", "output": "x",
                   "acknowledged": "false", "suppressed": "false", "flapping": "false",
                   "since": str(T0)}, T0 + 12)
    append(log, "".join(alert(T0 + 20, "BGP peer", state)
                        for state in ("OK", "CRITICAL", "OK", "CRITICAL")))
    write(tmp_path / "status.dat", critical(T0 + 21, since=T0 + 20))
    follower.read_once()
    assert dispositions(runtime, taken(forwarder), T0 + 22) == [
        "resolved", "refired", "resolved", "refired"]
    (row,) = alert_rows(runtime)
    assert (row.status, row.starts_at, row.episode_start) == (
        "firing", T0, pytest.approx(T0 + 20.002))


def test_the_engine_starts_a_new_alert_when_it_came_back_long_after_it_began(
        runtime: Runtime, tmp_path: Path,
        open_problem: tuple[NagiosFollower, Forwarder, Path]) -> None:
    """Back more than max_incident_span (300 s) after the alert began: a new one."""
    follower, forwarder, log = open_problem
    send(runtime, {"type": "PROBLEM", "host": "core-1", "address": "192.0.2.1",
                   "check": "BGP peer", "state": "CRITICAL", "output": "x",
                   "acknowledged": "false", "suppressed": "false", "flapping": "false",
                   "since": str(T0)}, T0 + 12)
    append(log, alert(T0 + 400, "BGP peer", "OK") + alert(T0 + 500, "BGP peer", "CRITICAL"))
    write(tmp_path / "status.dat", critical(T0 + 505, since=T0 + 500))
    follower.read_once()
    assert dispositions(runtime, taken(forwarder), T0 + 506) == ["resolved", "new"]
    old, new = alert_rows(runtime)
    assert (old.status, old.starts_at, old.ends_at) == ("resolved", T0, T0 + 400)
    assert (new.status, new.starts_at, new.ends_at) == ("firing", T0 + 500, None)


def test_when_status_dat_was_written_is_its_info_block_s_created() -> None:
    from connectors.nagios_status import written_at

    assert written_at(written(T0 + 7, service("BGP peer", 2))) == T0 + 7
    assert written_at(status().replace("\tcreated=1800000000\n", "")) is None
    assert written_at(status().replace("created=1800000000", "created=soon")) is None
    assert written_at("") is None
