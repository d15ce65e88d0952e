"""A device's shadow (the devices that reach the network only through it) and how the
ranker reads it: a dead core router is named first when its whole shadow shouts."""

from __future__ import annotations

import pytest

from aiops.engine.rank import CausalTopologyRanker, RankWeights
from aiops.engine.shadow import shadow_of
from aiops.engine.state import IncidentRecord
from aiops.models import parse_alert
from aiops.replay import replay_alerts
from aiops.runtime import Runtime
from benchmarks.core_outage import (
    DUAL_HOMED_FROM,
    HOSTS,
    SWITCHES,
    campus,
    core1_dies_silently,
    core_outage_incident,
    incident,
)
from topology.graph import TopologyGraph
from topology.model import Edge, Node


def graph(*links: tuple[str, str]) -> TopologyGraph:
    names = sorted({n for link in links for n in link})
    return TopologyGraph([Node(n, "device", n) for n in names], [Edge(a, b) for a, b in links])


def test_the_silent_core_router_is_named_first_when_its_shadow_shouts(runtime: Runtime) -> None:
    # The probe: before the shadow, the switches' incident ranked acc18 and acc0 above
    # core1 (0.531 against 0.509), the hosts in it diluting core1's neighbour share.
    runtime.import_topology(*campus(), "test")
    document = replay_alerts(runtime, [parse_alert(a) for a in core1_dies_silently()], None)
    [switches] = [inc for inc in document["incidents"]
                  if "s0" in inc["alert_ids"]]  # acc0's uplink
    top = switches["root_causes"][0]
    assert top["entity"] == "core1" and top["alert_id"] is None
    assert any(line.startswith("15 of its 21 alarming neighbours and the 150 devices behind "
                               "them reach the rest of the network only through it")
               for line in top["evidence"]), top["evidence"]


def test_the_shadow_holds_the_single_homed_switches_and_their_hosts() -> None:
    topo = TopologyGraph(*campus())
    behind = shadow_of(topo, "core1")
    single = {f"acc{s}" for s in range(DUAL_HOMED_FROM)}
    assert single <= behind
    assert {f"h{s}-{h}" for s in range(DUAL_HOMED_FROM) for h in range(HOSTS)} <= behind
    # dual-homed switches (and their hosts) reach the network through core2 as well
    assert not behind & {f"acc{s}" for s in range(DUAL_HOMED_FROM, SWITCHES)}
    assert "core2" not in behind and "h15-0" not in behind
    assert len(behind) == DUAL_HOMED_FROM * (1 + HOSTS)
    # a switch's shadow is its hosts; a host's, nothing
    assert shadow_of(topo, "acc3") == {f"h3-{h}" for h in range(HOSTS)}
    assert shadow_of(topo, "h3-0") == frozenset()
    assert shadow_of(topo, "nowhere") == frozenset()


def test_a_ring_or_a_whole_small_network_leaves_no_shadow() -> None:
    # In a ring of ten every node reaches the edge of the 3-hop ball both ways round.
    ring = graph(*((f"r{i}", f"r{(i + 1) % 10}") for i in range(10)))
    assert shadow_of(ring, "r0") == frozenset()
    # a - c - b: the whole network within reach, two equal halves: neither is the
    # part cut off, so nothing is in the shadow.
    assert shadow_of(graph(("a", "c"), ("c", "b")), "c") == frozenset()
    # a tail beyond the ball's edge is the rest of the network: here the side with
    # the leaf is cut off, the side leading on is not.
    chain = graph(("leaf", "c"), ("c", "n1"), ("n1", "n2"), ("n2", "n3"), ("n3", "n4"))
    assert shadow_of(chain, "c") == {"leaf"}


def test_the_shadow_is_not_told_beyond_its_budget() -> None:
    topo = TopologyGraph(*campus())
    assert shadow_of(topo, "core1", budget=100) == frozenset()
    with pytest.raises(ValueError, match="shadow radius must be at least 2 hops, got 1"):
        shadow_of(topo, "core1", radius=1)


def test_hosts_behind_the_switches_count_for_the_core_router_not_against_it() -> None:
    topo = TopologyGraph(*campus())
    inc = core_outage_incident()
    assert len({a.node_id for a in inc.alerts.values()}) == 44

    def ranked(weights: RankWeights) -> list[tuple[str, float]]:
        return [(rc.entity, rc.score) for rc in CausalTopologyRanker(topo, weights=weights)
                .rank(inc)]

    # neighbours only: 21 of 44, 0.5 * 21/44 + 0.25 + 0.02 (precedence) = 0.509 < 0.53
    before = ranked(RankWeights(silent_shadow=0.0))
    assert before[0][0] != "core1"
    after = ranked(RankWeights())
    assert after[0][0] == "core1"
    assert after[0][1] == pytest.approx(0.5 * 44 / 44 + 0.25 + 0.02)
    [cause] = [rc for rc in CausalTopologyRanker(topo).rank(inc) if rc.entity == "core1"]
    assert ("15 of its 21 alarming neighbours and the 150 devices behind them reach the rest "
            "of the network only through it; with the 23 alarming devices two hops out in "
            "its shadow, its failure explains 44 of the 44 alarming devices") in cause.evidence


def test_a_leafs_own_failure_does_not_name_the_routers_above_it() -> None:
    # h3-0 fails; its switch logs the port down. core1 has the host in its shadow but
    # only one alarming neighbour: a silent device is implicated only by several.
    topo = TopologyGraph(*campus())
    inc = incident(("HOST_DOWN", "h3-0", 10.0), ("LINK_DOWN", "acc3", 11.0),
                   ("PROCESS_DOWN", "h3-0", 12.0))
    ranked = [rc.entity for rc in CausalTopologyRanker(topo).rank(inc)]
    assert ranked[0] == "h3-0"
    assert "core1" not in ranked


def test_a_silent_device_with_no_alarms_in_its_shadow_scores_as_before() -> None:
    # Three dual-homed switches shout: core1's shadow holds none of them, so its score
    # and evidence are those of its alarming neighbours alone.
    topo = TopologyGraph(*campus())
    inc = incident(("LINK_DOWN", "acc15", 1.0), ("LINK_DOWN", "acc16", 2.0),
                   ("LINK_DOWN", "acc17", 3.0))

    def core1(weights: RankWeights) -> tuple[float, list[str]]:
        [rc] = [rc for rc in CausalTopologyRanker(topo, weights=weights).rank(inc)
                if rc.entity == "core1"]
        return rc.score, rc.evidence

    with_shadow, without = core1(RankWeights()), core1(RankWeights(silent_shadow=0.0))
    assert with_shadow == without
    assert not any("only through it" in line for line in with_shadow[1])


def test_an_alarming_switch_is_told_to_cut_off_its_alarming_hosts_without_scoring_it() -> None:
    topo = TopologyGraph(*campus())
    inc = incident(("LINK_DOWN", "acc3", 1.0),
                   *(("HOST_DOWN", f"h3-{h}", 30.0 + h) for h in range(HOSTS)))

    def acc3(weights: RankWeights) -> tuple[float, list[str]]:
        [rc] = [rc for rc in CausalTopologyRanker(topo, weights=weights).rank(inc)
                if rc.entity == "acc3"]
        return rc.score, rc.evidence

    (score, evidence), (before, plain) = acc3(RankWeights()), acc3(RankWeights(silent_shadow=0))
    assert "10 of the 11 alarming devices reach the rest of the network only through it" \
        in evidence
    assert score == before and not any("only through it" in line for line in plain)


def core1_of(topo: TopologyGraph, inc: IncidentRecord,
             weights: RankWeights | None = None) -> tuple[float, list[str]]:
    [rc] = [rc for rc in CausalTopologyRanker(topo, weights=weights).hand_ranking(inc).ranked
            if rc.entity == "core1"]
    return rc.score, rc.evidence


def test_the_hosts_behind_count_at_the_share_of_the_cut_off_switches_that_alarm() -> None:
    # 5 of the 15 switches core1 cuts off alarm (and two dual-homed ones), and two hosts
    # behind each of the five: a dead core1 would have cut off all 15, so each host
    # counts 5/15.
    topo = TopologyGraph(*campus())
    inc = incident(*(("LINK_DOWN", f"acc{s}", 1.0) for s in (0, 1, 2, 3, 4, 15, 16)),
                   *(("HOST_DOWN", f"h{s}-{h}", 40.0) for s in range(5) for h in range(2)))
    score, evidence = core1_of(topo, inc)
    before, _ = core1_of(topo, inc, RankWeights(silent_shadow=0.0))
    assert score - before == pytest.approx(0.5 * (10 * 5 / 15) / 17)
    assert ("5 of its 7 alarming neighbours and the 50 devices behind them reach the rest of "
            "the network only through it, as do 10 of its neighbours that raised nothing; the "
            "10 alarming devices two hops out in its shadow count 5/15 each, the share of the "
            "neighbours it cuts off that alarm") in evidence


def test_hosts_behind_a_single_alarming_cut_off_switch_are_not_counted() -> None:
    # Only acc3 of the switches core1 cuts off alarms: acc3's own failure explains its
    # hosts as well, so core1 scores on its neighbours alone.
    topo = TopologyGraph(*campus())
    inc = incident(("LINK_DOWN", "acc3", 1.0), ("LINK_DOWN", "acc15", 1.0),
                   ("LINK_DOWN", "acc16", 1.0),
                   *(("HOST_DOWN", f"h3-{h}", 40.0) for h in range(3)))
    score, evidence = core1_of(topo, inc)
    assert score == core1_of(topo, inc, RankWeights(silent_shadow=0.0))[0]
    assert any(line.endswith("the 3 alarming devices two hops out in its shadow not counted: "
                             "fewer than two of the neighbours it cuts off alarm, and one of "
                             "those failing would explain them as well") for line in evidence)
