"""Who acknowledged a Nagios problem and which downtimes suppress it: status.dat's
acknowledgement comments and downtime blocks read (connectors/nagios_status.py), sent
by ``aiops nagios follow`` as the labels ``acknowledged_by`` and ``suppressed_by``
when only they change (aiops/nagios_follower.py), kept across a restart, and shown by
the engine's alert, API and incident page. The blocks are as Nagios Core 4.4 writes
them (read from the status.dat of tests/integration/test_nagios_real.py's Nagios)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiops.api import create_app
from aiops.engine.alert_status import take_latest
from aiops.runtime import Runtime
from connectors.nagios_status import parse_status
from tests.unit.test_nagios_follow import make, service, status, taken, write
from tests.unit.test_nagios_status_reports import OFF, alert_rows, body, send

T0 = 1_800_000_000
# 1_800_003_600 and 1_800_007_200 as the labels write them (UTC).
AT_1H, AT_2H = "2027-01-15T09:00:00Z", "2027-01-15T10:00:00Z"


def comment(entry_type: int, author: str, text: str, *, number: int = 1,
            entered: int = T0 + 20, check: str | None = "BGP peer",
            drop: str = "") -> str:
    """A ``servicecomment`` block (``hostcomment`` when ``check`` is None); ``drop``
    leaves that field out."""
    kind = "hostcomment" if check is None else "servicecomment"
    fields = [("host_name", "core-1"), ("service_description", check),
              ("entry_type", entry_type), ("comment_id", number), ("source", 0),
              ("persistent", 1), ("entry_time", entered), ("expires", 0),
              ("expire_time", 0), ("author", author), ("comment_data", text)]
    return _block(kind, fields, drop)


def downtime(number: int, author: str, text: str, *, end: int = T0 + 3600,
             check: str | None = "BGP peer", fixed: int = 1, in_effect: int = 1,
             flex_start: int = 0, duration: int = 3600, drop: str = "") -> str:
    """A ``servicedowntime`` block (``hostdowntime`` when ``check`` is None)."""
    kind = "hostdowntime" if check is None else "servicedowntime"
    fields = [("host_name", "core-1"), ("service_description", check),
              ("downtime_id", number), ("comment_id", number + 10),
              ("entry_time", T0), ("start_time", T0), ("flex_downtime_start", flex_start),
              ("end_time", end), ("triggered_by", 0), ("fixed", fixed),
              ("duration", duration), ("is_in_effect", in_effect),
              ("start_notification_sent", in_effect), ("author", author),
              ("comment", text)]
    return _block(kind, fields, drop)


def _block(kind: str, fields: list[tuple[str, object]], drop: str) -> str:
    lines = "".join(f"\t{key}={value}\n" for key, value in fields
                    if value is not None and key != drop)
    return f"{kind} {{\n{lines}\t}}\n\n"


def host_in_downtime(text: str) -> str:
    """The status file with the host core-1 in a downtime of its own."""
    return text.replace("\tplugin_output=up\n", "\tplugin_output=up\n"
                        "\tscheduled_downtime_depth=1\n", 1)


def test_an_acknowledged_problem_says_who_and_why_from_its_newest_comment() -> None:
    found = parse_status(status(
        service("BGP peer", 2, ack=1), service("LDP session", 2),
        # An earlier acknowledgement's persistent comment, a user comment, a downtime's.
        comment(4, "bob", "old ack", number=1, entered=T0 + 5),
        comment(1, "carl", "just a note", number=2, entered=T0 + 30),
        comment(2, "dan", "scheduled for fixed downtime", number=3, entered=T0 + 40),
        comment(4, "alice", 'replacing PSU, "rack 4"', number=4, entered=T0 + 20),
        # LDP is not acknowledged (any more): its persistent comment says nothing.
        comment(4, "erin", "stale", number=5, check="LDP session")))
    bgp, ldp = found["core-1", "BGP peer"], found["core-1", "LDP session"]
    assert (bgp.acknowledged, bgp.acknowledged_by) == (True, 'alice: replacing PSU, "rack 4"')
    assert (ldp.acknowledged, ldp.acknowledged_by) == (False, "")


def test_a_problem_in_downtimes_names_those_in_effect_sorted_by_id() -> None:
    found = parse_status(status(
        service("BGP peer", 2, downtime=2),
        downtime(9, "bob", "peer maintenance", end=T0 + 7200),
        downtime(3, "ann", "", end=T0 + 3600),
        # Flexible, not started yet: not in effect, not named.
        downtime(5, "dan", "later", fixed=0, in_effect=0),
        # Flexible and started: it ends its duration after its start.
        downtime(12, "erin", "flex", fixed=0, flex_start=T0 + 1800, duration=1800,
                 end=T0 + 90000)))
    bgp = found["core-1", "BGP peer"]
    assert (bgp.downtime, bgp.suppressed_by) == (
        True, f"downtime 3 by ann until {AT_1H}; downtime 9 by bob until {AT_2H}: "
              f"peer maintenance; downtime 12 by erin until {AT_1H}: flex")


def test_a_host_s_downtime_suppresses_its_services_by_that_downtime() -> None:
    """Nagios counts a host's downtime in the host's ``scheduled_downtime_depth`` only
    (its services read 0) and notifies none of their problems: here they read in that
    downtime, named, with their own beside it."""
    found = parse_status(host_in_downtime(status(
        service("BGP peer", 2, downtime=1), service("LDP session", 2),
        downtime(2, "carl", "host move", check=None, end=T0 + 7200),
        downtime(1, "bob", "peer maintenance"))))
    host, bgp, ldp = (found["core-1", name] for name in ("host", "BGP peer", "LDP session"))
    assert (host.downtime, host.suppressed_by) == (
        True, f"downtime 2 by carl until {AT_2H}: host move")
    assert (ldp.downtime, ldp.suppressed_by) == (True, host.suppressed_by)
    assert bgp.suppressed_by == (f"downtime 1 by bob until {AT_1H}: peer maintenance; "
                                 f"{host.suppressed_by}")


@pytest.mark.parametrize("bad", [
    comment(4, "alice", "on it", drop="author"),
    comment(4, "alice", "on it", drop="comment_data"),
    comment(4, "alice", "on it", drop="entry_type"),
    comment(4, "alice", "on it", drop="host_name"),
    comment(4, "alice", "on it", drop="service_description"),
    comment(4, "alice", "on it").replace("entry_time=", "entry_time=soon"),
    downtime(1, "bob", "maintenance", drop="author"),
    downtime(1, "bob", "maintenance", drop="end_time"),
    downtime(1, "bob", "maintenance", drop="downtime_id"),
    downtime(1, "bob", "maintenance").replace("downtime_id=1", "downtime_id=x"),
    # A year out of range.
    downtime(1, "bob", "maintenance").replace(f"end_time={T0 + 3600}", f"end_time={'9' * 30}"),
])
def test_a_comment_or_downtime_block_missing_a_field_is_skipped(bad: str) -> None:
    """The file is whole; only who or which is not said: still acknowledged and in a
    downtime, as the object's own block says."""
    found = parse_status(status(service("BGP peer", 2, ack=1, downtime=1), bad))
    bgp = found["core-1", "BGP peer"]
    assert (bgp.acknowledged, bgp.downtime) == (True, True)
    assert (bgp.acknowledged_by, bgp.suppressed_by) == ("", "")


def test_the_follower_sends_a_change_of_who_or_which_alone_and_a_restart_does_not(
        tmp_path: Path) -> None:
    follower, forwarder = make(tmp_path)
    dat = tmp_path / "status.dat"
    write(dat, status(service("BGP peer", 2, ack=1), comment(4, "alice", "replacing PSU")))
    follower.read_once()
    (first,) = taken(forwarder)
    assert (first["type"], first["acknowledged"], first["acknowledged_by"]) == (
        "PROBLEM", "true", "alice: replacing PSU")
    # Acknowledged again by someone else: only acknowledged_by changed.
    write(dat, status(service("BGP peer", 2, ack=1), comment(4, "alice", "replacing PSU"),
                      comment(4, "bob", "PSU shipped", number=2, entered=T0 + 60)))
    follower.read_once()
    assert [(i["type"], i["acknowledged_by"]) for i in taken(forwarder)] == [
        ("STATUS", "bob: PSU shipped")]
    # A downtime begins, then a second one: each is a report of which.
    ack = comment(4, "bob", "PSU shipped", number=2, entered=T0 + 60)
    write(dat, status(service("BGP peer", 2, ack=1, downtime=1), ack,
                      downtime(1, "ann", "window")))
    follower.read_once()
    write(dat, status(service("BGP peer", 2, ack=1, downtime=2), ack,
                      downtime(1, "ann", "window"), downtime(4, "carl", "")))
    follower.read_once()
    assert [(i["type"], i["suppressed"], i["suppressed_by"]) for i in taken(forwarder)] == [
        ("STATUS", "downtime", f"downtime 1 by ann until {AT_1H}: window"),
        ("STATUS", "downtime", f"downtime 1 by ann until {AT_1H}: window; "
                               f"downtime 4 by carl until {AT_1H}")]
    follower.finish()
    (saved,) = json.loads((tmp_path / "state.json").read_text())["sent"]
    assert saved[3]["acknowledged_by"] == "bob: PSU shipped"
    assert saved[3]["suppressed_by"].endswith(f"downtime 4 by carl until {AT_1H}")
    # Restarted on the same file: nothing to send; the state file had every label.
    again, forwarder = make(tmp_path)
    write(dat, status(service("BGP peer", 2, ack=1, downtime=2), ack,
                      downtime(1, "ann", "window"), downtime(4, "carl", "")))
    again.read_once()
    assert taken(forwarder) == []
    # The acknowledgement removed (its persistent comment stays) and the downtimes
    # over: the report says acknowledged and suppressed without who or which.
    write(dat, status(service("BGP peer", 2), ack))
    again.read_once()
    (last,) = taken(forwarder)
    assert (last["type"], last["acknowledged"], last["suppressed"]) == (
        "STATUS", "false", "false")
    assert "acknowledged_by" not in last and "suppressed_by" not in last


def test_take_latest_ends_acknowledged_by_with_an_acknowledged_that_does_not_say() -> None:
    during = {"k": "v", "acknowledged": "true", "acknowledged_by": "alice: PSU"}
    assert take_latest(during, {"acknowledged": "false"}) == {"k": "v",
                                                              "acknowledged": "false"}
    # The sender cannot say who: the old word goes too.
    assert take_latest(during, {"acknowledged": "true"}) == {"k": "v", "acknowledged": "true"}
    # An event saying nothing of the acknowledgement leaves it.
    assert take_latest(during, {"suppressed": "false"}) == during | {"suppressed": "false"}
    assert take_latest(during, {"acknowledged": "true", "acknowledged_by": "bob: x"}) == (
        during | {"acknowledged_by": "bob: x"})


def test_the_alert_the_api_and_the_incident_page_say_who_and_which(
        runtime: Runtime, tmp_path: Path) -> None:
    """The follower's report through the nagios mapping: one alert (the labels do not
    identify it) that reads who and which; a PROBLEM notification of a new state
    (acknowledged false, nothing of who) clears who."""
    send(runtime, body("PROBLEM", since=str(T0), **OFF), T0 + 5)
    follower, forwarder = make(tmp_path)
    write(tmp_path / "status.dat", status(service("BGP peer", 2, ack=1, downtime=1),
                                          comment(4, "alice", "replacing PSU"),
                                          downtime(7, "bob", "rack move")))
    follower.read_once()
    (item,) = taken(forwarder)
    assert dict(send(runtime, {**item, "address": "192.0.2.1"}, T0 + 20)
                .dispositions) == {"duplicate": 1}
    (row,) = alert_rows(runtime)
    assert (row.labels["acknowledged_by"], row.labels["suppressed_by"]) == (
        "alice: replacing PSU", f"downtime 7 by bob until {AT_1H}: rack move")
    client = create_app(runtime=runtime).test_client()
    detail = client.get(f"/api/v1/incidents/{row.incident_id}").get_json()
    (alert,) = detail["alerts"]
    assert alert["labels"]["acknowledged_by"] == "alice: replacing PSU"
    page = client.get(f"/incidents/{row.incident_id}").get_data(as_text=True)
    assert '<span class="status-by acknowledged-by">by alice: replacing PSU</span>' in page
    assert (f'<span class="status-by suppressed-by">downtime 7 by bob until {AT_1H}: '
            'rack move</span>') in page
    send(runtime, body("PROBLEM", state="WARNING", **OFF), T0 + 40)
    (row,) = alert_rows(runtime)
    assert (row.labels["acknowledged"], row.labels["suppressed"]) == ("false", "false")
    assert "acknowledged_by" not in row.labels and "suppressed_by" not in row.labels


def test_incidents_show_says_who_and_which_where_known() -> None:
    """``aiops incidents show``'s note of an alert (aiops.cli_incidents)."""
    from aiops.cli_incidents import _alert_note

    assert _alert_note({"acknowledged": "true", "acknowledged_by": "alice: PSU",
                        "suppressed": "downtime", "suppressed_by": "downtime 7 by bob"}) == (
        "  [acknowledged by alice: PSU, suppressed: downtime 7 by bob]")
    assert _alert_note({"acknowledged": "true", "suppressed": "maintenance"}) == (
        "  [acknowledged, suppressed: maintenance]")
    assert _alert_note({"acknowledged": "false", "acknowledged_by": "stale"}) == ""
