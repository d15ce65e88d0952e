"""Event streams along a known causal graph between alarm types, to choose and test
the causal-relation learner without tuning it to the real sets.

The real sets (Huawei NeurIPS 2023, 18V wireless) are held out: their true graphs
score the learner, never choose its parameters. Parameters are chosen on streams
drawn here, whose every knob is randomised over a wide range so that a choice that
wins here wins on shapes of data we have not seen (the project is also measured on
real sets it does not have).

Generative model: a topological Hawkes process (Cai et al., "THPs: Topological
Hawkes Processes for Learning Causal Structure on Event Sequences", IEEE TNNLS 2022)
plus what real alarm logs add on top of it:

* a random DAG between ``types`` alarm types (each type has on average ``parents``
  causes); every type is *hosted* by a random share of the devices (a BGP alarm
  does not come from a power supply), with its own spontaneous rate per device;
* an alarm of type ``j`` sets off ``Poisson(a_ji)`` alarms of each child type ``i``
  (``a_ji`` drawn in ``branching``), on the same device or one or two hops away
  (``hop_weights``), after a delay of random shape (exponential, lognormal or
  uniform within the cause's lifetime) with a scale drawn per stream; effects cause
  their own effects, so cascades follow the graph;
* the background is non-stationary: an activity level per hour shared by all types
  (maintenance windows, busy hours), so types co-occur by chance at that scale;
* every alarm is reported late (lognormal delay) and stamped by its device's clock,
  off by up to ``skew`` seconds; a share is re-sent (same condition, new event);
* ``topology="none"``: devices are unrelated (like the 18V set), effects stay on
  their cause's device and the learner gets no topology.

Usage: python -m benchmarks.causal_sim --seed 3 (prints a summary of one stream).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import networkx as nx
import numpy as np

from aiops.models import Alert
from topology.graph import TopologyGraph
from topology.model import Edge, Node

SOURCE = "causal-sim"


@dataclass(frozen=True)
class SimConfig:
    """Knobs of one stream; ``draw(seed)`` randomises them, the same config gives the
    same stream."""

    seed: int = 1
    types: int = 30
    nodes: int = 60
    topology: str = "ba"  # ba | tree | none
    parents: float = 1.5  # expected causes per type
    events: int = 20000  # spontaneous alarms in the stream (effects come on top)
    days: float = 7.0
    host_share: tuple[float, float] = (0.2, 1.0)  # share of devices hosting a type
    branching: tuple[float, float] = (0.05, 0.9)  # expected effects of one cause alarm
    delay: str = "exp"  # exp | lognormal | lifetime
    delay_scale: float = 20.0  # seconds: typical cause-to-effect delay
    hop_weights: tuple[float, float, float] = (0.5, 0.35, 0.15)
    burstiness: float = 1.0  # sigma of the log activity level per hour
    report_median: float = 5.0  # seconds from onset to the report's timestamp
    skew: float = 10.0  # device clocks off by up to this many seconds
    p_duplicate: float = 0.1


@dataclass
class SimStream:
    """One drawn stream: the alerts, the topology the learner sees, and the truth."""

    config: SimConfig
    alerts: list[Alert]
    topology: TopologyGraph
    adjacency: np.ndarray  # device adjacency as THP wants it (identity for "none")
    truth: set[tuple[str, str]] = field(default_factory=set)
    type_names: list[str] = field(default_factory=list)


def draw(seed: int, **fixed: object) -> SimConfig:
    """A config with every knob drawn from its range for ``seed`` (``fixed`` overrides)."""
    rng = np.random.default_rng(10_000 + seed)
    config = SimConfig(
        seed=seed,
        types=int(rng.integers(10, 61)),
        nodes=int(rng.integers(20, 121)),
        topology=str(rng.choice(["ba", "tree", "none"], p=[0.4, 0.3, 0.3])),
        parents=float(rng.uniform(0.8, 3.0)),
        events=int(rng.integers(8000, 30001)),
        days=float(rng.uniform(3.0, 60.0)),
        delay=str(rng.choice(["exp", "lognormal", "lifetime"])),
        delay_scale=float(math.exp(rng.uniform(math.log(3.0), math.log(120.0)))),
        burstiness=float(rng.uniform(0.0, 1.5)),
        report_median=float(rng.uniform(0.0, 15.0)),
        skew=float(rng.uniform(0.0, 30.0)),
        p_duplicate=float(rng.uniform(0.0, 0.3)),
    )
    return replace(config, **fixed)  # type: ignore[arg-type]


def _topology(cfg: SimConfig, rng: np.random.Generator) -> nx.Graph:
    n = cfg.nodes
    if cfg.topology == "ba":
        return nx.barabasi_albert_graph(n, 2, seed=int(rng.integers(1 << 30)))
    if cfg.topology == "tree":  # hierarchy with dual-homed lower levels
        graph = nx.Graph()
        graph.add_nodes_from(range(n))
        for v in range(1, n):
            graph.add_edge(v, int(rng.integers(0, max(1, v // 2 + 1))))
            if v > 3 and rng.random() < 0.3:
                graph.add_edge(v, int(rng.integers(0, v)))
        return graph
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    return graph


def _dag(cfg: SimConfig, rng: np.random.Generator) -> np.ndarray:
    n = cfg.types
    order = rng.permutation(n)
    p = min(1.0, 2.0 * cfg.parents / max(1, n - 1))
    dag = np.zeros((n, n), dtype=bool)
    for a in range(n):
        for b in range(a + 1, n):
            if rng.random() < p:
                dag[order[a], order[b]] = True
    return dag


def _delay(cfg: SimConfig, rng: np.random.Generator, lifetime: float) -> float:
    if cfg.delay == "lognormal":
        return float(rng.lognormal(math.log(cfg.delay_scale), 0.8))
    if cfg.delay == "lifetime":  # while the cause is active, uniformly
        return float(rng.uniform(0.0, lifetime))
    return float(rng.exponential(cfg.delay_scale))


def generate(cfg: SimConfig) -> SimStream:
    """Draw the stream of ``cfg``."""
    rng = np.random.default_rng(cfg.seed)
    graph = _topology(cfg, rng)
    dag = _dag(cfg, rng)
    n_types, n_nodes = cfg.types, cfg.nodes
    span = cfg.days * 86400.0
    hosts = [rng.random(n_nodes) < rng.uniform(*cfg.host_share) for _ in range(n_types)]
    for h in hosts:
        if not h.any():
            h[rng.integers(n_nodes)] = True
    # Spontaneous rates: type popularity is skewed (a few types dominate real logs).
    popularity = rng.lognormal(0.0, 1.0, n_types)
    hours = int(math.ceil(span / 3600.0))
    activity = rng.lognormal(0.0, cfg.burstiness, hours) if cfg.burstiness > 0 else \
        np.ones(hours)
    branching = np.where(dag, rng.uniform(*cfg.branching, dag.shape), 0.0)
    rings: dict[int, list[list[int]]] = {}

    def ring(v: int, hops: int) -> list[int]:
        if v not in rings:
            dist = nx.single_source_shortest_path_length(graph, v, cutoff=2)
            rings[v] = [[u for u, d in dist.items() if d == k] for k in range(3)]
        return rings[v][hops]

    # (type, node, onset, lifetime); spontaneous ones first, hour by hour
    weight = np.array([popularity[i] * h.sum() for i, h in enumerate(hosts)])
    hour_share = activity / activity.sum()
    counts = rng.multinomial(cfg.events, hour_share)
    events: list[tuple[int, int, float, float]] = []
    type_p = weight / weight.sum()
    for hour, count in enumerate(counts):
        for i in rng.choice(n_types, size=count, p=type_p):
            v = int(rng.choice(np.flatnonzero(hosts[i])))
            events.append((int(i), v, (hour + rng.random()) * 3600.0,
                           float(rng.exponential(60.0)) + 1.0))
    frontier = list(events)
    while frontier:
        following = []
        for j, v, t, life in frontier:
            for i in np.flatnonzero(dag[j]):
                for _ in range(rng.poisson(branching[j, i])):
                    hops = int(rng.choice(3, p=cfg.hop_weights))
                    while hops and not ring(v, hops):
                        hops -= 1
                    u = int(rng.choice(ring(v, hops))) if hops else v
                    at = t + _delay(cfg, rng, life)
                    if at < span:
                        following.append((int(i), u, at, float(rng.exponential(60.0)) + 1.0))
        events.extend(following)
        frontier = following
    skew = rng.uniform(-cfg.skew, cfg.skew, n_nodes)
    names = [f"T{i:02d}" for i in range(n_types)]
    start = 1_767_225_600.0
    stamped: list[tuple[float, int, int, float]] = []
    for i, v, t, life in events:
        report = float(rng.lognormal(math.log(cfg.report_median), 0.9)) \
            if cfg.report_median > 0 else 0.0
        at = round(t + report + skew[v])
        stamped.append((at, i, v, life))
        if rng.random() < cfg.p_duplicate:
            stamped.append((at + round(rng.uniform(10.0, 120.0)), i, v, life))
    stamped.sort()
    alerts = [Alert(f"e{k}", SOURCE, names[i], f"dev-{v:03d}", "major", "", start + at,
                    start + at + round(life)) for k, (at, i, v, life) in enumerate(stamped)]
    if cfg.topology == "none":
        topology = TopologyGraph()
        adjacency = np.eye(n_nodes, dtype=int)
    else:
        topology = TopologyGraph([Node(f"dev-{v:03d}", "device", f"dev-{v:03d}")
                                  for v in range(n_nodes)],
                                 [Edge(f"dev-{a:03d}", f"dev-{b:03d}") for a, b in graph.edges])
        adjacency = nx.to_numpy_array(graph, nodelist=range(n_nodes), dtype=int)
    truth = {(names[a], names[b]) for a, b in zip(*np.nonzero(dag), strict=True)}
    return SimStream(cfg, alerts, topology, adjacency, truth, names)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    stream = generate(draw(args.seed))
    print(stream.config, file=sys.stderr)
    print(f"{len(stream.alerts)} alerts, {len(stream.truth)} true edges", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
