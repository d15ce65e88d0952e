"""``aiops nagios follow``'s reading of status.dat (connectors/nagios_status.py) and
what it forwards (aiops/nagios_follower.py): a file cut short or garbled is refused and
ends nothing, a restart sends only what changed, and its alerts are the same conditions
as the notifications' (deploy/nagios/aiops-notify) through the nagios mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiops.forwarder import Forwarder
from aiops.nagios_follower import NagiosFollower
from aiops.runtime import Runtime
from connectors.nagios_status import StatusUnreadable, parse_objects, parse_status
from tests.unit.test_nagios_status_reports import OFF, alert_rows, body, send

T0 = 1_800_000_000


def service(name: str, state: int, *, ack: int = 0, downtime: int = 0, hard: int = 1,
            last_hard: int | None = None, output: str = "BGP a=b", since: int = T0,
            times: str = "") -> str:
    return (f"servicestatus {{\n\thost_name=core-1\n\tservice_description={name}\n{times}"
            f"\thas_been_checked=1\n\tcurrent_state={state}\n"
            f"\tlast_hard_state={state if last_hard is None else last_hard}\n"
            f"\tstate_type={hard}\n\tlast_state_change={since}\n"
            f"\tlast_hard_state_change={since + 10}\n\tplugin_output={output}\n"
            f"\tproblem_has_been_acknowledged={ack}\n\tis_flapping=0\n"
            f"\tscheduled_downtime_depth={downtime}\n\t}}\n\n")


def status(*blocks: str) -> str:
    return ("# NAGIOS STATE RETENTION FILE\ninfo {\n\tcreated=1800000000\n"
            "\tversion=4.4.6\n\t}\n\nhoststatus {\n\thost_name=core-1\n"
            "\thas_been_checked=1\n\tcurrent_state=0\n\tlast_hard_state=0\n"
            f"\tstate_type=1\n\tlast_state_change={T0}\n\tlast_hard_state_change={T0}\n"
            "\tplugin_output=up\n\t}\n\n" + "".join(blocks))


OBJECTS = ("define host {\n\thost_name\tcore-1\n\taddress\t192.0.2.1\n\t}\n\n"
           "define service {\n\thost_name\tcore-1\n\tservice_description\tBGP peer\n\t}\n\n"
           "define service {\n\thost_name\tcore-1\n\tservice_description\tLDP session\n\t}\n")


def test_the_parser_reads_hard_states_and_labels_and_a_value_holding_equals() -> None:
    found = parse_status(status(service("BGP peer", 2, ack=1, downtime=1),
                                service("LDP session", 2, hard=0, last_hard=0)))
    bgp, ldp, host = found["core-1", "BGP peer"], found["core-1", "LDP session"], \
        found["core-1", "host"]
    assert (bgp.state, bgp.output, bgp.acknowledged, bgp.downtime, bgp.started,
            bgp.changed) == ("CRITICAL", "BGP a=b", True, True, T0, T0 + 10)
    assert (ldp.state, ldp.is_problem) == ("OK", False)  # SOFT: still the hard OK
    assert (host.state, host.is_problem) == ("UP", False)


@pytest.mark.parametrize("text, says", [
    (status(service("BGP peer", 2))[:-40], "has no '='"),  # cut short in a line
    (status(service("BGP peer", 2)).rsplit("\tis_flapping", 1)[0], "ends inside"),
    (status(service("BGP peer", 2)).replace("info {", "inf"), "outside a block"),
    (status(service("BGP peer", 2)).split("hoststatus")[1], "without a name"),
    ("hoststatus {\n\thost_name=a\n\tcurrent_state=0\n\tstate_type=1\n\t}\n", "no 'info'"),
    ("", "no 'info'"),
    (status(service("BGP peer", 2)).replace("current_state=2", "current_state=x"),
     "unreadable state"),
    (status(service("BGP peer", 2)).replace("current_state=2", "current_state=7"),
     "unreadable state"),
    (status(service("BGP peer", 2)).replace("\tplugin_output=BGP a=b", "\tgarbage"),
     "has no '='"),
    (status(service("BGP peer", 2)).replace("service_description=BGP peer\n", ""),
     "without its name"),
])
def test_the_parser_refuses_a_file_cut_short_or_garbled(text: str, says: str) -> None:
    with pytest.raises(StatusUnreadable, match=says):
        parse_status(text)


def test_objects_cache_gives_addresses_and_what_is_configured() -> None:
    addresses, keys = parse_objects(OBJECTS)
    assert addresses == {"core-1": "192.0.2.1"}
    assert keys == {("core-1", "host"), ("core-1", "BGP peer"), ("core-1", "LDP session")}


def make(tmp_path: Path) -> tuple[NagiosFollower, Forwarder]:
    (tmp_path / "objects.cache").write_text(OBJECTS)
    forwarder = Forwarder("http://127.0.0.1:9/api/v1/webhooks/nagios")
    follower = NagiosFollower(tmp_path / "status.dat", tmp_path / "objects.cache",
                              forwarder, state_file=tmp_path / "state.json")
    return follower, forwarder


def taken(forwarder: Forwarder) -> list[dict[str, Any]]:
    """What the follower queued, as delivered (the engine took it)."""
    items = list(forwarder._queue)
    forwarder._queue.clear()
    return items


def write(path: Path, text: str, tick: list[int] = [0]) -> None:  # noqa: B006 - a counter
    """Rewrite the file so its size or time differs from the last read's."""
    tick[0] += 1
    path.write_text(text + "#" * (tick[0] % 7) + "\n")


def test_changes_only_after_the_first_read_and_a_restart_resends_nothing(
        tmp_path: Path) -> None:
    follower, forwarder = make(tmp_path)
    write(tmp_path / "status.dat", status(service("BGP peer", 2), service("LDP session", 2)))
    assert follower.read_once()
    first = taken(forwarder)
    assert [(i["type"], i["check"], i["since"], i["address"]) for i in first] == [
        ("PROBLEM", "BGP peer", str(T0), "192.0.2.1"),
        ("PROBLEM", "LDP session", str(T0), "192.0.2.1")]
    write(tmp_path / "status.dat", status(service("BGP peer", 2, ack=1),
                                          service("LDP session", 2)))
    follower.read_once()
    assert [(i["type"], i["acknowledged"]) for i in taken(forwarder)] == [("STATUS", "true")]
    follower.read_once()  # the file did not change: nothing read, nothing sent
    assert taken(forwarder) == [] and follower.stats.unchanged == 1
    follower.finish()
    # Stopped; meanwhile the acknowledgement is removed and LDP recovers.
    write(tmp_path / "status.dat", status(service("BGP peer", 2), service("LDP session", 0)))
    again, forwarder = make(tmp_path)
    again.read_once()
    assert [(i["type"], i["check"], i["acknowledged"], i.get("ended"))
            for i in taken(forwarder)] == [("STATUS", "BGP peer", "false", None),
                                           ("RECOVERY", "LDP session", "false",
                                            str(T0 + 10))]


def test_a_file_cut_short_or_missing_ends_nothing_and_is_read_again(tmp_path: Path) -> None:
    follower, forwarder = make(tmp_path)
    whole = status(service("BGP peer", 2), service("LDP session", 2))
    write(tmp_path / "status.dat", whole)
    follower.read_once()
    taken(forwarder)
    write(tmp_path / "status.dat", whole[:len(whole) // 2])  # cut short in a block
    assert not follower.read_once()
    (tmp_path / "status.dat").unlink()  # Nagios stopped
    assert not follower.read_once()
    # Cut short between blocks: parsed, but LDP is still configured, so not ended.
    write(tmp_path / "status.dat", status(service("BGP peer", 2)))
    assert follower.read_once()
    assert taken(forwarder) == [] and follower.stats.unreadable == 2
    # Deleted from the configuration: its alert is ended.
    (tmp_path / "objects.cache").write_text(OBJECTS.split("define service")[0]
                                            + "define service" + OBJECTS.split(
                                                "define service")[1])
    write(tmp_path / "status.dat", status(service("BGP peer", 2)))
    follower.read_once()
    assert [(i["type"], i["check"], i["output"]) for i in taken(forwarder)] == [
        ("RECOVERY", "LDP session", "no longer in Nagios's configuration")]


def test_a_change_the_engine_did_not_get_is_sent_again_after_a_restart(
        tmp_path: Path) -> None:
    follower, forwarder = make(tmp_path)
    write(tmp_path / "status.dat", status(service("BGP peer", 2)))
    follower.read_once()
    follower.finish()  # the engine is away: the problem is still held
    again, forwarder = make(tmp_path)
    again.read_once()
    assert [i["type"] for i in taken(forwarder)] == ["PROBLEM"]


def test_the_follower_s_alert_and_the_notification_s_are_one(
        runtime: Runtime, tmp_path: Path) -> None:
    """Side by side: whichever comes first makes the alert, the other folds into it,
    and the follower's removal of an acknowledgement changes that alert's label."""
    follower, forwarder = make(tmp_path)
    send(runtime, body("PROBLEM", since=str(T0), **OFF), T0 + 5)
    write(tmp_path / "status.dat", status(service("BGP peer", 2, ack=1),
                                          service("LDP session", 0)))
    follower.read_once()
    (item,) = taken(forwarder)
    result = send(runtime, {**item, "address": "192.0.2.1"}, T0 + 20)
    assert dict(result.dispositions) == {"duplicate": 1}
    write(tmp_path / "status.dat", status(service("BGP peer", 2), service("LDP session", 0)))
    follower.read_once()
    (removed,) = taken(forwarder)
    assert dict(send(runtime, removed, T0 + 40).dispositions) == {"duplicate": 1}
    (row,) = alert_rows(runtime)
    assert (row.status, row.starts_at, row.labels["acknowledged"]) == (
        "firing", T0, "false")


def test_a_status_report_of_a_condition_not_firing_makes_no_alert(
        runtime: Runtime, tmp_path: Path) -> None:
    """The follower's STATUS is a state report, like an ACKNOWLEDGEMENT notification: an
    engine that has no firing alert of it (its RECOVERY notification came first) keeps
    it as a raw event and makes no alert."""
    follower, forwarder = make(tmp_path)
    write(tmp_path / "status.dat", status(service("BGP peer", 2)))
    follower.read_once()
    taken(forwarder)
    write(tmp_path / "status.dat", status(service("BGP peer", 2, ack=1)))
    follower.read_once()
    (item,) = taken(forwarder)
    assert dict(send(runtime, item, T0 + 40).dispositions) == {"unmatched_report": 1}
    assert alert_rows(runtime) == []


def test_a_problem_first_seen_after_it_escalated_is_the_notification_s_alert(
        runtime: Runtime, tmp_path: Path) -> None:
    """WARNING notified at T0, CRITICAL 15 minutes later; a follower started after that
    sends no start (status.dat does not say when the problem began), so the engine keeps
    the alert's: with the CRITICAL's time as start it would be a new episode."""
    send(runtime, body("PROBLEM", state="WARNING", since=str(T0), **OFF), T0 + 5)
    follower, forwarder = make(tmp_path)
    times = (f"\tlast_time_ok={T0 - 60}\n\tlast_time_warning={T0 + 890}\n"
             f"\tlast_time_critical={T0 + 990}\n\tlast_time_unknown=0\n")
    write(tmp_path / "status.dat", status(service("BGP peer", 2, since=T0 + 900,
                                                  times=times)))
    follower.read_once()
    (item,) = taken(forwarder)
    assert (item["type"], item["state"], "since" in item) == ("PROBLEM", "CRITICAL", False)
    send(runtime, item, T0 + 1000)
    (row,) = alert_rows(runtime)
    assert (row.status, row.starts_at, row.severity) == ("firing", T0, "critical")


def test_a_host_down_is_the_host_notification_s_alert(runtime: Runtime,
                                                      tmp_path: Path) -> None:
    """A host's own state is the alert named ``host``, as aiops-notify names it."""
    send(runtime, {**body("PROBLEM", state="DOWN", since=str(T0), **OFF), "check": "host"},
         T0 + 5)
    follower, forwarder = make(tmp_path)
    down = status().replace("current_state=0\n\tlast_hard_state=0",
                            "current_state=1\n\tlast_hard_state=1")
    write(tmp_path / "status.dat", down)
    follower.read_once()
    (item,) = taken(forwarder)
    assert (item["type"], item["check"], item["state"], item["since"]) == (
        "PROBLEM", "host", "DOWN", str(T0))
    assert dict(send(runtime, item, T0 + 20).dispositions) == {"duplicate": 1}
    (row,) = alert_rows(runtime)
    assert (row.name, row.entity, row.severity, row.status) == (
        "host", "core-1", "critical", "firing")
