"""Where root-cause ranking fails: silent / alarmed roots by the rank they got.

Ranking does not change grouping, so the engine's groups of a scenario can be kept
and re-ranked by the working tree's ranker in seconds, where a run of
``benchmarks.correlation.run`` takes minutes. Per scenario (the same matrix and
settings as the correlation benchmark's ``engine`` variant: ``aiops train`` on the
history, replay of the eval period) the replay is done once, each incident's alerts
as the engine last ranked them are recorded, and the lot is cached (``--cache``).
Then every cached scenario is re-ranked with ``CausalTopologyRanker`` and scored as
``benchmarks.correlation.metrics`` scores it; the table says, for the faults whose
root was silent and those whose root alarmed, how many had it at rank 1, at 2-3, at
4 or lower, and not among the candidates at all.

Why a tool: choices about ranking must be made on development seeds, quickly, and
the failure classes say which change can help (candidate generation or ordering).

Usage: python -m benchmarks.rank_breakdown --seeds 301,302 [--topologies huawei,...]
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiops.config import DataDir
from aiops.engine.rank import CausalTopologyRanker, RankWeights
from aiops.engine.state import AlertRecord, IncidentRecord
from aiops.learning.relations import TypeRelations
from aiops.learning.training import train
from aiops.models import parse_alert
from aiops.replay import replay_alerts
from aiops.runtime import open_runtime
from benchmarks.correlation.metrics import Prediction, assign, contingency, evaluate
from benchmarks.correlation.run import (
    DEFAULT_HOP_WEIGHTS,
    faults_per_hour,
    noise_value,
    parse_hop_weights,
)
from benchmarks.correlation.scenario import ScenarioConfig, generate
from topology.graph import TopologyGraph
from topology.model import parse_topology

CACHE = Path("/tmp/aiops-rank-breakdown")
CLASSES = ("rank 1", "rank 2-3", "rank 4+", "not a candidate")


@dataclass
class Replayed:
    """A scenario's engine groups with each incident's alerts as last ranked."""

    name: str
    topology_document: dict[str, Any]
    relations: TypeRelations
    incidents: list[tuple[str, list[str], list[AlertRecord]]]  # id, event ids, alerts
    engine_roots: list[list[str]]  # the engine's own ranking of each, for a check
    truth: dict[str, Any]

    @property
    def topology(self) -> TopologyGraph:
        """Rebuilt from the document (the graph's caches do not pickle)."""
        return TopologyGraph(*parse_topology(self.topology_document))


def configs(topologies: str, seeds: str, causal: str, noise: str, hours: float,
            history_hours: float, hop_weights: tuple[float, float, float] = DEFAULT_HOP_WEIGHTS
            ) -> list[tuple[str, ScenarioConfig]]:
    """The correlation benchmark's matrix (``benchmarks.correlation.run``)."""
    out = []
    for spec, kind, seed, level in itertools.product(
            topologies.split(","), causal.split(","), [int(s) for s in seeds.split(",")],
            noise.split(",")):
        topology, _, size = spec.partition(":")
        nodes = int(size) if size else None
        config = ScenarioConfig(topology=topology, seed=seed, nodes=nodes, causal=kind,
                                faults=faults_per_hour(topology, nodes) * hours, hours=hours,
                                history_hours=history_hours, noise=noise_value(level),
                                hop_weights=hop_weights)
        label = f"{topology}-{size}" if size else topology
        if hop_weights != DEFAULT_HOP_WEIGHTS:
            label += "-hops" + "-".join(f"{w:g}" for w in hop_weights)
        out.append((f"{label}-{kind}-s{seed}-noise{level}", config))
    return out


def replay(name: str, config: ScenarioConfig) -> Replayed:
    """Train on the history and replay the eval period as the benchmark's engine does,
    recording each incident's alerts at its last ranking."""
    scenario = generate(config)
    last: dict[str, list[AlertRecord]] = {}
    with tempfile.TemporaryDirectory(prefix="rank-breakdown-") as work:
        runtime = open_runtime(DataDir(path=Path(work)))
        try:
            nodes, edges = parse_topology(scenario.topology.document())
            runtime.import_topology(nodes, edges, source="benchmark")
            past = sorted((parse_alert(a) for a in scenario.history.alerts),
                          key=lambda a: a.starts_at)
            model, _ = train(runtime.registry, past, runtime.engine.topology, "history",
                             embedder=runtime.embedder)
            runtime.use_model(model)
            ranker = runtime.engine.ranker
            rank = ranker.rank

            def recording(incident: IncidentRecord) -> Any:
                last[incident.id] = list(incident.alerts.values())
                return rank(incident)

            ranker.rank = recording  # type: ignore[method-assign]
            alerts = sorted((parse_alert(a) for a in scenario.eval.alerts),
                            key=lambda a: a.starts_at)
            document = replay_alerts(runtime, alerts, None)
        finally:
            runtime.close()
    incidents = [(i["id"], list(i["alert_ids"]), last.get(i["id"], []))
                 for i in document["incidents"]]
    engine_roots = [[rc["entity"] for rc in i.get("root_causes") or []]
                    for i in document["incidents"]]
    return Replayed(name, scenario.topology.document(), model.relations, incidents,
                    engine_roots, scenario.eval.truth())


def cached(name: str, config: ScenarioConfig, cache: Path) -> Replayed:
    path = cache / f"{name}.pickle"
    if path.exists():
        with path.open("rb") as handle:
            return Replayed(**pickle.load(handle))
    print(f"replaying {name} ...", file=sys.stderr, flush=True)
    found = replay(name, config)
    cache.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        pickle.dump(vars(found), handle)  # fields only: loads from any module's run
    return found


def rerank(replayed: Replayed, ranker: CausalTopologyRanker
           ) -> tuple[Prediction, dict[int, set[str]]]:
    """The engine's groups ranked by ``ranker``; per group its scored candidates."""
    groups, roots, candidates = [], [], {}
    for row, (incident_id, event_ids, alerts) in enumerate(replayed.incidents):
        record = IncidentRecord(id=incident_id, seq=row, started_at=0.0, updated_at=0.0)
        record.alerts = {a.id: a for a in alerts}
        hand = ranker.hand_ranking(record) if alerts else None
        ranked = ranker.rank(record) if alerts else []
        groups.append(event_ids)
        roots.append([rc.entity for rc in ranked])
        candidates[row] = ({rc.entity for rc in hand.ranked} if hand is not None else set())
    return Prediction(groups, roots), candidates


def breakdown(replayed: Replayed, prediction: Prediction, candidates: dict[int, set[str]]
              ) -> Counter[tuple[str, str]]:
    """(silent|alarmed, class) -> faults, judged on the group holding most of each fault
    (ties: the first), as ``metrics.root_cause_accuracy`` picks it."""
    alert_group = replayed.truth["alerts"]
    predicted, _, _ = assign(prediction, alert_group)
    table = contingency(predicted, list(alert_group.values()))
    holder: dict[str, tuple[int, int]] = {}
    for (row, col), n in table.items():
        if col not in holder or n > holder[col][0]:
            holder[col] = (n, row)
    out: Counter[tuple[str, str]] = Counter()
    for col, (_, row) in holder.items():
        info = replayed.truth["groups"].get(col, {})
        if info.get("kind") != "fault":
            continue
        kind = "silent" if info.get("silent") else "alarmed"
        root = info["root_entity"]
        ranked = prediction.root_causes[row] if row < len(prediction.root_causes) else []
        if root in ranked[:1]:
            which = CLASSES[0]
        elif root in ranked[:3]:
            which = CLASSES[1]
        elif root in candidates.get(row, set()) or root in ranked:
            which = CLASSES[2]
        else:
            which = CLASSES[3]
        out[(kind, which)] += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topologies", default="huawei,tree:600,tree:2000,ba:500")
    parser.add_argument("--seeds", required=True)
    parser.add_argument("--causal", default="neurips,wireless")
    parser.add_argument("--noise", default="low,high")
    parser.add_argument("--hours", type=float, default=12.0)
    parser.add_argument("--history-hours", type=float, default=24.0)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--hop-weights", default=None,
                        help="where effects land (as benchmarks.correlation.run takes it)")
    parser.add_argument("--weights", default="",
                        help="RankWeights to try, e.g. origin_fit=0.5,alarm_share=0")
    parser.add_argument("--check", action="store_true",
                        help="count the incidents the re-ranking orders as the engine did")
    args = parser.parse_args(argv)
    total: Counter[tuple[str, str]] = Counter()
    sums: Counter[str] = Counter()
    defaults = RankWeights()
    weights: dict[str, Any] = {}
    for item in filter(None, args.weights.split(",")):
        key, _, value = item.partition("=")
        if not hasattr(defaults, key):
            parser.error(f"--weights: {key!r} is not a field of RankWeights")
        try:
            weights[key] = type(getattr(defaults, key))(value)
        except ValueError:
            parser.error(f"--weights: {item!r} is not {key}=NUMBER")
    for name, config in configs(args.topologies, args.seeds, args.causal, args.noise,
                                args.hours, args.history_hours,
                                parse_hop_weights(args.hop_weights)):
        replayed = cached(name, config, args.cache)
        ranker = CausalTopologyRanker(replayed.topology, relations=replayed.relations,
                                      weights=RankWeights(**weights))
        prediction, candidates = rerank(replayed, ranker)
        scores = evaluate(prediction, replayed.truth)
        if args.check:
            same = sum(a == b for a, b in zip(prediction.root_causes, replayed.engine_roots,
                                              strict=True))
            print(f"{name}: re-ranked as the engine ranked {same} of "
                  f"{len(replayed.engine_roots)} incidents", file=sys.stderr)
        counts = breakdown(replayed, prediction, candidates)
        total.update(counts)
        for key in ("faults", "silent_faults"):
            sums[key] += scores[key]
        sums["hit1"] += scores["ac1"] * scores["faults"]
        sums["hit3"] += scores["ac3"] * scores["faults"]
        sums["hit1_silent"] += scores["ac1_silent"] * scores["silent_faults"]
        sums["hit3_silent"] += scores["ac3_silent"] * scores["silent_faults"]
        sums["f1"] += scores["f1"]
        sums["scenarios"] += 1
        print(f"{name}: F1 {scores['f1']:.3f} AC@1 {scores['ac1']:.3f} "
              f"AC@3 {scores['ac3']:.3f} silent {scores['ac1_silent']:.3f}/"
              f"{scores['ac3_silent']:.3f}", file=sys.stderr, flush=True)
    alarmed = sums["faults"] - sums["silent_faults"]
    print(f"\nfaults {sums['faults']} (silent {sums['silent_faults']}), pooled; "
          f"pair F1 mean over {sums['scenarios']} scenarios {sums['f1'] / sums['scenarios']:.3f}")
    print(f"AC@1 {sums['hit1'] / sums['faults']:.3f}  AC@3 {sums['hit3'] / sums['faults']:.3f}  "
          f"silent {sums['hit1_silent'] / sums['silent_faults']:.3f} / "
          f"{sums['hit3_silent'] / sums['silent_faults']:.3f}  alarmed "
          f"{(sums['hit1'] - sums['hit1_silent']) / alarmed:.3f} / "
          f"{(sums['hit3'] - sums['hit3_silent']) / alarmed:.3f}")
    print("\n| root | " + " | ".join(CLASSES) + " |")
    print("|---|" + "---:|" * len(CLASSES))
    for kind in ("silent", "alarmed"):
        n = sum(total[(kind, c)] for c in CLASSES)
        print(f"| {kind} ({n}) | " + " | ".join(
            f"{total[(kind, c)]} ({total[(kind, c)] / n:.1%})" if n else "0"
            for c in CLASSES) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
