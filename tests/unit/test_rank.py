"""Root-cause ranking: tracing an incident back to its start, and the top-3 slots kept
for silent devices."""

from __future__ import annotations

from aiops.engine.rank import CausalTopologyRanker, Placement, RankWeights
from aiops.engine.state import IncidentRecord
from aiops.learning.relations import TypeRelations
from benchmarks.core_outage import campus, core_outage_incident, incident, with_ports
from topology.graph import TopologyGraph
from topology.model import Edge, Node


def branch() -> TopologyGraph:
    """``dead`` hangs off ``x`` alone; ``x`` also links ``y1`` (three hosts) and ``y2``
    (two hosts)."""
    links = [("dead", "x"), ("x", "y1"), ("x", "y2"),
             *((f"y1-h{i}", "y1") for i in range(3)), *((f"y2-h{i}", "y2") for i in range(2))]
    names = sorted({n for link in links for n in link})
    return TopologyGraph([Node(n, "device", n) for n in names],
                         [Edge(a, b) for a, b in links])


def test_dead_devices_next_to_one_alarming_neighbour_are_kept_second_and_third() -> None:
    # The device that died reports nothing; its one neighbour `x` and a device 2 hops
    # away alarm, and BGP_DOWN is learned to follow LINK_DOWN. Scoring alone lists
    # only the two alarming devices.
    relations = TypeRelations()
    relations.precedence_ = {("LINK_DOWN", "BGP_DOWN"): 30, ("BGP_DOWN", "LINK_DOWN"): 3}
    inc = incident(("LINK_DOWN", "x", 100.0), ("LINK_DOWN", "x", 101.0),
                   ("BGP_DOWN", "y1", 104.0))
    topo = branch()

    def entities(weights: RankWeights | None = None,
                 learned: TypeRelations | None = relations) -> list[str]:
        return [rc.entity for rc in CausalTopologyRanker(topo, relations=learned,
                                                         weights=weights).rank(inc)]

    assert entities(RankWeights(silent_slots=0)) == ["x", "y1"]
    assert entities(RankWeights(silent_slots=1)) == ["x", "y1", "dead"]
    # `y1`'s BGP_DOWN is learned to follow, so rank 2 goes to a silent device too:
    # the two placed best are `dead` (its one neighbour `x` alarms) and `y1-h0` (a
    # leaf of `y1`). Rank 1 never changes.
    ranked = CausalTopologyRanker(topo, relations=relations).rank(inc)
    assert [rc.entity for rc in ranked] == ["x", "dead", "y1-h0", "y1"]
    dead, leaf = ranked[1], ranked[2]
    assert dead.alert_id is None and leaf.alert_id is None
    assert "raised no alarm itself: implicated by the topology" in dead.evidence
    assert any(line.startswith("kept in the top 3: of the silent devices it best explains")
               and "(1 alarming at 1 hop, 1 at 2 hops)" in line for line in dead.evidence)
    assert any(line.startswith("kept in the top 3: of the silent devices it is the second "
                               "best to explain") for line in leaf.evidence)
    # Without a trained model nothing is known to follow: rank 2 stays as scored.
    assert entities(learned=None) == ["x", "y1", "dead"]


def power_fail_first() -> TypeRelations:
    """POWER_FAIL learned to start before LINK_DOWN nearby."""
    relations = TypeRelations()
    relations.precedence_ = {("POWER_FAIL", "LINK_DOWN"): 40, ("LINK_DOWN", "POWER_FAIL"): 2}
    return relations


def power_fail_at_x_and(y1_type: str, y2_type: str) -> IncidentRecord:
    return incident(("POWER_FAIL", "x", 100.0), ("LINK_DOWN", "x", 101.0),
                    ("LINK_DOWN", "x", 102.0), (y1_type, "y1", 103.0), (y2_type, "y2", 104.0))


def test_the_slots_do_not_displace_candidates_learned_to_come_first() -> None:
    # Three devices raise POWER_FAIL, learned to start before LINK_DOWN: the second
    # and third of them keep their places. Without that knowledge the dead device
    # takes rank 3, and rank 2 stays as scored.
    inc = power_fail_at_x_and("POWER_FAIL", "POWER_FAIL")
    topo = branch()
    ranked = CausalTopologyRanker(topo, relations=power_fail_first()).rank(inc)
    assert [rc.entity for rc in ranked] == ["x", "y1", "y2"]
    assert not any(line.startswith("kept in the top 3") for rc in ranked for line in rc.evidence)

    unknown = CausalTopologyRanker(topo).rank(inc)  # rootness 0.5: no sign either way
    assert [rc.entity for rc in unknown] == ["x", "y1", "dead", "y2"]


def test_a_slot_is_taken_only_where_the_candidate_shows_no_sign_of_starting() -> None:
    # `y1` raises POWER_FAIL (learned to come first) and keeps rank 2; `y2` raises only
    # LINK_DOWN, an effect, and gives rank 3 to the dead device.
    inc = power_fail_at_x_and("POWER_FAIL", "LINK_DOWN")
    ranked = CausalTopologyRanker(branch(), relations=power_fail_first()).rank(inc)
    assert [rc.entity for rc in ranked] == ["x", "y1", "dead", "y2"]


def test_the_candidate_the_whole_incident_traces_back_to_comes_first() -> None:
    # POWER_FAIL on `x` usually starts before LINK_DOWN nearby, LINK_DOWN before
    # BGP_DOWN. `y1` holds most alarms and outscores `x` on its share of them, but from
    # its alarms the POWER_FAIL cannot be reached, while from `x` everything can.
    relations = TypeRelations()
    relations.precedence_ = {("POWER_FAIL", "LINK_DOWN"): 40, ("LINK_DOWN", "POWER_FAIL"): 2,
                             ("LINK_DOWN", "BGP_DOWN"): 30, ("BGP_DOWN", "LINK_DOWN"): 3}
    assert relations.leads() == {"POWER_FAIL": {"LINK_DOWN"}, "LINK_DOWN": {"BGP_DOWN"}}
    inc = incident(("POWER_FAIL", "x", 100.0), ("LINK_DOWN", "y1", 103.0),
                   ("BGP_DOWN", "y1", 104.0), ("BGP_DOWN", "y1", 105.0),
                   ("BGP_DOWN", "y1", 106.0))
    topo = branch()
    untraced = CausalTopologyRanker(topo, relations=relations,
                                    weights=RankWeights(untraced=0.0)).rank(inc)
    assert untraced[0].entity == "y1"

    ranked = CausalTopologyRanker(topo, relations=relations).rank(inc)
    assert ranked[0].entity == "x"
    assert ("3 of 3 alarms in the incident trace back to its own through types that "
            "usually start before the next nearby") in ranked[0].evidence
    y1 = next(rc for rc in ranked if rc.entity == "y1")
    assert any(line.startswith("2 of 3 alarms in the incident trace back") for line in y1.evidence)


def test_leads_need_enough_past_co_occurrences() -> None:
    relations = TypeRelations()
    relations.precedence_ = {("A", "B"): 4, ("B", "A"): 0,  # 4 seen: too few
                             ("C", "D"): 6, ("D", "C"): 5}  # 7/13: not clearly first
    assert relations.leads() == {}
    assert relations.leads(min_seen=4) == {"A": {"B"}}


def graph(*links: tuple[str, str]) -> TopologyGraph:
    names = sorted({n for link in links for n in link})
    return TopologyGraph([Node(n, "device", n) for n in names], [Edge(a, b) for a, b in links])


def test_the_slot_goes_where_most_alarms_are_not_where_most_devices_are() -> None:
    # `p` shows three alarm types, `q` one; the leaf `za` hangs off `p`, the leaf `ab`
    # off `q`. Counted by devices the two leaves explain the alarms equally well (and
    # `ab` would win on its name); counted by alarms, a failure at `za` explains
    # three of them at one hop.
    topo = graph(("p", "q"), ("za", "p"), ("ab", "q"))
    inc = incident(("LINK_DOWN", "p", 100.0), ("LOS", "p", 101.0), ("CRC", "p", 102.0),
                   ("LINK_DOWN", "q", 103.0))
    ranked = CausalTopologyRanker(topo).rank(inc)
    assert [rc.entity for rc in ranked][:3] == ["p", "q", "za"]
    assert any(line.startswith("kept in the top 3: of the silent devices it best explains")
               and "(1 alarming at 1 hop, 1 at 2 hops)" in line for line in ranked[2].evidence)


def test_a_dead_device_two_hops_from_every_alarm_can_take_the_slot() -> None:
    # `r` died; its effects landed two hops away, on `a1` and `a2`, and none on the
    # devices between. Only devices next to an alarming one were candidates before,
    # and `m1` (next to `a1`, three hops from `a2`) took the slot.
    topo = graph(("r", "m1"), ("r", "m2"), ("m1", "a1"), ("m2", "a2"))
    inc = incident(("LINK_DOWN", "a1", 100.0), ("LINK_DOWN", "a2", 101.0))
    ranked = CausalTopologyRanker(topo).rank(inc)
    assert [rc.entity for rc in ranked][2] == "r"
    assert "raised no alarm itself: implicated by the topology" in ranked[2].evidence
    # Around a hub of a large network the two-hop ring is not searched.
    hub = CausalTopologyRanker(topo)
    hub.placement = Placement(two_hop_reach=2)  # a1 and a2 each see 3 devices
    assert [rc.entity for rc in hub.rank(inc)][2] == "m1"


def test_a_dead_node_is_named_before_the_deployments_that_lost_its_pods() -> None:
    # kube-prometheus' view of a node failure: the node's KubeNodeNotReady and its
    # pods' deployments' KubeDeploymentReplicasMismatch fire within seconds (both after
    # a `for: 15m`), a deployment's first. Node and deployments are two hops apart
    # through pods that raise nothing; the deployments need the node through them.
    nodes = [Node("worker-5", "host", "worker-5"), Node("worker-6", "host", "worker-6")]
    edges = [Edge("worker-5", "worker-6", "connected_to")]
    for app in ("ads", "cart"):
        nodes += [Node(f"deploy/{app}", "deployment", app), Node(f"pod/{app}-1", "pod", f"{app}-1"),
                  Node(f"pod/{app}-2", "pod", f"{app}-2")]
        edges += [Edge(f"pod/{app}-1", "worker-5", "runs_on"),
                  Edge(f"pod/{app}-2", "worker-6", "runs_on"),
                  Edge(f"pod/{app}-1", f"deploy/{app}", "part_of"),
                  Edge(f"pod/{app}-2", f"deploy/{app}", "part_of")]
    topo = TopologyGraph(nodes, edges)
    inc = incident(("KubeDeploymentReplicasMismatch", "deploy/ads", 100.0),
                   ("KubeNodeNotReady", "worker-5", 104.0),
                   ("KubeDeploymentReplicasMismatch", "deploy/cart", 110.0))
    ranked = CausalTopologyRanker(topo).rank(inc)
    assert ranked[0].entity == "worker-5"
    assert ("2 of the 2 alarming nodes within two hops need it (2 through a node between)"
            in ranked[0].evidence)
    # nothing alarming needs a deployment
    assert not any("within two hops" in line for rc in ranked
                   if rc.entity in ("ads", "cart") for line in rc.evidence)
    # with the dependency weight off, the earliest alarm's deployment came first
    off = CausalTopologyRanker(topo, weights=RankWeights(dependency=0.0)).rank(inc)
    assert off[0].entity == "ads"


def test_ports_stored_as_nodes_change_nothing_in_the_ranking() -> None:
    # The dead core router's incident (benchmarks/core_outage.py), ranked on the campus
    # as written and as discovery stores it, with 452 interface nodes. No alert is
    # placed on a port, so none may be a candidate, fill a dead device's slot or count
    # as a quiet device a dead router cuts off.
    plain = TopologyGraph(*campus())
    discovered = TopologyGraph(*with_ports(*campus()))
    assert len(discovered) > 2 * len(plain)
    inc = core_outage_incident()
    expected = [(rc.entity, round(rc.score, 6), rc.evidence)
                for rc in CausalTopologyRanker(plain).rank(inc)]
    got = [(rc.entity, round(rc.score, 6), rc.evidence)
           for rc in CausalTopologyRanker(discovered).rank(inc)]
    assert got == expected
    assert expected[0][0] == "core1"
    # a single alarm on a switch: the ranking names devices only
    one = incident(("CPU_HIGH", "acc3", 0.0))
    names = [rc.entity for rc in CausalTopologyRanker(discovered).rank(one)]
    assert names and not any(":" in name for name in names)


def hypervisors() -> TopologyGraph:
    """Two hypervisors with two VMs each; ``app`` runs on vm0 (esx0) and vm2 (esx1)."""
    nodes = [Node(n, "host", n) for n in ("esx0", "esx1", "vm0", "vm1", "vm2", "vm3")]
    nodes.append(Node("app", "service", "app"))
    edges = [Edge("vm0", "esx0", "runs_on"), Edge("vm1", "esx0", "runs_on"),
             Edge("vm2", "esx1", "runs_on"), Edge("vm3", "esx1", "runs_on"),
             Edge("app", "vm0", "runs_on"), Edge("app", "vm2", "runs_on"),
             Edge("esx0", "esx1", "connected_to")]
    return TopologyGraph(nodes, edges)


def test_what_only_depends_on_the_alarming_node_is_no_candidate() -> None:
    # A VM's disk fills. The service running on it raised nothing and needs the VM:
    # its failure cannot have filled the VM's disk. The hypervisor the VM needs can be.
    ranked = CausalTopologyRanker(hypervisors()).rank(incident(("DISK_FULL", "vm0", 0.0)))
    names = [rc.entity for rc in ranked]
    assert names[0] == "vm0" and "app" not in names and "esx0" in names


def test_scores_never_rise_down_the_list() -> None:
    # The service degrades: the two VMs it runs on (which raised nothing) are kept at
    # ranks 2 and 3 and score more on their own (the service needs them) than the
    # service named first; shown capped, and said so.
    ranked = CausalTopologyRanker(hypervisors()).rank(incident(("ServiceDegraded", "app", 0.0)))
    assert [rc.entity for rc in ranked[:3]] == ["app", "vm0", "vm2"]
    scores = [rc.score for rc in ranked]
    assert scores == sorted(scores, reverse=True)
    capped = [line for line in ranked[1].evidence if line.startswith("scored ")]
    assert capped and f"shown at {ranked[0].score:.2f} so that none outscores" in capped[0]


def one_site(distribution: int = 4, access: int = 12) -> TopologyGraph:
    """A core, distribution switches with access switches on each, every device
    ``part_of`` the site, as a hand inventory with site nodes has it."""
    nodes = [Node("site", "site", "site"), Node("core", "device", "core")]
    edges = [Edge("core", "site", "part_of")]
    for d in range(distribution):
        nodes.append(Node(f"d{d}", "device", f"d{d}"))
        edges += [Edge(f"d{d}", "core"), Edge(f"d{d}", "site", "part_of")]
        for a in range(access):
            nodes.append(Node(f"d{d}-a{a}", "device", f"d{d}-a{a}"))
            edges += [Edge(f"d{d}-a{a}", f"d{d}"), Edge(f"d{d}-a{a}", "site", "part_of")]
    return TopologyGraph(nodes, edges)


def test_a_site_is_named_only_when_enough_of_what_it_holds_alarms() -> None:
    topo = one_site()  # 53 devices
    # d1 dies silently: its 12 access switches log their uplink down; an unrelated
    # alarm elsewhere in the site joins. The site is next to every alarming device and
    # each is part of it, but 13 of its 53 devices alarming do not say it went dark.
    inc = incident(*(("LINK_DOWN", f"d1-a{a}", float(a)) for a in range(12)),
                   ("FAN_FAIL", "d2-a0", 3.0))
    ranked = CausalTopologyRanker(topo).rank(inc)
    assert ranked[0].entity == "d1"
    site = next(rc for rc in ranked if rc.entity == "site")
    assert site.score < ranked[0].score
    assert ("only 13 of the 53 nodes that need it alarm: its failure would have taken "
            "them all, so its score counts 0.61") in site.evidence
    # the site loses power: 24 of its 53 devices are found down before the incident is
    # ranked
    down = [f"d{d}-a{a}" for d in range(4) for a in range(6)]
    ranked = CausalTopologyRanker(topo).rank(incident(*(("HOST_DOWN", n, 0.0) for n in down)))
    assert ranked[0].entity == "site"


def test_a_site_does_not_take_a_dead_devices_place_for_one_alarm() -> None:
    # One access switch's fan fails: the slots keep ranks 2-3 for devices that raised
    # nothing and best explain where the alarms are; the site (next to every device)
    # is no dead device when 1 of its 53 devices alarms.
    ranked = CausalTopologyRanker(one_site()).rank(incident(("FAN_FAIL", "d1-a3", 0.0)))
    names = [rc.entity for rc in ranked]
    assert names[0] == "d1-a3" and "site" not in names and "d1" in names
