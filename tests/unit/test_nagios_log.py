"""``aiops nagios follow --log-file``: Nagios's log lines (connectors/nagios_log.py), the
log read from where it stopped across rotations (aiops/file_tail.py), and the problems
that began and ended between two reads of status.dat, forwarded once
(aiops/nagios_log_episodes.py, aiops/nagios_follower.py)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from aiops.file_tail import FileTail, TailPosition
from aiops.forwarder import Forwarder
from aiops.nagios_follower import NagiosFollower
from aiops.runtime import Runtime
from connectors.nagios_log import LoggedState, parse_line
from tests.unit.test_nagios_acknowledgements import AT_1H, downtime
from tests.unit.test_nagios_follow import OBJECTS, T0, service, status, taken, write
from tests.unit.test_nagios_status_reports import alert_rows, send


def alert(when: int, check: str, state: str, kind: str = "HARD",
          output: str = "BGP a=b") -> str:
    """A line as Nagios 4.4 writes it for a service (``check``) or the host."""
    if check == "host":
        return f"[{when}] HOST ALERT: core-1;{state};{kind};1;{output}\n"
    return f"[{when}] SERVICE ALERT: core-1;{check};{state};{kind};1;{output}\n"


NOISE = (f"[{T0}] SERVICE NOTIFICATION: aiops;core-1;BGP peer;CRITICAL;notify;down\n"
         f"[{T0}] EXTERNAL COMMAND: PROCESS_SERVICE_CHECK_RESULT;core-1;BGP peer;2;x\n"
         f"[{T0}] Warning: the check of service 'BGP peer' timed out\n")


# -- the lines -------------------------------------------------------------------------

def test_alerts_and_states_are_read_with_output_holding_semicolons() -> None:
    assert parse_line(alert(T0, "BGP peer", "CRITICAL", output="down; peer a=b")) == \
        LoggedState(time=T0, host="core-1", check="BGP peer", state="CRITICAL", hard=True,
                    output="down; peer a=b", change=True)
    host = parse_line(alert(T0 + 1, "host", "DOWN", kind="SOFT", output=""))
    assert host == LoggedState(time=T0 + 1, host="core-1", check="host", state="DOWN",
                               hard=False, output="", change=True)
    current = parse_line(f"[{T0}] CURRENT SERVICE STATE: core-1;BGP peer;OK;HARD;1;up")
    initial = parse_line(f"[{T0}] INITIAL HOST STATE: core-1;UNREACHABLE;HARD;3;x")
    assert (current.state, current.change, current.is_problem) == ("OK", False, False)
    assert (initial.check, initial.state, initial.change, initial.is_problem) == (
        "host", "UNREACHABLE", False, True)


@pytest.mark.parametrize("line", [
    *NOISE.splitlines(),
    f"[{T0}] LOG ROTATION: DAILY",
    f"[{T0}] SERVICE ALERT: core-1;BGP",  # cut short
    f"[{T0}] SERVICE ALERT: core-1;BGP peer;CRITICAL;HARD;1",  # the output's ; missing
    f"[{T0}] SERVICE ALERT: core-1;BGP peer;CRITICL;HARD;1;x",
    f"[{T0}] SERVICE ALERT: core-1;BGP peer;DOWN;HARD;1;x",  # a host's state
    f"[{T0}] HOST ALERT: core-1;CRITICAL;HARD;1;x",  # a service's state
    f"[{T0}] SERVICE ALERT: core-1;BGP peer;CRITICAL;FIRM;1;x",
    f"[{T0}] SERVICE ALERT: core-1;BGP peer;CRITICAL;HARD;one;x",
    f"[{T0}] SERVICE ALERT: ;BGP peer;CRITICAL;HARD;1;x",
    "[18000000x0] SERVICE ALERT: core-1;BGP peer;CRITICAL;HARD;1;x",
    "[²] SERVICE ALERT: core-1;BGP peer;CRITICAL;HARD;1;x",
    f"{T0} SERVICE ALERT: core-1;BGP peer;CRITICAL;HARD;1;x",
    f"[{T0}]SERVICE ALERT: core-1;BGP peer;CRITICAL;HARD;1;x",
    "", "\x00\x01garbage", "[",
])
def test_other_lines_and_garbled_ones_are_no_state(line: str) -> None:
    assert parse_line(line) is None


# -- the follower ----------------------------------------------------------------------

def make(tmp_path: Path, forwarder: Forwarder | None = None
         ) -> tuple[NagiosFollower, Forwarder]:
    (tmp_path / "objects.cache").write_text(OBJECTS)
    forwarder = forwarder or Forwarder("http://127.0.0.1:9/api/v1/webhooks/nagios")
    follower = NagiosFollower(tmp_path / "status.dat", tmp_path / "objects.cache",
                              forwarder, state_file=tmp_path / "state.json",
                              log_file=tmp_path / "nagios.log")
    return follower, forwarder


def append(path: Path, text: str) -> None:
    with path.open("a") as out:
        out.write(text)


def brief(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(i["type"], i["check"], i["state"], i.get("since"), i.get("ended"))
            for i in items]


def fine(*names: str) -> str:
    """status.dat with these services fine since long before the log's lines (a
    status.dat never says a hard change the log read after it does not have)."""
    return status(*(service(name, 0, since=T0 - 100) for name in names))


@pytest.fixture
def started(tmp_path: Path) -> tuple[NagiosFollower, Forwarder, Path]:
    """A follower that read status.dat (all fine) and a log with history once: the
    history before its first read is not sent, status.dat says what is open."""
    log = tmp_path / "nagios.log"
    log.write_text(NOISE + alert(T0 - 500, "BGP peer", "CRITICAL")
                   + alert(T0 - 400, "BGP peer", "OK"))
    follower, forwarder = make(tmp_path)
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    assert follower.read_once()
    assert taken(forwarder) == []
    return follower, forwarder, log


def test_a_problem_between_two_reads_is_sent_with_its_start_then_its_end(
        tmp_path: Path, started: tuple[NagiosFollower, Forwarder, Path]) -> None:
    follower, forwarder, log = started
    append(log, alert(T0 + 3, "BGP peer", "CRITICAL", kind="SOFT") + NOISE
           + alert(T0 + 5, "BGP peer", "CRITICAL", output="peer down")
           + alert(T0 + 7, "BGP peer", "OK", output="peer up"))
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    follower.read_once()
    problem, recovery = taken(forwarder)
    # Its start is the first SOFT line's, as $LASTSERVICESTATECHANGE$ would say.
    assert brief([problem, recovery]) == [("PROBLEM", "BGP peer", "CRITICAL", str(T0 + 3),
                                           None),
                                          ("RECOVERY", "BGP peer", "OK", None, str(T0 + 7))]
    # The shape the status.dat path (and aiops-notify) sends: the mapping is unchanged.
    assert problem == {"type": "PROBLEM", "host": "core-1", "address": "192.0.2.1",
                       "check": "BGP peer", "state": "CRITICAL", "output": "peer down",
                       "acknowledged": "false", "suppressed": "false",
                       "flapping": "false", "since": str(T0 + 3)}
    assert recovery["output"] == "peer up" and follower.stats.between_reads == 1
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    follower.read_once()  # nothing new in the log: nothing sent again
    assert taken(forwarder) == []


def test_the_engine_makes_of_it_one_alert_that_fired_and_resolved(
        runtime: Runtime, tmp_path: Path,
        started: tuple[NagiosFollower, Forwarder, Path]) -> None:
    follower, forwarder, log = started
    append(log, alert(T0 + 3, "LDP session", "CRITICAL")
           + alert(T0 + 7, "LDP session", "OK"))
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    follower.read_once()
    problem, recovery = taken(forwarder)
    assert dict(send(runtime, problem, T0 + 12).dispositions) == {"new": 1}
    send(runtime, recovery, T0 + 12)
    (row,) = alert_rows(runtime)
    assert (row.name, row.entity, row.status, row.starts_at, row.ends_at) == (
        "LDP session", "core-1", "resolved", T0 + 3, T0 + 7)


def test_a_problem_status_dat_shows_is_its_own_and_not_sent_twice(
        tmp_path: Path, started: tuple[NagiosFollower, Forwarder, Path]) -> None:
    follower, forwarder, log = started
    append(log, alert(T0, "BGP peer", "CRITICAL"))
    write(tmp_path / "status.dat", status(service("BGP peer", 2), service("LDP session", 0)))
    follower.read_once()
    assert brief(taken(forwarder)) == [("PROBLEM", "BGP peer", "CRITICAL", str(T0), None)]
    append(log, alert(T0 + 20, "BGP peer", "OK"))
    write(tmp_path / "status.dat", status(service("BGP peer", 0, since=T0 + 10),
                                          service("LDP session", 0)))
    follower.read_once()
    assert brief(taken(forwarder)) == [("RECOVERY", "BGP peer", "OK", None, str(T0 + 20))]
    assert follower.stats.between_reads == 0


def test_a_status_dat_written_inside_an_episode_the_log_sent_does_not_send_it_again(
        tmp_path: Path, started: tuple[NagiosFollower, Forwarder, Path]) -> None:
    """status.dat was written while the problem was open, the log read after has its
    end too: the log sends it whole, and status.dat's stale view of it is left out."""
    follower, forwarder, log = started
    append(log, alert(T0 + 5, "LDP session", "CRITICAL")
           + alert(T0 + 8, "LDP session", "OK"))
    write(tmp_path / "status.dat", status(service("BGP peer", 0),
                                          service("LDP session", 2, since=T0 + 5)))
    follower.read_once()
    assert brief(taken(forwarder)) == [
        ("PROBLEM", "LDP session", "CRITICAL", str(T0 + 5), None),
        ("RECOVERY", "LDP session", "OK", None, str(T0 + 8))]
    write(tmp_path / "status.dat", status(service("BGP peer", 0),
                                          service("LDP session", 0, since=T0 - 2)))
    follower.read_once()
    assert taken(forwarder) == []
    assert follower.log_state is not None and follower.log_state.forwarded == {}


def test_a_flap_then_a_new_problem_sends_the_old_episode_before_the_new_one(
        tmp_path: Path, started: tuple[NagiosFollower, Forwarder, Path]) -> None:
    follower, forwarder, log = started
    append(log, alert(T0 + 1, "BGP peer", "WARNING") + alert(T0 + 2, "BGP peer", "CRITICAL")
           + alert(T0 + 3, "BGP peer", "OK") + alert(T0 + 6, "BGP peer", "CRITICAL"))
    write(tmp_path / "status.dat", status(service("BGP peer", 2, since=T0 + 6),
                                          service("LDP session", 0)))
    follower.read_once()
    # The change of state within the episode is sent as an escalation (no start).
    assert brief(taken(forwarder)) == [
        ("PROBLEM", "BGP peer", "WARNING", str(T0 + 1), None),
        ("PROBLEM", "BGP peer", "CRITICAL", None, None),
        ("RECOVERY", "BGP peer", "OK", None, str(T0 + 3)),
        ("PROBLEM", "BGP peer", "CRITICAL", str(T0 + 6), None)]


def test_a_problem_between_reads_in_a_downtime_is_sent_suppressed(
        tmp_path: Path, started: tuple[NagiosFollower, Forwarder, Path]) -> None:
    """The log says no downtime: the one status.dat has at the read is the label."""
    follower, forwarder, log = started
    append(log, alert(T0 + 1, "BGP peer", "CRITICAL") + alert(T0 + 2, "BGP peer", "OK"))
    write(tmp_path / "status.dat", status(service("BGP peer", 0, downtime=1),
                                          service("LDP session", 0),
                                          downtime(3, "ann", "peer maintenance")))
    follower.read_once()
    items = taken(forwarder)
    assert [(i["type"], i["suppressed"], i.get("suppressed_by"), i["acknowledged"])
            for i in items] == [
        ("PROBLEM", "downtime", f"downtime 3 by ann until {AT_1H}: peer maintenance",
         "false"),
        ("RECOVERY", "downtime", f"downtime 3 by ann until {AT_1H}: peer maintenance",
         "false")]


def test_an_episode_read_over_two_reads_and_a_host_s(
        tmp_path: Path, started: tuple[NagiosFollower, Forwarder, Path]) -> None:
    """Its start is in the log after the status.dat read (the log is newer), its end
    before the next one: sent at the second read."""
    follower, forwarder, log = started
    append(log, alert(T0 + 9, "host", "DOWN", output="down"))
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    follower.read_once()
    assert taken(forwarder) == []
    append(log, alert(T0 + 12, "host", "UP", output="up"))
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    follower.read_once()
    assert brief(taken(forwarder)) == [("PROBLEM", "host", "DOWN", str(T0 + 9), None),
                                       ("RECOVERY", "host", "UP", None, str(T0 + 12))]


def test_a_problem_whose_end_the_log_never_says_is_forgotten_when_status_dat_is_past_it(
        tmp_path: Path, started: tuple[NagiosFollower, Forwarder, Path]) -> None:
    """Nagios restarted without its retained states: fine again, no line says so."""
    follower, forwarder, log = started
    append(log, alert(T0 + 20, "BGP peer", "CRITICAL"))
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    follower.read_once()  # status.dat written before it: its hard change is older
    assert follower.log_state is not None and list(follower.log_state.open) == [
        ("core-1", "BGP peer")]
    write(tmp_path / "status.dat", status(service("BGP peer", 0, since=T0 + 20),
                                          service("LDP session", 0)))
    follower.read_once()  # fine, changed at T0 + 30: after it turned hard
    assert follower.log_state.open == {}
    append(log, alert(T0 + 40, "BGP peer", "CRITICAL") + alert(T0 + 42, "BGP peer", "OK"))
    write(tmp_path / "status.dat", status(service("BGP peer", 0, since=T0 + 32),
                                          service("LDP session", 0)))
    follower.read_once()
    assert brief(taken(forwarder)) == [("PROBLEM", "BGP peer", "CRITICAL", str(T0 + 40), None),
                                       ("RECOVERY", "BGP peer", "OK", None, str(T0 + 42))]


def test_a_read_that_finds_no_log_forgets_nothing(
        tmp_path: Path, started: tuple[NagiosFollower, Forwarder, Path]) -> None:
    """Rotated, the new file not there yet: the end is in the old file, read when the
    new one appears, though status.dat read meanwhile says the problem is over."""
    follower, forwarder, log = started
    append(log, alert(T0 + 20, "BGP peer", "CRITICAL"))
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    follower.read_once()
    append(log, alert(T0 + 30, "BGP peer", "OK"))
    (tmp_path / "archives").mkdir()
    log.rename(tmp_path / "archives" / "nagios-11-24-2026-00.log")
    write(tmp_path / "status.dat", status(service("BGP peer", 0, since=T0 + 20),
                                          service("LDP session", 0)))
    follower.read_once()
    assert taken(forwarder) == []
    log.write_text(f"[{T0 + 40}] LOG ROTATION: DAILY\n")
    write(tmp_path / "status.dat", status(service("BGP peer", 0, since=T0 + 20),
                                          service("LDP session", 0)))
    follower.read_once()
    assert brief(taken(forwarder)) == [("PROBLEM", "BGP peer", "CRITICAL", str(T0 + 20), None),
                                       ("RECOVERY", "BGP peer", "OK", None, str(T0 + 30))]


def test_a_partial_last_line_is_left_to_the_next_read(
        tmp_path: Path, started: tuple[NagiosFollower, Forwarder, Path]) -> None:
    follower, forwarder, log = started
    whole = alert(T0 + 1, "BGP peer", "CRITICAL") + alert(T0 + 2, "BGP peer", "OK")
    append(log, whole[:-12])  # Nagios is writing the recovery's line
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    follower.read_once()
    assert taken(forwarder) == []
    append(log, whole[-12:])
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    follower.read_once()
    assert brief(taken(forwarder)) == [("PROBLEM", "BGP peer", "CRITICAL", str(T0 + 1), None),
                                       ("RECOVERY", "BGP peer", "OK", None, str(T0 + 2))]


def test_garbled_lines_are_skipped_and_the_rest_read(
        tmp_path: Path, started: tuple[NagiosFollower, Forwarder, Path]) -> None:
    follower, forwarder, log = started
    with log.open("ab") as out:
        out.write(alert(T0 + 1, "BGP peer", "CRITICAL").encode()
                  + b"\xff\xfe[garbage] SERVICE ALERT: core-1;\n"
                  + f"[{T0 + 2}] SERVICE ALERT: core-1;BGP peer;OK;HARD\n".encode()
                  + alert(T0 + 3, "BGP peer", "OK", output="caf\u00e9").encode())
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    follower.read_once()
    items = taken(forwarder)
    assert brief(items) == [("PROBLEM", "BGP peer", "CRITICAL", str(T0 + 1), None),
                            ("RECOVERY", "BGP peer", "OK", None, str(T0 + 3))]
    assert items[1]["output"] == "caf\u00e9"


def test_a_rotation_reads_the_rest_of_the_old_file_from_the_archives(
        tmp_path: Path, started: tuple[NagiosFollower, Forwarder, Path]) -> None:
    """As Nagios rotates: nagios.log renamed into log_archive_path, a new one begun
    with the current states (which change nothing)."""
    follower, forwarder, log = started
    append(log, alert(T0 + 1, "BGP peer", "CRITICAL"))
    (tmp_path / "archives").mkdir()
    log.rename(tmp_path / "archives" / "nagios-11-24-2026-00.log")
    log.write_text(f"[{T0 + 2}] LOG ROTATION: DAILY\n[{T0 + 2}] LOG VERSION: 2.0\n"
                   f"[{T0 + 2}] CURRENT SERVICE STATE: core-1;BGP peer;CRITICAL;HARD;1;x\n"
                   + alert(T0 + 4, "BGP peer", "OK"))
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    follower.read_once()
    assert brief(taken(forwarder)) == [("PROBLEM", "BGP peer", "CRITICAL", str(T0 + 1), None),
                                       ("RECOVERY", "BGP peer", "OK", None, str(T0 + 4))]


def test_a_rotated_file_not_found_or_a_truncated_one_is_read_from_its_beginning(
        tmp_path: Path, started: tuple[NagiosFollower, Forwarder, Path],
        caplog: pytest.LogCaptureFixture) -> None:
    follower, forwarder, log = started
    append(log, alert(T0 + 1, "BGP peer", "CRITICAL"))  # lost with the old file
    (tmp_path / "elsewhere").mkdir()  # not log_archive_path: not searched
    log.rename(tmp_path / "elsewhere" / "nagios.log.1")
    log.write_text(f"[{T0 + 2}] CURRENT SERVICE STATE: core-1;BGP peer;OK;HARD;1;x\n"
                   + alert(T0 + 3, "LDP session", "CRITICAL")
                   + alert(T0 + 4, "LDP session", "OK"))
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    with caplog.at_level(logging.WARNING):
        follower.read_once()
    assert brief(taken(forwarder)) == [
        ("PROBLEM", "LDP session", "CRITICAL", str(T0 + 3), None),
        ("RECOVERY", "LDP session", "OK", None, str(T0 + 4))]
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "was rotated and its old file" in said[0], said
    assert follower.log_state is not None and follower.log_state.open == {}
    # copytruncate: the same file, shorter than what was read.
    log.write_text(alert(T0 + 5, "BGP peer", "UNKNOWN") + alert(T0 + 6, "BGP peer", "OK"))
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        follower.read_once()
    assert brief(taken(forwarder)) == [("PROBLEM", "BGP peer", "UNKNOWN", str(T0 + 5), None),
                                       ("RECOVERY", "BGP peer", "OK", None, str(T0 + 6))]
    assert ["shrank" in r.getMessage() for r in caplog.records] == [True]


def test_a_restart_reads_on_from_where_the_engine_had_everything(
        tmp_path: Path, started: tuple[NagiosFollower, Forwarder, Path]) -> None:
    follower, forwarder, log = started
    append(log, alert(T0 + 1, "BGP peer", "CRITICAL") + alert(T0 + 2, "BGP peer", "OK"))
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    follower.read_once()
    assert len(taken(forwarder)) == 2
    follower.finish()
    saved = json.loads((tmp_path / "state.json").read_text())["log"]
    assert saved["position"][:4] == [os.stat(log).st_dev, os.stat(log).st_ino,
                                     log.stat().st_size, log.stat().st_mtime_ns]
    # Stopped; meanwhile LDP flaps, and one begins that the next read will see open.
    append(log, alert(T0 + 3, "LDP session", "CRITICAL") + alert(T0 + 4, "LDP session", "OK")
           + alert(T0 + 5, "BGP peer", "WARNING"))
    again, forwarder = make(tmp_path)
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    again.read_once()
    assert brief(taken(forwarder)) == [
        ("PROBLEM", "LDP session", "CRITICAL", str(T0 + 3), None),
        ("RECOVERY", "LDP session", "OK", None, str(T0 + 4))]
    again.finish()
    # Its start is kept: the episode ends after a second restart.
    append(log, alert(T0 + 6, "BGP peer", "OK"))
    third, forwarder = make(tmp_path)
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    third.read_once()
    assert brief(taken(forwarder)) == [("PROBLEM", "BGP peer", "WARNING", str(T0 + 5), None),
                                       ("RECOVERY", "BGP peer", "OK", None, str(T0 + 6))]


def test_an_episode_the_engine_did_not_get_is_sent_again_after_a_restart(
        tmp_path: Path, started: tuple[NagiosFollower, Forwarder, Path]) -> None:
    follower, forwarder, log = started
    append(log, alert(T0 + 1, "BGP peer", "CRITICAL") + alert(T0 + 2, "BGP peer", "OK"))
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    follower.read_once()
    follower.finish()  # the engine is away: both are still held
    again, forwarder = make(tmp_path)
    again.read_once()
    assert brief(taken(forwarder)) == [("PROBLEM", "BGP peer", "CRITICAL", str(T0 + 1), None),
                                       ("RECOVERY", "BGP peer", "OK", None, str(T0 + 2))]


def test_a_state_file_of_another_log_or_unreadable_starts_at_its_end(
        tmp_path: Path, started: tuple[NagiosFollower, Forwarder, Path],
        caplog: pytest.LogCaptureFixture) -> None:
    follower, forwarder, log = started
    follower.finish()
    state = json.loads((tmp_path / "state.json").read_text())
    append(log, alert(T0 + 1, "BGP peer", "CRITICAL") + alert(T0 + 2, "BGP peer", "OK"))
    for broken in ({**state["log"], "path": "/elsewhere/nagios.log"},
                   {**state["log"], "position": [1, 2]},
                   {**state["log"], "open": [["core-1", "BGP peer", "x"]]}):
        (tmp_path / "state.json").write_text(json.dumps({**state, "log": broken}))
        again, forwarder = make(tmp_path)
        with caplog.at_level(logging.WARNING):
            again.read_once()
        assert taken(forwarder) == []
        assert "reading" in caplog.records[-1].getMessage()


def test_a_log_missing_at_the_start_is_read_from_its_beginning_when_it_appears(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    follower, forwarder = make(tmp_path)
    write(tmp_path / "status.dat", fine("BGP peer"))
    with caplog.at_level(logging.WARNING):
        follower.read_once()
        write(tmp_path / "status.dat", fine("BGP peer"))
        follower.read_once()
    assert [r.getMessage() for r in caplog.records] == [
        f"{tmp_path / 'nagios.log'} is missing; read when it appears"]
    (tmp_path / "nagios.log").write_text(alert(T0 + 1, "BGP peer", "CRITICAL")
                                         + alert(T0 + 2, "BGP peer", "OK"))
    write(tmp_path / "status.dat", fine("BGP peer"))
    follower.read_once()
    assert [i["type"] for i in taken(forwarder)] == ["PROBLEM", "RECOVERY"]


# -- the file tail alone ---------------------------------------------------------------

def test_the_tail_reads_whole_lines_across_blocks(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("aiops.file_tail.BLOCK", 7)
    path = tmp_path / "x.log"
    path.write_text("first line\n")
    tail = FileTail(path)
    position = tail.read(None, lambda line: pytest.fail(line))  # from its end
    assert position is not None
    assert (position.device, position.inode, position.offset, position.mtime_ns) == (
        path.stat().st_dev, path.stat().st_ino, 11, path.stat().st_mtime_ns)
    append(path, "second, longer than a block\nthird\nfourth without its end")
    got: list[str] = []
    position = tail.read(position, got.append)
    assert got == ["second, longer than a block", "third"]
    assert position is not None and position.offset == len("first line\nsecond, longer "
                                                            "than a block\nthird\n")
    assert TailPosition.from_json(position.to_json()) == position
    # A position an earlier version kept: no time, no head.
    assert TailPosition.from_json([1, 2, 3]) == TailPosition(1, 2, 3)
    for wrong in ([1, 2, -3], [1, 2, 3, "t", None], [1, 2, 3, 4, 5], [1, 2, 3, 4]):
        with pytest.raises(ValueError, match="device, inode, offset"):
            TailPosition.from_json(wrong)
