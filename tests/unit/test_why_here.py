"""Why an alert is in its incident: the placement record, through the real engine."""

from __future__ import annotations

from aiops.engine.index import MAX_NODE_MEMBERS, IncidentProfile
from aiops.engine.placement import describe
from aiops.engine.state import AlertRecord
from aiops.models import Alert
from aiops.runtime import Runtime, open_runtime
from aiops.store import queries
from aiops.store.json_column import JsonText
from tests.conftest import import_linked
from tests.unit.test_engine import alert, incidents_of, ingest, star


def placements(rt: Runtime, incident_id: str) -> dict[str, dict]:
    """The stored alerts of ``incident_id`` by first event id, with their placement."""
    with rt.db.connect() as conn:
        inc = queries.get_incident(conn, incident_id, placement=True)
    return {a["id"]: a for a in inc["alerts"]}


def test_joined_alert_records_member_gap_hops_and_parts(runtime: Runtime) -> None:
    star(runtime)
    ingest(runtime, alert("a1", "l1", 0), alert("a2", "l2", 12), alert("z", "far", 20))
    [inc] = [i for i in incidents_of(runtime) if i["alert_count"] == 2]
    by_id = placements(runtime, inc["id"])
    joined = by_id["a2"]["placement"]
    assert joined["decision"] == "joined" and joined["incident"] == inc["id"]
    assert joined["via"] == {"node": "l1", "hops": 1, "alert": "a1", "name": "LINK_DOWN",
                             "gap_s": 12.0}
    # 0.8 (one hop) × (1 − 0/120): the gap is inside the 15 s skew tolerance.
    assert joined["link"] == 0.8 and joined["threshold"] == 0.5
    assert joined["score"] >= joined["threshold"] and "runner_up" not in joined
    assert by_id["a2"]["why_here"].startswith(
        f"joined {inc['id']}: 12 s after LINK_DOWN on l1, 1 hop away (closeness 0.80")


def test_opened_alert_names_the_best_candidate_below_threshold(runtime: Runtime) -> None:
    star(runtime)
    # x2 is two hops from l4, after the fan-out period: linked, but under the threshold.
    ingest(runtime, alert("a1", "l4", 0), alert("a1b", "l4", 30, name="T2"))
    ingest(runtime, alert("a2", "x2", 31))
    first = next(i for i in incidents_of(runtime) if i["alert_count"] == 2)
    opened = next(i for i in incidents_of(runtime) if i["alert_count"] == 1)
    record = placements(runtime, opened["id"])["a2"]["placement"]
    assert record["decision"] == "opened" and record["incident"] == opened["id"]
    assert record["runner_up"]["incident"] == first["id"]
    assert record["runner_up"]["score"] < record["threshold"]
    assert "score" not in record
    first_alert = placements(runtime, first["id"])["a1"]
    assert first_alert["placement"] == {"threshold": 0.5, "decision": "opened",
                                        "incident": first["id"]}
    assert first_alert["why_here"] == "opened: no open incident within reach"


def test_merging_alert_records_the_merge_and_the_moved_alerts_their_move(
        runtime: Runtime) -> None:
    star(runtime)
    ingest(runtime, alert("a1", "l4", 0), alert("a1b", "l4", 30, name="T2"))
    ingest(runtime, alert("a2", "x2", 31))
    ingest(runtime, alert("a3", "x1", 32))
    [live] = [i for i in incidents_of(runtime) if i["status"] != "merged"]
    by_id = placements(runtime, live["id"])
    record = by_id["a3"]["placement"]
    assert record["decision"] == "merged" and record["incident"] == live["id"]
    [gone] = record["merged"]
    assert gone != live["id"]
    # The alerts of the incident merged away say so; those of the one kept do not.
    moved = [a for a in by_id.values() if a["placement"]["incident"] == gone]
    assert moved and len(moved) < len(by_id) - 1
    for item in moved:
        assert item["placement"]["decision"] in ("opened", "joined")
        assert item["placement"]["moves"] == [{"move": "merged", "by": "engine", "from": gone,
                                               "into": live["id"], "alert": "a3"}]
        assert item["why_here"].endswith(
            f"then its incident {gone} was merged into {live['id']} (alert a3 linked both)")
    assert f"merged {gone} into it" in by_id["a3"]["why_here"]


def test_operator_merge_and_split_append_their_moves(runtime: Runtime) -> None:
    star(runtime)
    ingest(runtime, alert("a1", "l1", 0), alert("a2", "l2", 5), alert("a3", "far", 10))
    big = next(i for i in incidents_of(runtime) if i["alert_count"] == 2)
    small = next(i for i in incidents_of(runtime) if i["alert_count"] == 1)
    runtime.engine.merge_incidents(big["id"], [small["id"]], author="ana")
    by_id = placements(runtime, big["id"])
    assert by_id["a3"]["placement"]["moves"] == [
        {"move": "merged", "by": "operator", "from": small["id"], "into": big["id"],
         "author": "ana"}]
    assert "placement" not in by_id["a1"] or "moves" not in by_id["a1"]["placement"]
    outcome = runtime.engine.split_incident(big["id"], ["a3"], author="bo")
    new_id = outcome.incidents[1]
    moved = placements(runtime, new_id)["a3"]
    assert moved["placement"]["moves"][-1] == {
        "move": "split", "by": "operator", "from": big["id"], "into": new_id, "author": "bo"}
    assert moved["why_here"].endswith(f"then operator split by bo: moved from {big['id']} "
                                      f"to {new_id}")


def test_old_rows_read_not_recorded() -> None:
    assert describe(None) == "not recorded (placed before migration 0026)"


def test_out_of_order_alert_names_the_member_nearest_in_time(runtime: Runtime) -> None:
    star(runtime)
    # l1 alarms at 0 s and again at 30 s; an alert on l2 stamped 5 s arrives after both
    # (a late report). The member nearest to it is the first, not l1's latest.
    ingest(runtime, alert("a1", "l1", 0), alert("a1b", "l1", 30, name="T2"))
    ingest(runtime, alert("late", "l2", 5))
    [inc] = incidents_of(runtime)
    record = placements(runtime, inc["id"])["late"]
    assert record["placement"]["via"] == {"node": "l1", "hops": 1, "alert": "a1",
                                          "name": "LINK_DOWN", "gap_s": 5.0}
    assert record["why_here"].startswith(f"joined {inc['id']}: 5 s after LINK_DOWN on l1")


def test_profile_keeps_a_nodes_first_and_latest_alerts_and_finds_the_nearest() -> None:
    profile = IncidentProfile()
    starts = [0.0, *(10.0 * i for i in range(2, 12)), 15.0]  # 15 s arrives late
    held = {at: AlertRecord(id=i, fingerprint=str(i), node_id="a", starts_at=at,
                            event=Alert(f"e{i}", "s", "LINK_DOWN", "a", "major", "", at))
            for i, at in enumerate(starts)}
    for record in held.values():
        profile.add(record)
    profile.add(held[110.0])  # added again (a re-fire): held once
    kept = [r.starts_at for r in profile.members["a"]]
    assert kept == [0.0, *(10.0 * i for i in range(5, 12))] and len(kept) == MAX_NODE_MEMBERS
    assert profile.nearest("a", -30.0) is held[0.0]
    assert profile.nearest("a", 30.0) is held[50.0]  # those between 0 and 50 were dropped
    assert profile.nearest("a", 55.0) is held[50.0]  # as near as 60: the earlier
    assert profile.nearest("a", 58.0) is held[60.0]
    assert profile.nearest("a", 500.0) is held[110.0]
    assert profile.nearest("b", 0.0) is None


def test_restart_keeps_records_as_stored_text_until_an_alert_moves(runtime: Runtime) -> None:
    star(runtime)
    ingest(runtime, alert("a1", "l1", 0), alert("a2", "l2", 5), alert("a3", "far", 10))
    big = next(i for i in incidents_of(runtime) if i["alert_count"] == 2)
    small = next(i for i in incidents_of(runtime) if i["alert_count"] == 1)
    before = {**placements(runtime, big["id"]), **placements(runtime, small["id"])}
    again = open_runtime(runtime.data_dir)
    try:
        restored = {r.event.id: r for inc in again.engine.incidents.values()
                    for r in inc.alerts.values()}
        # Not decoded on restore: each live alert holds its record as the stored text.
        assert {type(r.placement) for r in restored.values()} == {JsonText}
        # A re-send rewrites the alert with the same record; a move decodes and extends it.
        ingest(again, alert("a2-again", "l2", 5))
        again.engine.merge_incidents(big["id"], [small["id"]], author="ana")
        after = placements(again, big["id"])
        assert after["a2"]["placement"] == before["a2"]["placement"]
        assert after["a3"]["placement"] == {**before["a3"]["placement"], "moves": [
            {"move": "merged", "by": "operator", "from": small["id"], "into": big["id"],
             "author": "ana"}]}
    finally:
        again.close()


def test_vms_of_one_hypervisor_join_as_one_hop_and_say_what_they_share(
        runtime: Runtime) -> None:
    from topology.model import Edge, Node
    names = ["esx1", "esx2", "tor", "vm1", "vm2", "vm3"]
    runtime.import_topology(
        [Node(n, "host", n) for n in names],
        [Edge("esx1", "tor"), Edge("esx2", "tor"), Edge("vm1", "esx1", "runs_on"),
         Edge("vm2", "esx1", "runs_on"), Edge("vm3", "esx2", "runs_on")], "test")
    # The hypervisor dies; its VMs are found down 40 s apart (two hops through it: 0.50
    # × (0.7 + 0.1 × text) stays under the threshold once the incident is 30 s old).
    ingest(runtime, alert("d1", "vm1", 0, "HOST_DOWN"), alert("d2", "vm2", 40, "HOST_DOWN"),
           alert("d3", "vm3", 45, "HOST_DOWN"))
    by_size = sorted(incidents_of(runtime), key=lambda i: -i["alert_count"])
    assert [i["alert_count"] for i in by_size] == [2, 1]
    joined = placements(runtime, by_size[0]["id"])["d2"]
    assert joined["placement"]["via"]["hops"] == 1
    assert joined["placement"]["via"]["shared"] == {"node": "esx1", "kind": "runs_on"}
    assert ", 1 hop away, both run on esx1 (" in joined["why_here"]


def vm_and_services(rt: Runtime) -> None:
    """esx1 with VMs vm1 and vm2; app1 runs on vm1, app2 depends on vm2."""
    from topology.model import Edge, Node
    rt.import_topology(
        [Node(n, "host", n) for n in ("esx1", "tor", "vm1", "vm2", "app1", "app2")],
        [Edge("esx1", "tor"), Edge("vm1", "esx1", "runs_on"), Edge("vm2", "esx1", "runs_on"),
         Edge("app1", "vm1", "runs_on"), Edge("app2", "vm2", "depends_on")], "test")


def test_a_service_on_a_vm_still_down_joins_its_incident_however_late(
        runtime: Runtime) -> None:
    vm_and_services(runtime)
    # The VMs are found down at 0 and 5 s and stay down; the services' own checks
    # notice 200 and 250 s later, past the 120 s window and the 180 s fade.
    ingest(runtime, alert("d1", "vm1", 0, "HOST_DOWN"), alert("d2", "vm2", 5, "HOST_DOWN"),
           alert("s1", "app1", 200, "ServiceDegraded"),
           alert("s2", "app2", 250, "ServiceDegraded"))
    [inc] = incidents_of(runtime)
    assert inc["alert_count"] == 4
    by_id = placements(runtime, inc["id"])
    late = by_id["s1"]["placement"]
    assert late["via"] == {"node": "vm1", "hops": 1, "alert": "d1", "name": "HOST_DOWN",
                           "gap_s": 200.0, "needs": "runs_on"}
    assert late["link"] == 0.8
    assert by_id["s1"]["why_here"].startswith(
        f"joined {inc['id']}: 200 s after HOST_DOWN on vm1, 1 hop away, which it runs on "
        "and whose alert still fires (closeness 0.80")
    assert by_id["s2"]["placement"]["via"]["needs"] == "depends_on"
    assert ", which it depends on and whose alert still fires (" in by_id["s2"]["why_here"]


def test_a_need_that_recovered_or_an_old_incident_does_not_take_a_late_alert(
        runtime: Runtime) -> None:
    vm_and_services(runtime)
    # vm1 came back at 150 s: app1's alert at 200 s is about something else. vm2 is
    # still down, but its incident began more than 300 s (max_incident_span) earlier.
    ingest(runtime, alert("d1", "vm1", 0, "HOST_DOWN", end=150),
           alert("d2", "vm2", 5, "HOST_DOWN"),
           alert("s1", "app1", 200, "ServiceDegraded"),
           alert("s2", "app2", 320, "ServiceDegraded"))
    assert sorted(i["alert_count"] for i in incidents_of(runtime)) == [1, 1, 2]


def test_an_alert_on_what_a_failing_service_runs_on_is_not_taken_by_that_rule(
        runtime: Runtime) -> None:
    vm_and_services(runtime)
    # The service alarms first and still does; 200 s later its VM alarms. A failing
    # service says nothing of what else fails under it: two incidents.
    ingest(runtime, alert("s1", "app1", 0, "ServiceDegraded"),
           alert("d1", "vm1", 200, "HOST_DOWN"))
    assert sorted(i["alert_count"] for i in incidents_of(runtime)) == [1, 1]


def rack(rt: Runtime) -> None:
    """A switch with ports linked to two servers' NICs, as discovery stores ports."""
    import_linked(rt, ["tor", "srv1", "srv2"],
                  [("tor", "Eth1/1", "srv1", "eno1"), ("tor", "Eth1/2", "srv2", "eno1")])


def test_a_server_whose_switch_port_is_still_down_joins_however_late(
        runtime: Runtime) -> None:
    rack(runtime)
    # The servers lose power: the switch logs both ports down at once; the host check
    # finds srv1 down 200 s later, when the incident has faded by time alone.
    ingest(runtime, alert("p1", "tor", 0, interface="Eth1/1"),
           alert("p2", "tor", 1, interface="Eth1/2"), alert("h1", "srv1", 200, "HOST_DOWN"))
    [inc] = incidents_of(runtime)
    assert inc["alert_count"] == 3
    late = placements(runtime, inc["id"])["h1"]
    assert late["placement"]["via"] == {"node": "tor", "hops": 1, "alert": "p1",
                                        "name": "LINK_DOWN", "gap_s": 200.0,
                                        "facing_port": "Eth1/1"}
    assert ", 1 hop away, on its Eth1/1, which leads here and still alarms (" in late["why_here"]


def test_a_device_that_logs_its_own_end_of_the_link_is_not_taken_by_that_rule(
        runtime: Runtime) -> None:
    rack(runtime)
    # The cable fails: both ends log their port down, and srv1 is alive: its later
    # alarm is not about the link.
    ingest(runtime, alert("p1", "tor", 0, interface="Eth1/1"),
           alert("e1", "srv1", 1, interface="eno1"), alert("t1", "srv1", 200, "TEMP_HIGH"))
    assert sorted(i["alert_count"] for i in incidents_of(runtime)) == [1, 2]
