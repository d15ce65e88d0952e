"""How the simulated scenarios compare with the real alarm logs (a study, two questions).

**Where effects land.** Fault cascades in ``benchmarks/correlation/scenario.py`` put
each effect on its cause's device, or 1 or 2 hops away, with the shares
``hop_weights``. The real NeurIPS 2023 log has no fault labels, but its true causal
graph and topology let one count, per hop distance, the pairs of alarms (a cause type
and then, within 300 s, an effect type the graph says it causes) beyond what chance
gives: unrelated type pairs at the same distance, scaled by the linked-to-unrelated ratio
of 160-300 s, where triggered pairs are rare, estimate the chance pairs. The same count
on simulated histories of the same topology and graph, with the default shares and
others, shows which shares make the simulator look like the real network
(``--placement``), and how long after their cause the excess pairs come, by lag bin.

**Do the alarms of one fault clear together?** Grouping by clear times looks strong
on the simulated scenarios: a fault's alarms all clear within a minute or so of its
repair (``scenario.py``), so an incident whose alarms clear minutes apart holds two
faults. Before building on that, this script asks whether real alarm logs show it, on
the two real logs the benchmarks use (``benchmarks/data``): of pairs of alarms of
different types that start within 60 s of each other on one device or two neighbours,
do pairs whose types are causally linked (the sets' true graphs) end closer together
than unrelated pairs? If they do not, a
clear-time rule would be tuned to the simulator, not to networks.

``--engine-out DIR`` also scores, offline, the split by clear times on the engine's own
groups of scenarios kept by ``python -m benchmarks.correlation.run --keep-data
--out-dir DIR``: each incident's cleared alarms are cut where consecutive clears are more
than ``--gap`` seconds apart, and every cut part of ``--min-part`` alarms or more becomes
an incident (uncleared alarms stay with the largest part).

    python -m benchmarks.realism
    python -m benchmarks.realism --placement 0.5,0.35,0.15 0.1,0.7,0.2
    python -m benchmarks.realism --engine-out /tmp/dev --gap 90
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from benchmarks.correlation.data import NEURIPS_DIR, WIRELESS_DIR, load_adjacency
from benchmarks.correlation.metrics import PairCounts, Prediction, assign, contingency
from benchmarks.correlation.run import parse_hop_weights
from benchmarks.correlation.scenario import ScenarioConfig, generate

START_WINDOW = 60.0  # seconds between the two starts of a pair
LAG_WINDOW = 300.0  # seconds from a cause to an effect counted by the placement lens
CHANCE_FROM = 160.0  # lags from here to LAG_WINDOW estimate the chance level


def read_log(path: Path) -> tuple[np.ndarray, ...]:
    """Types, devices, starts and ends of a real alarm log, in start order."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    types = np.array([int(r["alarm_id"]) for r in rows])
    devices = np.array([int(r["device_id"]) for r in rows])
    starts = np.array([float(r["start_timestamp"]) for r in rows])
    ends = np.array([float(r["end_timestamp"]) for r in rows])
    order = np.argsort(starts, kind="stable")
    return types[order], devices[order], starts[order], ends[order]


def end_gaps(log: tuple[np.ndarray, ...], causal: np.ndarray,
             adjacency: np.ndarray | None) -> tuple[list[float], list[float]]:
    """|end difference| of nearby pairs whose types are causally linked, and of the others.

    Nearby: the same device, or neighbours when the log has a topology (18V has none).
    """
    types, devices, starts, ends = log
    linked: list[float] = []
    unlinked: list[float] = []
    for i in range(len(starts)):
        k = i + 1
        while k < len(starts) and starts[k] - starts[i] <= START_WINDOW:
            a, b = devices[i], devices[k]
            near = a == b or (adjacency is not None and adjacency[a, b])
            if near and types[i] != types[k]:
                related = causal[types[i], types[k]] or causal[types[k], types[i]]
                (linked if related else unlinked).append(abs(ends[k] - ends[i]))
            k += 1
    return linked, unlinked


def describe(name: str, gaps: Sequence[float]) -> str:
    values = np.asarray(gaps)
    q25, q50, q75, q90 = np.quantile(values, [0.25, 0.5, 0.75, 0.9])
    return (f"  {name:<10} pairs {len(values):>6,}  |end gap| quartiles {q25:.0f} / {q50:.0f} / "
            f"{q75:.0f} s, 90% {q90:.0f} s; within 60 s {np.mean(values <= 60):.3f}, "
            f"within 180 s {np.mean(values <= 180):.3f}")


def real_logs() -> None:
    print("Do linked alarms end together? (pairs starting within 60 s, nearby)")
    sets = (("NeurIPS 2023 (45 devices, topology)", NEURIPS_DIR / "alarm.csv",
             NEURIPS_DIR / "true_graph.npy", NEURIPS_DIR / "topology.npy"),
            ("18V_55N wireless (no topology)", WIRELESS_DIR / "Alarm.csv",
             WIRELESS_DIR / "DAG.npy", None))
    for title, log_path, graph_path, topology_path in sets:
        log = read_log(log_path)
        durations = log[3] - log[2]
        adjacency = load_adjacency(topology_path) if topology_path else None
        linked, unlinked = end_gaps(log, load_adjacency(graph_path), adjacency)
        print(f"{title}: {len(durations):,} alarms, duration median "
              f"{np.median(durations):.0f} s, 90% {np.quantile(durations, 0.9):.0f} s")
        print(describe("causal", linked))
        print(describe("unrelated", unlinked))


LAG_EDGES = (0.0, 10.0, 20.0, 40.0, 80.0, CHANCE_FROM, LAG_WINDOW)  # lag bins, seconds


def excess_by_hop(types: np.ndarray, devices: Sequence[Any], starts: np.ndarray,
                  causal: np.ndarray, hops: dict[Any, dict[Any, int]]) -> np.ndarray:
    """Linked (cause, effect) pairs beyond chance, per hop (0, 1, 2) and lag bin
    (``LAG_EDGES`` but the last, chance-only one; see the module docstring).

    ``hops[a][b]``: the distance between devices (absent: further than 2).
    """
    order = np.argsort(starts, kind="stable")
    types, starts = types[order], starts[order]
    devices = [devices[i] for i in order]
    bins = len(LAG_EDGES) - 1
    linked = np.zeros((3, bins))
    unlinked = np.zeros((3, bins))
    for i in range(len(starts)):
        near = hops[devices[i]]
        k = i + 1
        while k < len(starts) and starts[k] - starts[i] <= LAG_WINDOW:
            hop = near.get(devices[k], 9)
            if hop <= 2 and types[i] != types[k]:
                b = min(int(np.searchsorted(LAG_EDGES, starts[k] - starts[i], "right")) - 1,
                        bins - 1)
                if causal[types[i], types[k]]:
                    linked[hop, b] += 1
                elif not causal[types[k], types[i]]:
                    unlinked[hop, b] += 1
            k += 1
    ratio = linked[:, -1] / np.maximum(unlinked[:, -1], 1.0)
    return np.maximum(linked - ratio[:, None] * unlinked, 0.0)[:, :-1]


def shares_line(label: str, excess: np.ndarray) -> str:
    """Where the excess pairs are (by hop) and how long after their cause (by lag, all
    hops together)."""
    by_hop = excess.sum(axis=1) / max(float(excess.sum()), 1.0)
    by_lag = excess.sum(axis=0) / max(float(excess.sum()), 1.0)
    lags = " / ".join(f"{share:.2f}" for share in by_lag)
    return (f"  {label:<44} excess pairs {excess.sum():>7,.0f}; at 0 / 1 / 2 hops "
            f"{by_hop[0]:.2f} / {by_hop[1]:.2f} / {by_hop[2]:.2f}; lags 0-10-20-40-80-160 s "
            f"{lags}")


def placement(settings: Sequence[tuple[float, float, float]], hours: float,
              seeds: Sequence[int]) -> None:
    """The placement lens on the real NeurIPS log and on simulated histories."""
    causal = load_adjacency(NEURIPS_DIR / "true_graph.npy")
    adjacency = load_adjacency(NEURIPS_DIR / "topology.npy")
    real_hops = dict(nx.all_pairs_shortest_path_length(nx.from_numpy_array(adjacency), cutoff=2))
    types, devices, starts, _ = read_log(NEURIPS_DIR / "alarm.csv")
    print("Where linked effects land (NeurIPS 2023 causal graph and topology):")
    print(shares_line(f"real log ({len(starts):,} alarms)",
                      excess_by_hop(types, list(devices), starts, causal, real_hops)))
    for weights in settings:
        excess = np.zeros((3, len(LAG_EDGES) - 2))
        alarms = 0
        for seed in seeds:
            scenario = generate(ScenarioConfig(topology="huawei", causal="neurips", seed=seed,
                                               history_hours=hours, hours=1.0,
                                               hop_weights=weights))
            alerts = scenario.history.alerts
            graph_hops = dict(nx.all_pairs_shortest_path_length(scenario.topology.graph,
                                                                cutoff=2))
            excess += excess_by_hop(np.array([int(a["labels"]["alarm_type"]) for a in alerts]),
                                    [a["entity"] for a in alerts],
                                    np.array([a["starts_at"] for a in alerts]), causal,
                                    graph_hops)
            alarms += len(alerts)
        setting = ",".join(f"{w:g}" for w in weights)
        print(shares_line(f"simulated, hop_weights {setting} ({alarms:,} alarms)", excess),
              flush=True)


def clear_clusters(ends: Sequence[float], gap: float) -> list[list[float]]:
    """Sorted clear times cut where two consecutive ones are more than ``gap`` apart."""
    clusters: list[list[float]] = []
    for value in sorted(ends):
        if clusters and value - clusters[-1][-1] <= gap:
            clusters[-1].append(value)
        else:
            clusters.append([value])
    return clusters


def split_by_clears(group: list[str], ends: dict[str, float | None], gap: float,
                    min_part: int) -> list[list[str]]:
    """One incident cut into the parts its clear times make (itself when fewer than two)."""
    cleared = [end for a in group if (end := ends[a]) is not None]
    big = [c for c in clear_clusters(cleared, gap) if len(c) >= min_part]
    if len(big) < 2:
        return [group]
    parts: list[list[str]] = [[] for _ in big]
    for alert_id in group:
        end = ends[alert_id]
        if end is None:
            continue
        nearest = min(range(len(big)), key=lambda i: max(big[i][0] - end, end - big[i][-1], 0.0))
        parts[nearest].append(alert_id)
    largest = max(parts, key=len)
    largest.extend(a for a in group if ends[a] is None)
    return parts


def scores(groups: list[list[str]], truth: dict[str, str]) -> PairCounts:
    predicted, _, _ = assign(Prediction(groups=groups), truth)
    return PairCounts.from_contingency(contingency(predicted, list(truth.values())))


def engine_outputs(out_dir: Path, gap: float, min_part: int) -> None:
    rows: list[tuple[str, PairCounts, PairCounts]] = []
    for scenario in sorted(p for p in out_dir.iterdir() if (p / "engine-trained.json").exists()):
        ends: dict[str, Any] = {}
        for line in (scenario / "eval.jsonl").read_text(encoding="utf-8").splitlines():
            alert = json.loads(line)
            ends[alert["id"]] = alert.get("ends_at")
        truth = json.loads((scenario / "truth.json").read_text(encoding="utf-8"))
        alerts = truth["periods"]["eval"]["alerts"]
        incidents = json.loads((scenario / "engine-trained.json").read_text(encoding="utf-8"))
        groups = [list(i["alert_ids"]) for i in incidents["incidents"]]
        cut = [part for g in groups for part in split_by_clears(g, ends, gap, min_part)]
        rows.append((scenario.name, scores(groups, alerts), scores(cut, alerts)))
        print(f"  {scenario.name:<34} pair F1 {rows[-1][1].f1:.3f} -> {rows[-1][2].f1:.3f}",
              flush=True)
    if not rows:
        raise SystemExit(f"{out_dir}: no kept scenario (run the correlation benchmark "
                         "with --keep-data --out-dir)")
    for label, index in (("engine", 1), (f"split at {gap:.0f} s", 2)):
        mean = [float(np.mean([getattr(r[index], m) for r in rows]))
                for m in ("f1", "precision", "recall")]
        print(f"{label}: mean over {len(rows)} scenarios pair F1 {mean[0]:.4f}, "
              f"precision {mean[1]:.4f}, recall {mean[2]:.4f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine-out", type=Path, help="kept scenarios of the correlation run")
    parser.add_argument("--gap", type=float, default=90.0)
    parser.add_argument("--min-part", type=int, default=3)
    parser.add_argument("--placement", nargs="*", metavar="SHARES",
                        help="hop_weights to simulate (e.g. 0.5,0.35,0.15) for the placement lens")
    parser.add_argument("--hours", type=float, default=48.0,
                        help="simulated history per seed for --placement")
    parser.add_argument("--seeds", default="1,2", help="simulation seeds for --placement")
    args = parser.parse_args(argv)
    # Every argument checked before the minutes of work start.
    try:
        settings = [parse_hop_weights(text) for text in args.placement or ["0.5,0.35,0.15"]]
    except ValueError as exc:
        parser.error(str(exc).replace("--hop-weights", "--placement"))
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds: {args.seeds!r} is not a comma-separated list of integers")
    if not 0 < args.hours < math.inf or not 0 < args.gap < math.inf or args.min_part < 1:
        parser.error("--hours and --gap must be numbers above 0, --min-part at least 1")
    if args.engine_out is not None and not args.engine_out.is_dir():
        parser.error(f"--engine-out: {args.engine_out} is not a directory (keep a run's "
                     "scenarios with benchmarks.correlation.run --keep-data --out-dir)")
    if args.placement is not None:
        placement(settings, args.hours, seeds)
    real_logs()
    if args.engine_out:
        engine_outputs(args.engine_out, args.gap, args.min_part)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
