"""The correlation benchmark's own correctness: metrics, baselines, scenario generator.

A benchmark that scores wrongly is worse than none, so the metrics are checked on
hand-made cases whose answers are worked out by hand (and against scikit-learn
when it is installed), ALEC's sweep against a brute-force all-pairs DBSCAN, and
the generator for determinism and for truth that covers every alert.
"""

from __future__ import annotations

import itertools
import json
import random
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import networkx as nx
import pytest

from benchmarks.correlation import report
from benchmarks.correlation.baselines import (
    BASELINES,
    Event,
    alec,
    alec_distance,
    alertmanager,
    earliest_entities,
    time_window,
)
from benchmarks.correlation.metrics import PairCounts, Prediction, contingency, evaluate
from benchmarks.correlation.scenario import (
    Period,
    ScenarioConfig,
    generate,
    root_holds_most,
    write_scenario,
)
from benchmarks.correlation.svg import bar_chart
from benchmarks.correlation.topologies import build_topology
from benchmarks.correlation.worker import EngineWorker, WorkerError
from topology.model import parse_topology


def truth_of(labels: dict[str, str], roots: dict[str, tuple[str, bool]] | None = None) -> dict:
    """A period of truth.json: alert -> group, groups are faults with the given roots."""
    roots = roots or {}
    groups = {g: {"kind": "fault", "root_entity": roots.get(g, ("x", False))[0],
                  "root_type": "ALM_0", "silent": roots.get(g, ("x", False))[1]}
              for g in set(labels.values())}
    return {"alerts": labels, "groups": groups}


TWO_BY_TWO = {"a": "g1", "b": "g1", "c": "g2", "d": "g2"}


def test_perfect_grouping_scores_one() -> None:
    scores = evaluate(Prediction([["a", "b"], ["c", "d"]]), truth_of(TWO_BY_TWO))
    assert scores["precision"] == scores["recall"] == scores["f1"] == 1.0
    assert scores["ari"] == 1.0
    assert scores["noise_reduction"] == pytest.approx(0.5)


def test_all_in_one_group() -> None:
    scores = evaluate(Prediction([["a", "b", "c", "d"]]), truth_of(TWO_BY_TWO))
    # 6 predicted pairs, 2 true pairs, both true pairs found.
    assert scores["precision"] == pytest.approx(2 / 6)
    assert scores["recall"] == 1.0
    assert scores["f1"] == pytest.approx(0.5)
    assert scores["ari"] == pytest.approx(0.0)
    assert scores["noise_reduction"] == pytest.approx(0.75)


def test_all_singletons() -> None:
    scores = evaluate(Prediction([["a"], ["b"], ["c"], ["d"]]), truth_of(TWO_BY_TWO))
    assert scores["precision"] == 1.0  # claims no pair, so none wrongly
    assert scores["recall"] == 0.0
    assert scores["f1"] == 0.0
    assert scores["ari"] == pytest.approx(0.0)
    assert scores["noise_reduction"] == 0.0


def test_known_contingency() -> None:
    truth = [0, 0, 0, 1, 1, 1]
    predicted = [0, 0, 1, 1, 2, 2]
    counts = PairCounts.from_contingency(contingency(predicted, [str(t) for t in truth]))
    assert (counts.together_predicted, counts.together_true, counts.together_both) == (3, 6, 2)
    assert counts.precision == pytest.approx(2 / 3)
    assert counts.recall == pytest.approx(1 / 3)
    assert counts.f1 == pytest.approx(4 / 9)
    assert counts.ari == pytest.approx((2 - 1.2) / (4.5 - 1.2))


def test_ari_matches_sklearn_on_random_labelings() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = random.Random(5)
    for _ in range(20):
        n = rng.randint(2, 60)
        truth = [str(rng.randrange(6)) for _ in range(n)]
        predicted = [rng.randrange(rng.randint(1, 8)) for _ in range(n)]
        ours = PairCounts.from_contingency(contingency(predicted, truth)).ari
        assert ours == pytest.approx(metrics.adjusted_rand_score(truth, predicted))


def test_root_cause_accuracy_uses_the_group_holding_most_of_a_fault() -> None:
    labels = {"a": "f1", "b": "f1", "c": "f1", "d": "f2", "e": "f2", "f": "f3"}
    truth = truth_of(labels, {"f1": ("r1", False), "f2": ("r2", True), "f3": ("r3", False)})
    prediction = Prediction(
        groups=[["a", "b"], ["c", "d", "e"], ["f"]],
        root_causes=[["r1", "z"], ["z", "y", "r2"], ["q", "w", "e", "r3"]])
    scores = evaluate(prediction, truth)
    # f1 -> group 0 (hit@1); f2 -> group 1 (hit@3 only); f3 -> group 2 (rank 4: miss).
    assert scores["faults"] == 3 and scores["silent_faults"] == 1
    assert scores["ac1"] == pytest.approx(1 / 3)
    assert scores["ac3"] == pytest.approx(2 / 3)
    assert scores["ac1_silent"] == 0.0 and scores["ac3_silent"] == 1.0



def test_root_cause_accuracy_does_not_depend_on_the_order_a_method_lists_its_groups() -> None:
    # A fault split 1:1 over two groups, each naming its own device: which piece "holds
    # most" is a tie. Scoring the first-listed piece rewarded a method for listing the
    # root's piece first (the engine lists incidents by start; alertmanager by when a
    # group closed); now each tied piece counts an equal share.
    labels = {"a": "f1", "b": "f1"}
    truth = truth_of(labels, {"f1": ("root", False)})
    root_first = Prediction(groups=[["a"], ["b"]], root_causes=[["root"], ["leaf"]])
    root_last = Prediction(groups=[["b"], ["a"]], root_causes=[["leaf"], ["root"]])
    first, last = evaluate(root_first, truth), evaluate(root_last, truth)
    assert first["ac1"] == last["ac1"] == pytest.approx(0.5)
    assert first["ac3"] == last["ac3"] == pytest.approx(0.5)
    # A unique holder is still judged alone, wherever it is listed.
    labels3 = {"a": "f1", "b": "f1", "c": "f1"}
    truth3 = truth_of(labels3, {"f1": ("root", False)})
    late = Prediction(groups=[["c"], ["a", "b"]], root_causes=[["root"], ["leaf", "root"]])
    assert evaluate(late, truth3)["ac1"] == 0.0 and evaluate(late, truth3)["ac3"] == 1.0

def test_background_groups_do_not_count_for_root_cause_and_missing_ids_are_counted() -> None:
    truth = truth_of({"a": "f1", "b": "f1", "n": "bg"}, {"f1": ("r1", False)})
    truth["groups"]["bg"]["kind"] = "background"
    scores = evaluate(Prediction([["a", "b", "ghost"]], [["r1"]]), truth)
    assert scores["faults"] == 1 and scores["ac1"] == 1.0
    assert scores["missing"] == 1 and scores["unknown"] == 1
    assert scores["groups"] == 2  # the missing alert counts as its own group


def ev(alert_id: str, entity: str, at: float) -> Event:
    return Event(alert_id, entity, at)


def grouped(prediction: Prediction) -> set[frozenset[str]]:
    return {frozenset(g) for g in prediction.groups}


def test_alertmanager_groups_by_entity_until_five_quiet_minutes() -> None:
    events = [ev("a1", "A", 0), ev("a2", "A", 250), ev("a3", "A", 551), ev("b1", "B", 50)]
    prediction = alertmanager(events)
    assert grouped(prediction) == {frozenset({"a1", "a2"}), frozenset({"a3"}),
                                   frozenset({"b1"})}
    assert all(len(rc) == 1 for rc in prediction.root_causes)


def test_time_window_measures_from_the_first_alert() -> None:
    events = [ev("1", "A", 0), ev("2", "B", 30), ev("3", "C", 60), ev("4", "D", 61),
              ev("5", "E", 100)]
    prediction = time_window(events)
    assert grouped(prediction) == {frozenset({"1", "2", "3"}), frozenset({"4", "5"})}
    first = prediction.groups.index(next(g for g in prediction.groups if "1" in g))
    assert prediction.root_causes[first] == ["A", "B", "C"]


def test_alec_links_same_device_within_75s_and_neighbours_within_26s() -> None:
    graph = nx.path_graph(["a", "b", "c", "d"])
    graph.add_node("island")
    events = [ev("1", "a", 0), ev("2", "b", 20), ev("3", "c", 47), ev("4", "a", 74),
              ev("5", "island", 10), ev("6", "d", 100), ev("7", "a", 400)]
    prediction = alec(events, graph)
    assert grouped(prediction) == {frozenset({"1", "2", "4"}), frozenset({"3"}),
                                   frozenset({"5"}), frozenset({"6"}), frozenset({"7"})}
    assert alec_distance(75.1, 0) <= 100 < alec_distance(75.2, 0)
    assert alec_distance(26.5, 1) <= 100 < alec_distance(26.7, 1)


def brute_force_dbscan(events: list[Event], graph: nx.Graph) -> set[frozenset[str]]:
    """minPts = 1 DBSCAN over the full distance matrix: the reference for the sweep."""
    hops = dict(nx.all_pairs_shortest_path_length(graph))
    links = nx.Graph()
    links.add_nodes_from(e.id for e in events)
    for x, y in itertools.combinations(events, 2):
        # Same entity is 0 hops even off the topology; unreachable is far beyond ε.
        h = 0 if x.entity == y.entity else hops.get(x.entity, {}).get(y.entity, 10_000)
        if alec_distance(x.starts_at - y.starts_at, h) <= 100:
            links.add_edge(x.id, y.id)
    return {frozenset(c) for c in nx.connected_components(links)}


def test_alec_sweep_equals_brute_force_dbscan() -> None:
    graph = nx.barabasi_albert_graph(30, 2, seed=3)
    graph = nx.relabel_nodes(graph, str)
    rng = random.Random(11)
    events = [ev(f"e{i}", str(rng.randrange(32)), rng.uniform(0, 900)) for i in range(250)]
    assert grouped(alec(events, graph)) == brute_force_dbscan(events, graph)


def test_earliest_entities_ranks_distinct_entities_by_first_alert() -> None:
    group = [ev("1", "B", 5), ev("2", "A", 1), ev("3", "B", 0), ev("4", "C", 9)]
    assert earliest_entities(group) == ["B", "A", "C"]


SMALL = ScenarioConfig(topology="huawei", seed=4, faults=12, hours=1.5, history_hours=1.5)


def test_baselines_cover_every_alert_once_on_a_tiny_scenario() -> None:
    scenario = generate(SMALL)
    events = [Event(a["id"], a["entity"], a["starts_at"]) for a in scenario.eval.alerts]
    for name, method in BASELINES.items():
        prediction = method(events, scenario.topology.graph)
        ids = [i for g in prediction.groups for i in g]
        assert sorted(ids) == sorted(e.id for e in events), name
        scores = evaluate(prediction, scenario.eval.truth())
        assert scores["missing"] == scores["unknown"] == 0
        assert 0.0 <= scores["f1"] <= 1.0 and 0.0 <= scores["ac1"] <= scores["ac3"] <= 1.0


def test_generator_is_deterministic_per_seed() -> None:
    first, again = generate(SMALL), generate(SMALL)
    assert first.eval.alerts == again.eval.alerts
    assert first.history.alert_group == again.history.alert_group
    assert first.eval.groups == again.eval.groups
    other = generate(ScenarioConfig(**{**SMALL.__dict__, "seed": 5}))
    assert other.eval.alerts != first.eval.alerts


def test_slower_delays_spread_the_same_faults_out() -> None:
    """``delay_scale`` stretches propagation and reporting delays and nothing else: the
    same alarms of the same faults, each fault's reports spread further apart."""
    def spreads(config: ScenarioConfig) -> tuple[list[tuple[str, str, str]], float]:
        period = generate(config).eval
        by_group: dict[str, list[float]] = {}
        for a in period.alerts:
            by_group.setdefault(period.alert_group[a["id"]], []).append(a["starts_at"])
        faults = [g for g, v in period.groups.items() if v["kind"] == "fault"]
        spread = sorted(max(by_group[g]) - min(by_group[g]) for g in faults)
        same = sorted((a["name"], a["entity"], period.alert_group[a["id"]])
                      for a in period.alerts)
        return same, spread[len(spread) // 2]

    usual, usual_spread = spreads(SMALL)
    slow, slow_spread = spreads(ScenarioConfig(**{**SMALL.__dict__, "delay_scale": 3.0}))
    assert slow == usual
    assert slow_spread > 1.5 * usual_spread


def test_the_delay_scale_names_the_scenarios() -> None:
    from benchmarks.correlation.run import build_cases, parse_args

    [case] = build_cases(parse_args(["--topologies", "huawei", "--seeds", "1", "--noise",
                                     "low", "--causal", "neurips", "--delay-scale", "3"]))
    assert case.name.startswith("huawei-delay3x-") and case.config.delay_scale == 3.0


def test_a_slow_share_of_devices_reports_through_a_slower_source() -> None:
    """``slow_share``: that share of the devices report through ``poll`` (the rest
    through ``trap``), their reports later by ``slow_factor`` and nothing else changed:
    the same alarms of the same faults, the fast devices' at the same times."""
    from benchmarks.correlation.run import build_cases, parse_args

    def by_condition(config: ScenarioConfig) -> dict[tuple[str, str, str, int], dict]:
        period, seen = generate(config).eval, Counter()
        out = {}
        for a in sorted(period.alerts, key=lambda a: a["starts_at"]):
            key = (a["name"], a["entity"], period.alert_group[a["id"]])
            seen[key] += 1
            out[(*key, seen[key])] = a
        return out

    usual = by_condition(SMALL)
    mixed = by_condition(ScenarioConfig(**{**SMALL.__dict__, "slow_share": 0.5}))
    assert usual.keys() == mixed.keys()
    assert {a["source"] for a in usual.values()} == {"sim"}
    polled = {a["entity"] for a in mixed.values() if a["source"] == "poll"}
    trapped = {a["entity"] for a in mixed.values() if a["source"] == "trap"}
    assert not polled & trapped and 0.3 < len(polled) / len(polled | trapped) < 0.7
    later = sorted(mixed[k]["starts_at"] - usual[k]["starts_at"] for k in usual
                   if mixed[k]["source"] == "poll" and "fault" in k[2])
    assert all(mixed[k]["starts_at"] == usual[k]["starts_at"] for k in usual
               if mixed[k]["source"] == "trap")
    assert later[len(later) // 2] > 20.0  # report median 8 s: 48 s at six times

    [case] = build_cases(parse_args(["--topologies", "huawei", "--seeds", "1", "--noise",
                                     "low", "--causal", "neurips", "--slow-share", "0.5"]))
    assert case.name.startswith("huawei-slow0.5x6-") and case.config.slow_share == 0.5
    for bad in (["--slow-share", "1.5"], ["--slow-factor", "0.5"]):
        with pytest.raises(ValueError, match=bad[0]):
            build_cases(parse_args(bad))


def test_the_docs_say_which_share_of_the_devices_polls() -> None:
    knobs = {**ScenarioConfig().__dict__, "slow_share": 0.5}
    assert "a share of 0.5 of the devices" in report._delays(knobs)
    assert "median 48 s" in report._delays(knobs)
    assert report._delays(ScenarioConfig().__dict__) == ""


def test_hop_weights_move_effects_to_neighbours_and_name_the_scenarios() -> None:
    """``--hop-weights`` reaches the generator: with 0.1 / 0.8 / 0.1 far fewer of a
    fault's alarms share the root's device than with the defaults; bad shares are refused."""
    from benchmarks.correlation.run import build_cases, parse_args

    def on_root_device(config: ScenarioConfig) -> float:
        period = generate(config).eval
        faults = {g: v["root_entity"] for g, v in period.groups.items() if v["kind"] == "fault"}
        mine = [a for a in period.alerts if period.alert_group[a["id"]] in faults]
        return sum(a["entity"] == faults[period.alert_group[a["id"]]] for a in mine) / len(mine)

    [case] = build_cases(parse_args(["--topologies", "tree:300", "--seeds", "1", "--noise",
                                     "low", "--causal", "neurips", "--hop-weights",
                                     "0.1,0.8,0.1"]))
    assert case.name.startswith("tree-300-hops0.1-0.8-0.1-")
    assert case.config.hop_weights == (0.1, 0.8, 0.1)
    usual = ScenarioConfig(**{**case.config.__dict__, "hop_weights": (0.5, 0.35, 0.15)})
    assert on_root_device(case.config) < 0.7 * on_root_device(usual)  # 0.18 against 0.29
    for bad in ("0.5,0.5", "a,b,c", "-0.1,0.6,0.5", "0,0,0"):
        with pytest.raises(ValueError, match="--hop-weights"):
            build_cases(parse_args([f"--hop-weights={bad}"]))


@pytest.mark.parametrize("topology", ["huawei", "tree", "ba", "rings", "clos"])
def test_generator_writes_disjoint_periods_with_complete_truth(tmp_path: Path,
                                                               topology: str) -> None:
    config = ScenarioConfig(topology=topology, seed=2, nodes=300, faults=15, hours=1.5,
                            history_hours=2.0)
    paths = write_scenario(generate(config), tmp_path)
    nodes, _ = parse_topology(json.loads(paths["topology"].read_text()))
    node_ids = {n.id for n in nodes}
    truth = json.loads(paths["truth"].read_text())["periods"]
    periods = {}
    for name in ("history", "eval"):
        rows = [json.loads(line) for line in paths[name].read_text().splitlines()]
        assert rows, name
        periods[name] = rows
        period = truth[name]
        assert {r["id"] for r in rows} == set(period["alerts"])
        assert set(period["alerts"].values()) == set(period["groups"])
        assert {r["entity"] for r in rows} <= node_ids
        for group_id, group in period["groups"].items():
            assert group["root_entity"] in node_ids
            if group["silent"]:  # a silent root device reported nothing of its fault
                assert all(r["entity"] != group["root_entity"] for r in rows
                           if period["alerts"][r["id"]] == group_id)
    assert max(r["starts_at"] for r in periods["history"]) < min(
        r["starts_at"] for r in periods["eval"])
    assert not {r["id"] for r in periods["history"]} & {r["id"] for r in periods["eval"]}


def test_rings_are_connected_rings_that_survive_one_cut() -> None:
    topo = build_topology("rings", seed=4, nodes=300)
    graph = topo.graph
    assert graph.number_of_nodes() == 300 and nx.is_connected(graph)
    assert build_topology("rings", seed=4, nodes=300).graph.edges == graph.edges
    roles = {attrs["role"] for attrs in topo.attrs.values()}
    assert roles == {"core", "aggregation", "access", "base_station"}
    # Every access node sits on a closed ring (the last ring may be cut short by the
    # node budget): cutting one of its ring links leaves it connected to the core.
    core = "core-1"
    access = [n for n in graph.nodes if topo.attrs[n]["role"] == "access"]  # build order
    last_ring = access[-1].rsplit("-", 1)[0] + "-"
    closed = [n for n in access if not n.startswith(last_ring)]
    assert len(closed) > 40
    for node in closed[:40]:
        ring_links = [m for m in graph.neighbors(node) if topo.attrs[m]["role"] != "base_station"]
        assert len(ring_links) == 2
        cut = graph.copy()
        cut.remove_edge(node, ring_links[0])
        assert nx.has_path(cut, node, core)


def test_clos_is_a_leaf_spine_fabric_with_mlag_pairs_and_dual_homed_servers() -> None:
    topo = build_topology("clos", seed=4, nodes=300)
    graph = topo.graph
    assert graph.number_of_nodes() == 300 and nx.is_connected(graph)
    assert build_topology("clos", seed=4, nodes=300).graph.edges == graph.edges
    role = {n: topo.attrs[n]["role"] for n in graph.nodes}
    assert set(role.values()) == {"super_spine", "spine", "leaf", "server", "vm"}
    spines = {n for n in graph.nodes if role[n] == "spine"}
    supers = {n for n in graph.nodes if role[n] == "super_spine"}
    assert len(supers) == 2 and all(set(graph.neighbors(s)) == spines for s in supers)
    pods: dict[str, set[str]] = {}
    for spine in spines:
        pods.setdefault(topo.attrs[spine]["pod"], set()).add(spine)
    assert len(pods) >= 2 and {len(p) for p in pods.values()} <= set(range(4, 9))
    leaves = [n for n in graph.nodes if role[n] == "leaf"]
    for leaf in leaves:
        up = {m for m in graph.neighbors(leaf) if role[m] == "spine"}
        peers = [m for m in graph.neighbors(leaf) if role[m] == "leaf"]
        assert up == pods[topo.attrs[leaf]["pod"]] and len(peers) == 1
        assert leaf in set(graph.neighbors(peers[0]))  # an MLAG pair, both ways
    # Every leaf of a pod is two hops from every other through the spines.
    first = [n for n in leaves if topo.attrs[n]["pod"] == "01"]
    assert len(first) >= 12
    assert all(nx.shortest_path_length(graph, first[0], other) <= 2 for other in first)
    servers = [n for n in graph.nodes if role[n] == "server"]
    for server in servers:
        parents = [m for m in graph.neighbors(server) if role[m] == "leaf"]
        assert len(parents) == 2 and parents[1] in set(graph.neighbors(parents[0]))
    vms = [n for n in graph.nodes if role[n] == "vm"]
    assert len(vms) > len(servers)
    assert all([role[m] for m in graph.neighbors(vm)] == ["server"] for vm in vms)
    assert {topo.kinds[n] for n in vms} == {"vm"} and {topo.kinds[n] for n in servers} == {"host"}

def test_root_holds_most_counts_faults_whose_root_alarmed() -> None:
    period = Period("eval", 0.0, 1.0)
    layout = {"f1": ["r", "r", "x"], "f2": ["y", "y", "r2"], "f3": ["z"], "bg": ["q"]}
    for group, entities in layout.items():
        for k, entity in enumerate(entities):
            period.alerts.append({"id": f"{group}-{k}", "entity": entity})
            period.alert_group[f"{group}-{k}"] = group
    period.groups = {"f1": {"kind": "fault", "root_entity": "r", "silent": False},
                     "f2": {"kind": "fault", "root_entity": "r2", "silent": False},
                     "f3": {"kind": "fault", "root_entity": "s", "silent": True},
                     "bg": {"kind": "background", "root_entity": "q", "silent": False}}
    assert root_holds_most(period) == (1, 2)


def test_docs_splice_touches_only_our_section() -> None:
    other = "# Benchmarks\n\n<!-- ingest:start -->\nA\n<!-- ingest:end -->\n"
    first = report.splice(other, f"{report.START_MARK}\nv1\n{report.END_MARK}")
    assert first.startswith(other.rstrip("\n")) and "v1" in first
    second = report.splice(first + "tail\n", f"{report.START_MARK}\nv2\n{report.END_MARK}")
    assert "v1" not in second and "v2" in second
    assert second.startswith(other.rstrip("\n")) and second.endswith("tail\n")


def test_slice_table_says_that_ac1_is_pooled_over_faults_and_f1_averaged() -> None:
    def scenario(seed: int, faults: int, f1: float, ac1: float) -> dict:
        row = {k: 0.0 for k in report.MEAN_KEYS} | {
            "f1": f1, "ac1": ac1, "ac3": ac1, "ac1_silent": 0.0, "ac3_silent": 0.0,
            "faults": faults, "silent_faults": 0}
        return {"facts": {"topology": "huawei", "causal": "neurips", "noise_level": "low",
                          "seed": seed, "alerts": 1}, "results": {"engine": row}}
    document = {"methods": ["engine"], "scenarios": [scenario(1, 10, 0.5, 1.0),
                                                      scenario(2, 30, 0.7, 0.0)]}
    cell = report.summarise(document)["by_slice"]["huawei/neurips/noise low"]["engine"]
    assert cell["f1"] == pytest.approx(0.6)  # the mean of the seeds
    assert cell["ac1"] == pytest.approx(0.25)  # 10 hits of 40 faults, not the mean 0.5
    template = Path(report.__file__).read_text(encoding="utf-8")
    assert "AC@1: pooled over their faults" in template


def test_a_second_section_leaves_the_main_one_alone() -> None:
    start, end = report.marks("correlation-rings")
    main = report.splice("# Benchmarks\n", f"{report.START_MARK}\nmain\n{report.END_MARK}")
    both = report.splice(main, f"{start}\nrings v1\n{end}", "correlation-rings")
    again = report.splice(both, f"{start}\nrings v2\n{end}", "correlation-rings")
    assert "main" in again and "rings v2" in again and "rings v1" not in again
    assert again.index(report.START_MARK) < again.index(start)



def test_the_clos_section_lands_in_its_place_after_the_rings_one() -> None:
    text = report.DOCS.read_text(encoding="utf-8")
    rings_end = text.index(report.marks("correlation-rings")[1])
    start, end = report.marks("correlation-clos")
    assert "correlation-clos" in report.SECTIONS
    assert rings_end < text.index(start) < text.index(end) < text.index(
        report.marks("correlation-slow")[0])
    spliced = report.splice(text, f"{start}\nclos v1\n{end}", "correlation-clos")
    assert spliced.index("clos v1") > rings_end
    assert spliced.count(start) == 1


@pytest.mark.parametrize(("argv", "named"), [
    (["--topologies", "rings:x"], "'rings:x'"), (["--topologies", "ring"], "'ring'"),
    (["--seeds", "1,a"], "'1,a'"), (["--noise", "mid"], "'mid'"),
    (["--delay-scale", "0"], "--delay-scale: 0.0"), (["--hours", "0"], "--hours: 0.0"),
    (["--history-hours", "nan"], "--history-hours: nan"), (["--hours", "-2"], "--hours: -2.0")])
def test_a_bad_scenario_spec_is_refused_by_name_before_any_work(
        argv: list[str], named: str, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.correlation.run import main

    assert main(argv) == 2
    assert named in capsys.readouterr().err


def test_chart_is_well_formed_svg() -> None:
    svg = bar_chart("t <&>", ["F1", "AC@1"], {"engine": [0.5, 1.2], "alec": [0.1, -1]})
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert len(root.findall("{http://www.w3.org/2000/svg}rect")) >= 5


def test_a_dead_engine_worker_is_reported_not_hung(tmp_path: Path) -> None:
    worker = EngineWorker(tmp_path, "no_such_module_for_the_bench", tmp_path / "worker.log",
                          first_timeout=20.0)
    try:
        with pytest.raises(WorkerError, match="exited with status 1"):
            worker.run({"alerts": "nowhere"}, timeout=5.0)
    finally:
        worker.stop()
    assert "No module named" in (tmp_path / "worker.log").read_text()


def test_feedback_benchmark_corrects_through_the_api_and_scores_both_weightings(
        tmp_path: Path) -> None:
    """The feedback benchmark's core on one tiny scenario (not its numbers: those are
    the benchmark's): operators' corrections reach the store, the fit sees them, and
    the eval period is scored with both weightings."""
    from benchmarks.correlation.run import machine
    from benchmarks.feedback import METRICS, report, run_seed

    config = ScenarioConfig(topology="ba", seed=31, hours=0.5, history_hours=1.5, faults=4)
    result = run_seed(config, review=1.0, weak="near", fit_seconds=2.0, work=tmp_path,
                      log=lambda _: None)
    assert result["corrections"] > 0
    assert result["fit"]["feedback_records"] == result["corrections"]
    assert result["fit"]["corrected_incidents"] > 0
    for weighting in ("default", "fitted"):
        assert set(result[weighting]) == {key for key, _ in METRICS}
        assert all(0.0 <= v <= 1.0 for v in result[weighting].values())
    section = report({"date": "today", "command": "c", "machine": machine(),
                      "elapsed_seconds": 1.0, "review": 1.0, "weak": "near",
                      "fit_seconds": 2.0, "results": [result]})
    assert "| ba (31) | all | near |" in section and section.endswith("\n")


def test_text_model_benchmark_refuses_zero_runs_and_reports_both_backends(capsys) -> None:
    from benchmarks import text_model

    with pytest.raises(SystemExit) as stopped:
        text_model.main(["--repeat", "0"])
    assert stopped.value.code == 2
    assert "--repeat must be at least 1, got 0" in capsys.readouterr().err
    texts = text_model.workload()
    assert len(texts) == len(set(texts)) > 300
    run = {"load_s": 0.3, "batch_s": 2.0, "texts": len(texts), "single_p50_ms": 10.0,
           "single_p99_ms": 15.0, "torch_imported": False}
    section = text_model.report({"numpy": [run], "sentence-transformers": [
        {**run, "load_s": 6.0, "torch_imported": True}]}, (0.9999999, 2.7e-7), len(texts),
        "cmd")
    assert "| `numpy` (engine default) | 0.30 |" in section
    assert "| `sentence-transformers` | 6.00 |" in section and "| yes |" in section


def test_benchmarks_open_fresh_default_data_dirs_whatever_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # With AIOPS_DATABASE_URL set, DataDir.from_env pointed every replay of the root-priors
    # benchmark at one database: "engine without" tickets then ran on what the runs with
    # tickets had learned; a settings switch changed the engine measured, unreported.
    import inspect

    from aiops.config import EngineSettings
    from benchmarks import feedback, ingest, machine, memory, remediation, root_priors

    monkeypatch.setenv("AIOPS_DATABASE_URL", f"sqlite:///{tmp_path / 'shared.db'}")
    monkeypatch.setenv("AIOPS_LEARNED_RANKING", "off")
    data_dir = machine.fresh_data_dir(tmp_path / "run")
    assert data_dir.url() == f"sqlite:///{(tmp_path / 'run' / 'aiops.db').resolve()}"
    assert data_dir.settings == EngineSettings()
    for module in (remediation, root_priors, feedback, ingest, memory):
        assert "from_env(" not in inspect.getsource(module)
    # The CLI and server subprocesses the ingestion benchmark times see no AIOPS_* either.
    assert not [k for k in machine.engine_env() if k.startswith("AIOPS_")]
    assert inspect.getsource(ingest).count("env=engine_env()") == 2


@pytest.mark.parametrize("spec", ["tree:x", "bogus:1", "huawei:1,tree:-3"])
def test_ticket_benchmarks_refuse_a_bad_scenario_by_name_before_any_work(
        spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import remediation, root_priors

    for module in (remediation, root_priors):
        with pytest.raises(SystemExit) as exited:
            module.main(["--scenarios", spec])
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert "--scenarios" in err and repr(spec.split(",")[-1]) in err


def test_a_topology_without_a_size_fails_at_the_rate_of_the_size_it_is_built_at() -> None:
    from benchmarks.correlation.run import HUAWEI_FAULTS_PER_HOUR, faults_per_hour
    from benchmarks.correlation.topologies import DEFAULT_NODES

    for name, size in DEFAULT_NODES.items():
        assert faults_per_hour(name, None) == pytest.approx(faults_per_hour(name, size))
    assert faults_per_hour("tree", 600) == pytest.approx(
        HUAWEI_FAULTS_PER_HOUR * (600 / 45) ** 0.5)
    assert faults_per_hour("huawei", None) == HUAWEI_FAULTS_PER_HOUR


@pytest.mark.parametrize(("argv", "named"), [
    (["--faults", "nan"], "--faults"), (["--hours", "inf"], "--hours"),
    (["--history-hours", "0"], "--history-hours"), (["--noise", "nan"], "--noise"),
    (["--skew", "-1"], "--skew"), (["--topology", "tree", "--nodes", "0"], "--nodes")])
def test_the_generator_refuses_bad_knobs_by_name(argv: list[str], named: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.correlation.scenario import main

    with pytest.raises(SystemExit) as exited:
        main([*argv, "--out", str(tmp_path / "out")])
    assert exited.value.code == 2 and named in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_alec_folded_puts_a_repeat_where_its_alarm_is_and_plain_alec_does_not() -> None:
    """A condition re-sent 5 minutes on (beyond ALEC's 75 s at 0 hops) while uncleared is
    one OpenNMS alarm: folded, it joins its alarm's cluster; a new episode after the
    clear is an alarm of its own."""
    from benchmarks.correlation.baselines import alec, alec_folded

    graph = nx.Graph([("a", "b")])
    events = [Event("1", "a", 0.0, "LINK|a", 400.0), Event("2", "b", 20.0, "X|b", None),
              Event("3", "a", 300.0, "LINK|a", 400.0),  # a re-send, uncleared
              Event("4", "a", 1000.0, "LINK|a", None)]  # after the clear: new
    assert sorted(map(sorted, alec(events, graph).groups)) == [["1", "2"], ["3"], ["4"]]
    assert sorted(map(sorted, alec_folded(events, graph).groups)) == [["1", "2", "3"],
                                                                     ["4"]]


def test_p99_placement_is_a_column_for_the_methods_that_measure_it() -> None:
    """The issue's metrics include p99 placement latency: the engine's is averaged over
    scenarios; a baseline (no per-alert placement) shows '–', not 0."""
    def row(p99: float | None) -> dict:
        out = {k: 0.5 for k in report.MEAN_KEYS} | {
            "ac1": 0.5, "ac3": 0.5, "ac1_silent": 0.0, "ac3_silent": 0.0, "faults": 4,
            "silent_faults": 1}
        return out if p99 is None else out | {"p99_ms": p99}

    scenarios = [{"results": {"engine": row(0.4), "alec": row(None)}},
                 {"results": {"engine": row(0.8), "alec": row(None)}}]
    engine, alec = (report.aggregate(scenarios, m) for m in ("engine", "alec"))
    assert engine["p99_ms"] == pytest.approx(0.6) and "p99_ms" not in alec
    column = [title for _, title, _ in report.COLUMNS].index("p99 placement ms")
    assert report._cells(engine)[column] == "0.60" and report._cells(alec)[column] == "–"


def test_rank_breakdown_classes_each_fault_by_where_its_root_was_ranked() -> None:
    from benchmarks.rank_breakdown import Replayed, breakdown

    truth = {"alerts": {"a1": "f1", "a2": "f1", "a3": "f2", "a4": "f2", "a5": "f3",
                        "a6": "n1"},
             "groups": {"f1": {"kind": "fault", "root_entity": "r", "silent": True},
                        "f2": {"kind": "fault", "root_entity": "x", "silent": False},
                        "f3": {"kind": "fault", "root_entity": "q", "silent": True},
                        "n1": {"kind": "background", "root_entity": "n", "silent": False}}}
    replayed = Replayed("tiny", {}, None, [], [], truth)  # type: ignore[arg-type]
    # f1's root third; f2's root scored but fifth; f3's root nowhere; f2's group also
    # holds the background alarm, which is not a fault and not counted.
    prediction = Prediction(groups=[["a1", "a2"], ["a3", "a4", "a6"], ["a5"]],
                            root_causes=[["y", "z", "r"], ["a", "b", "c", "d", "x"], ["w"]])
    counts = breakdown(replayed, prediction, {0: {"y", "z", "r"}, 1: {"a", "x"}, 2: {"w"}})
    assert counts == {("silent", "rank 2-3"): 1, ("alarmed", "rank 4+"): 1,
                      ("silent", "not a candidate"): 1}
