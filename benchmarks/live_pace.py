"""The live pace's refit: what an untrained engine pays, on one event, at each fit.

Why: an engine with no trained model reads its time scale and the type precedence
its ranker uses from the alerts it keeps (``aiops.engine.pace``: up to a day, at most
50,000 alerts). Each fit runs on the ingest path, under the engine's lock, when event
time crosses the pace's grid (every 30 minutes, doubling to 6 hours while the reading
holds), so the alert that crosses it waits for the whole fit. This measures that wait
against the number of alerts kept, split into its two parts (the scale's estimate,
``CascadeTimescale``; the precedence count, ``TypeRelations.fit_precedence``), next to
the peer the pace avoids: ``aiops train``'s own fit of the type relations
(``TypeRelations.fit``: co-occurrence and the causal edge search) on the same alerts.

Alerts: a busy day simulated by the correlation benchmark's generator
(``benchmarks/correlation/scenario.py``: fault cascades along the NeurIPS 2023 causal
graph, re-sends, background alarms) on a 500-node Barabási–Albert topology, fault rate
raised until the day holds the largest size measured; smaller sizes are its latest
alerts, as the pace keeps them.

Usage: .venv/bin/python -m benchmarks.live_pace [--sizes 5000,20000,50000]
       [--repeat 3] [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from aiops.engine.pace import LivePace
from aiops.learning.relations import TypeRelations
from aiops.learning.timescale import CascadeTimescale
from aiops.models import Alert, parse_alert
from benchmarks.correlation.scenario import ScenarioConfig, generate
from benchmarks.machine import cpu_model, load_average
from benchmarks.remediation import module_command, publish
from topology.graph import TopologyGraph
from topology.model import Edge, Node

START, END = "<!-- live-pace:start -->", "<!-- live-pace:end -->"
NODES = 500
SEED = 5


def busy_day(size: int) -> tuple[list[Alert], TopologyGraph]:
    """At least ``size`` alerts of one simulated day (the history period), by start."""
    faults = 48.0
    while True:
        config = ScenarioConfig(topology="ba", nodes=NODES, seed=SEED, faults=faults,
                                hours=1.0, history_hours=24.0)
        scenario = generate(config)
        if len(scenario.history.alerts) >= size:
            break
        faults *= 1.6 * size / max(len(scenario.history.alerts), 1)
    alerts = sorted((parse_alert(a) for a in scenario.history.alerts),
                    key=lambda a: (a.starts_at, a.id))
    doc = scenario.topology.document()
    graph = TopologyGraph([Node(n["id"], n["kind"], n["name"], n.get("attrs", {}))
                           for n in doc["nodes"]],
                          [Edge(e["source"], e["target"]) for e in doc["edges"]])
    return alerts, graph


def timed(work: Callable[[], object], repeat: int) -> float:
    """Median wall seconds of ``work`` over ``repeat`` runs."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def measure(alerts: list[Alert], topology: TopologyGraph, size: int, repeat: int
            ) -> dict[str, float]:
    kept = alerts[-size:]

    def refit() -> LivePace:
        pace = LivePace(max_alerts=size)
        pace.observe(kept)
        pace.refit(topology)
        return pace

    pace = refit()
    hours = (kept[-1].starts_at - kept[0].starts_at) / 3600.0
    return {
        "alerts": len(kept), "hours": hours,
        "refit_s": timed(refit, repeat),
        "scale_s": timed(lambda: CascadeTimescale(min_excess=pace.min_excess)
                         .fit(kept, topology), repeat),
        "precedence_s": timed(lambda: pace._fit_precedence(kept, topology), repeat),
        "precedence_pairs": pace.precedence_pairs, "scale": pace.scale,
        "train_relations_s": timed(lambda: TypeRelations().fit(kept, topology), repeat),
    }


def report(rows: Sequence[dict[str, float]], repeat: int, command: str, built_s: float
           ) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = load_average()
    lines = [
        "## The live pace's refit (an engine without a trained model)", "",
        f"Measured {when} on {cpu_model()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; 1-minute load average {load} at the end; "
        f"median of {repeat} runs each; the day of alerts took {built_s:.1f} s to simulate.",
        "",
        f"Command: `{command}`", "",
        "An engine with no trained model refits its time scale and type precedence on the "
        "alerts it keeps (`aiops/engine/pace.py`: a day, at most 50,000) each time event "
        "time crosses its grid (30 min, doubling to 6 h while the reading holds). The fit "
        "runs on the ingest path under the engine's lock: the alert that crosses the grid "
        "waits for all of it (*refit*, which also sorts and trims what is kept). *scale* "
        "and *precedence* are its two parts alone. The peer is what `aiops train` does "
        f"instead with the same alerts (`TypeRelations.fit`, causal edge search included). "
        f"Alerts: the latest of a simulated busy day on a {NODES}-node Barabási–Albert "
        "topology (`benchmarks/correlation/scenario.py`, NeurIPS 2023 causal graph).", "",
        "| alerts kept | hours they span | refit s | scale s | precedence s | "
        "ordered pairs counted | `aiops train` relations s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {int(r['alerts']):,} | {r['hours']:.1f} | {r['refit_s']:.3f} | "
            f"{r['scale_s']:.3f} | {r['precedence_s']:.3f} | {int(r['precedence_pairs']):,} | "
            f"{r['train_relations_s']:.2f} |")
    lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="5000,20000,50000",
                        help="comma list of alert counts the pace keeps")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true",
                        help="replace the live-pace section of docs/benchmarks.md")
    args = parser.parse_args(argv)
    try:
        sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error(f"--sizes: not a comma list of integers: {args.sizes!r}")
    if not sizes or sizes[0] < 100 or args.repeat < 1:
        parser.error("--sizes: each at least 100; --repeat: at least 1")
    started = time.perf_counter()
    print(f"simulating a day of at least {sizes[-1]:,} alerts ...", file=sys.stderr, flush=True)
    alerts, topology = busy_day(sizes[-1])
    built_s = time.perf_counter() - started
    rows = []
    for size in sizes:
        print(f"  {size:,} alerts kept ...", file=sys.stderr, flush=True)
        rows.append(measure(alerts, topology, size, args.repeat))
    command = module_command("benchmarks.live_pace", argv)
    section = report(rows, args.repeat, command, built_s)
    publish(section, args.write_docs, START, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
