"""Learning causal relations between alarm types: our learner and gcastle's THP, side by side.

For every data set both methods get the same alarms (type, device, start time) and
the same topology, in the same run, and their directed edges are scored against the
set's true causal graph: precision, recall, F1 (an edge counts only in its true
direction; self-loops are ignored) and wall time of the fit.

Data sets:

* ``neurips``: Huawei NeurIPS 2023 competition sample (benchmarks/data/huawei-neurips2023),
  30,691 alarms, 59 types, 45 devices with their topology, 147 true edges;
* ``wireless``: the 18V_55N wireless set (benchmarks/data/huawei-18v-wireless), 34,838
  alarms, 18 types, 55 devices, 69 true edges. It has no topology: our learner gets an
  empty topology (alarms relate on the same device only) and THP gets the identity
  matrix with ``max_hop=0``, as gcastle's examples do for data without topology;
* ``sim-*``: streams drawn by ``benchmarks/causal_sim.py`` with seeds that were not
  used to choose our parameters (those were chosen on seeds 1-40, see
  docs/causal-discovery.md); 15 types, so that the shipped THP finishes too.

THP is gcastle's ``TTPM`` class (its name for THP in gcastle 1.0.x) with its default
parameters (``delta=0.1``, BIC, ``epsilon=1``), ``max_hop=2`` where there is a
topology (as in gcastle's THP example) and ``max_iter`` raised from 20 to
``--thp-max-iter``: gcastle's hill climb adds one edge per iteration, so the default
stops at 20 edges whatever the data say. It runs through ``MemoTHP``
(``benchmarks/causal_thp.py``), which caches gcastle's EM per effect type and gives
the same graph; on the sets with at most ``--stock-max-types`` types the shipped
class runs too, its graph is checked equal and its time is reported. Where it is
not run, its time is extrapolated from the number of EM calls times the measured
time of one shipped EM on that set.

``--extra TOPOLOGY:FIRST-LAST`` adds families of simulated streams with other seeds
(our learner and THP with its EM cached on each; means are reported), so that a
result on the one benchmark stream per shape can be checked on others.

Usage: .venv/bin/python -m benchmarks.causal [--sets neurips,wireless,sim-ba,sim-none]
       [--no-thp] [--extra none:201-210 ...] [--write-docs]
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from aiops.learning.relations import TypeRelations
from aiops.models import Alert
from benchmarks.causal_sim import draw, generate
from benchmarks.machine import cpu_model
from topology.graph import TopologyGraph
from topology.model import Edge, Node

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
OUT_JSON = ROOT / "benchmarks" / "out" / "causal.json"
DOCS = ROOT / "docs" / "benchmarks.md"
START_MARK, END_MARK = "<!-- causal:start -->", "<!-- causal:end -->"
PUBLISHED_THP_18V = 0.5765  # directed F1 of THP on 18V_55N_Wireless (gcastle-hub dataset)
SIM_SEEDS = {"sim-ba": (101, "ba"), "sim-tree": (102, "tree"), "sim-none": (103, "none")}
SIM_SIZE = {"types": 15, "events": 8000}  # small enough for the shipped THP to finish


@dataclass
class DataSet:
    """Alarms as our learner and THP take them, and the truth."""

    name: str
    description: str
    alerts: list[Alert]
    topology: TopologyGraph
    adjacency: np.ndarray | None  # device adjacency for THP; None: no topology
    devices: list[str]
    truth: set[tuple[str, str]]
    types: list[str]


@dataclass
class Result:
    method: str
    dataset: str
    edges: int
    precision: float
    recall: float
    f1: float
    seconds: float
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def _read_log(path: Path, prefix: str) -> tuple[list[Alert], list[str]]:
    alerts, devices = [], set()
    with path.open(newline="", encoding="utf-8") as handle:
        for k, row in enumerate(csv.DictReader(handle)):
            device = f"dev-{int(row['device_id']):03d}"
            devices.add(device)
            alerts.append(Alert(f"{prefix}-{k}", "bench", f"{prefix}_{int(row['alarm_id'])}",
                                device, "major", "", float(row["start_timestamp"]),
                                float(row["end_timestamp"])))
    return alerts, sorted(devices)


def _truth(path: Path, prefix: str) -> tuple[set[tuple[str, str]], list[str]]:
    graph = np.load(path) != 0
    names = [f"{prefix}_{i}" for i in range(graph.shape[0])]
    return {(names[i], names[j]) for i, j in zip(*np.nonzero(graph), strict=True)
            if i != j}, names


def _graph(adjacency: np.ndarray, devices: list[str]) -> TopologyGraph:
    sym = (adjacency != 0) | (adjacency != 0).T
    rows, cols = np.nonzero(np.triu(sym, k=1))
    return TopologyGraph([Node(d, "device", d) for d in devices],
                         [Edge(devices[i], devices[j]) for i, j in zip(rows, cols, strict=True)])


def load(name: str) -> DataSet:
    """The data set called ``name``."""
    if name == "neurips":
        folder = DATA / "huawei-neurips2023"
        alerts, _ = _read_log(folder / "alarm.csv", "ALM")
        adjacency = np.load(folder / "topology.npy")
        devices = [f"dev-{i:03d}" for i in range(adjacency.shape[0])]
        truth, types = _truth(folder / "true_graph.npy", "ALM")
        return DataSet(name, "Huawei NeurIPS 2023 sample, with its topology", alerts,
                       _graph(adjacency, devices), adjacency, devices, truth, types)
    if name == "wireless":
        folder = DATA / "huawei-18v-wireless"
        alerts, devices = _read_log(folder / "Alarm.csv", "WLS")
        truth, types = _truth(folder / "DAG.npy", "WLS")
        return DataSet(name, "18V_55N wireless, no topology", alerts, TopologyGraph(), None,
                       devices, truth, types)
    if name in SIM_SEEDS:
        seed, shape = SIM_SEEDS[name]
        stream = generate(draw(seed, topology=shape, **SIM_SIZE))
        devices = [f"dev-{v:03d}" for v in range(stream.config.nodes)]
        c = stream.config
        description = (f"simulated, seed {seed}: {c.types} types, {c.nodes} devices "
                       f"({shape}), {c.delay} delays ~{c.delay_scale:.0f} s")
        return DataSet(name, description, stream.alerts, stream.topology,
                       None if shape == "none" else stream.adjacency, devices, stream.truth,
                       stream.type_names)
    raise ValueError(f"unknown data set {name!r}")


@dataclass(frozen=True)
class Family:
    """More simulated streams of one shape, to check that a result on one stream holds
    on others: ``topology`` and seeds, at ``types`` types and ``events`` spontaneous
    alarms; every other knob is drawn per seed as in ``causal_sim.draw``."""

    topology: str
    seeds: tuple[int, ...]
    types: int = SIM_SIZE["types"]
    events: int = SIM_SIZE["events"]

    @classmethod
    def parse(cls, spec: str) -> Family:
        """``TOPOLOGY:FIRST-LAST[:TYPES[:EVENTS]]``, e.g. ``none:201-210:30:20000``."""
        parts = spec.split(":")
        if len(parts) < 2 or parts[0] not in ("ba", "tree", "none"):
            raise ValueError(f"bad family {spec!r}: TOPOLOGY:FIRST-LAST[:TYPES[:EVENTS]]")
        first, _, last = parts[1].partition("-")
        seeds = tuple(range(int(first), int(last or first) + 1))
        sizes = [int(x) for x in parts[2:4]]
        return cls(parts[0], seeds, *sizes)

    @property
    def name(self) -> str:
        return (f"{self.topology}, {self.types} types, {self.events:,} events, "
                f"seeds {self.seeds[0]}-{self.seeds[-1]}")

    def streams(self) -> list[DataSet]:
        out = []
        for seed in self.seeds:
            stream = generate(draw(seed, topology=self.topology, types=self.types,
                                   events=self.events))
            devices = [f"dev-{v:03d}" for v in range(stream.config.nodes)]
            out.append(DataSet(f"{self.topology}-{seed}", f"simulated, seed {seed}",
                               stream.alerts, stream.topology,
                               None if self.topology == "none" else stream.adjacency,
                               devices, stream.truth, stream.type_names))
        return out


def score(predicted: set[tuple[str, str]], truth: set[tuple[str, str]]
          ) -> tuple[float, float, float]:
    """Directed precision, recall and F1."""
    hits = len(predicted & truth)
    precision = hits / len(predicted) if predicted else 0.0
    recall = hits / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def run_ours(data: DataSet) -> Result:
    started = time.perf_counter()
    model = TypeRelations().fit(data.alerts, data.topology)
    seconds = time.perf_counter() - started
    predicted = set(model.edges_)
    p, r, f = score(predicted, data.truth)
    return Result("aiops TypeRelations", data.name, len(predicted), p, r, f, seconds,
                  extra={"params": model.get_params()})


def _thp_table(data: DataSet) -> Any:
    import pandas as pd

    device_index = {d: k for k, d in enumerate(data.devices)}
    return pd.DataFrame({"event": [a.name for a in data.alerts],
                         "node": [device_index[a.entity] for a in data.alerts],
                         "timestamp": [a.starts_at for a in data.alerts]})


def _thp_edges(model: Any) -> set[tuple[str, str]]:
    matrix = np.asarray(model.causal_matrix)
    names = list(model._matrix_names)
    return {(names[a], names[b]) for a, b in zip(*np.nonzero(matrix), strict=True) if a != b}


def run_thp(data: DataSet, max_iter: int, stock_max_types: int,
            extrapolate: bool = True) -> list[Result]:
    """gcastle's THP (cached EM), and the shipped class where it is affordable (else,
    with ``extrapolate``, an estimate of its time from two timed EM calls)."""
    from benchmarks.causal_thp import CountingTHP, MemoTHP

    if data.adjacency is None:
        adjacency, hops = np.eye(len(data.devices)), 0
        topo_note = "identity topology, max_hop=0"
    else:
        adjacency, hops = np.asarray(data.adjacency, dtype=float), 2
        topo_note = "device topology, max_hop=2"
    started = time.perf_counter()
    memo = MemoTHP(adjacency, max_hop=hops, max_iter=max_iter)
    memo.learn(_thp_table(data))
    seconds = time.perf_counter() - started
    predicted = _thp_edges(memo)
    p, r, f = score(predicted, data.truth)
    notes = [topo_note, f"max_iter={max_iter}", f"{memo.em_calls} EM calls"]
    results = []
    if len(data.types) <= stock_max_types:
        started = time.perf_counter()
        stock = CountingTHP(adjacency, max_hop=hops, max_iter=max_iter)
        stock.learn(_thp_table(data))
        stock_seconds = time.perf_counter() - started
        same = _thp_edges(stock) == predicted
        results.append(Result("gcastle THP (as shipped)", data.name, len(predicted), p, r, f,
                              stock_seconds, [topo_note, f"max_iter={max_iter}",
                                              "same graph as cached" if same
                                              else "DIFFERENT graph from cached"],
                              {"same_graph": same}))
    elif extrapolate:
        # the shipped EM timed on the graph the search starts from and on the one it
        # ends with; the search's EM calls times those two bound its run time
        probe = CountingTHP(adjacency, max_hop=hops, max_iter=max_iter)
        probe._start_init(_thp_table(data))
        probe._get_effect_tensor_decays()
        final = np.eye(probe._N)
        index = {name: k for k, name in enumerate(probe._matrix_names)}
        for a, b in predicted:
            final[index[a], index[b]] = 1
        timed = []
        for graph in (np.eye(probe._N), final):
            t0 = time.perf_counter()
            probe._em(graph)
            timed.append(time.perf_counter() - t0)
        low, high = sorted(memo.em_calls * t / 3600 for t in timed)
        notes.append(f"shipped class not run: {memo.em_calls} EM calls of "
                     f"{min(timed):.2f}-{max(timed):.2f} s each, ~{low:,.1f}-{high:,.1f} h")
    results.insert(0, Result("gcastle THP (cached EM)", data.name, len(predicted), p, r, f,
                             seconds, notes, {"em_calls": memo.em_calls}))
    return results


def table(results: Sequence[Result]) -> str:
    lines = ["| data set | method | edges | precision | recall | F1 | seconds | notes |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        lines.append(f"| {r.dataset} | {r.method} | {r.edges} | {r.precision:.3f} | "
                     f"{r.recall:.3f} | **{r.f1:.3f}** | {r.seconds:,.1f} | "
                     f"{'; '.join(r.notes)} |")
    return "\n".join(lines)


def family_table(families: Sequence[tuple[Family, list[Result]]]) -> str:
    """Means per family of streams and method, and on how many streams ours won."""
    lines = ["| streams | method | precision | recall | F1 | F1 ahead / behind | seconds |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for family, results in families:
        ours = {r.dataset: r.f1 for r in results if r.method == "aiops TypeRelations"}
        theirs = {r.dataset: r.f1 for r in results if r.method.startswith("gcastle")}
        for method in dict.fromkeys(r.method for r in results):
            mine = [r for r in results if r.method == method]
            record = ""
            if method == "aiops TypeRelations" and theirs:
                ahead = sum(ours[d] > theirs[d] + 1e-9 for d in theirs)
                behind = sum(ours[d] < theirs[d] - 1e-9 for d in theirs)
                record = f"{ahead} / {behind}"
            lines.append(f"| {family.name} | {method} | "
                         f"{np.mean([r.precision for r in mine]):.3f} | "
                         f"{np.mean([r.recall for r in mine]):.3f} | "
                         f"**{np.mean([r.f1 for r in mine]):.3f}** | {record} | "
                         f"{np.mean([r.seconds for r in mine]):,.1f} |")
    return "\n".join(lines)


def section(results: Sequence[Result], sets: Sequence[DataSet], command: str,
            total: float, load: float,
            families: Sequence[tuple[Family, list[Result]]] = ()) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cpu = os.cpu_count()
    described = "\n".join(f"- `{d.name}`: {d.description}; {len(d.alerts):,} alarms, "
                          f"{len(d.types)} types, {len(d.truth)} true edges" for d in sets)
    return f"""{START_MARK}
## Learning causal relations between alarm types

Measured {now} on {cpu_model()} ({cpu} CPUs),
Python {platform.python_version()}, 1-minute load average {load:.1f} at the start
(other work on the machine slows both methods alike); the whole run took {total:,.0f} s.

Command: `{command}`

Directed edges learned from alarms and topology alone, scored against each set's true
causal graph (an edge counts only in its true direction). Both methods get the same
alarms (type, device, start time) and the same topology in the same run; seconds are
the wall time of the fit. Our parameters were chosen on simulated streams
(`benchmarks/causal_sim.py`, seeds 1-40; the simulated seeds here are others); two
design choices were informed by the 18V set, as docs/causal-discovery.md discloses,
which also explains how the learner works.

{described}

{table(results)}
{_families_text(families)}
THP is gcastle {_gcastle_version()}'s `TTPM` with its defaults, `max_iter` raised so
its hill climb (one edge per iteration) can converge; "cached EM" is the same search
with gcastle's EM cached per effect type (`benchmarks/causal_thp.py`), which gives the
same graph (checked against the shipped class where that ran). Published directed F1 of
THP on 18V: {PUBLISHED_THP_18V} (gcastle-hub); the number above is what gcastle's THP with
its default kernel decay gives here. The previous learner of this project (a lift test
with thresholds) scored directed F1 0.664 on NeurIPS and 0.195 on 18V.
{END_MARK}"""


def _families_text(families: Sequence[tuple[Family, list[Result]]]) -> str:
    if not families:
        return ""
    return f"""
The same on more simulated streams (seeds not used to choose anything; means over the
streams of each family, THP with its EM cached; seconds of the fit per stream):

{family_table(families)}
"""


def _gcastle_version() -> str:
    try:
        from importlib.metadata import version

        return version("gcastle")
    except Exception:  # pragma: no cover - gcastle missing
        return "?"


def write_docs(text: str) -> None:
    doc = DOCS.read_text(encoding="utf-8")
    if START_MARK in doc and END_MARK in doc:
        start, end = doc.index(START_MARK), doc.index(END_MARK) + len(END_MARK)
        doc = doc[:start] + text + doc[end:]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    DOCS.write_text(doc, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="neurips,wireless,sim-ba,sim-none")
    parser.add_argument("--thp-max-iter", type=int, default=500)
    parser.add_argument("--stock-max-types", type=int, default=16,
                        help="run the shipped THP class too on sets with at most this many types")
    parser.add_argument("--no-thp", action="store_true", help="our learner only")
    parser.add_argument("--extra", action="append", default=[], metavar="FAMILY",
                        help="more simulated streams, TOPOLOGY:FIRST-LAST[:TYPES[:EVENTS]] "
                             "(e.g. none:201-210); repeatable; means are reported")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    families_asked = [Family.parse(spec) for spec in args.extra]
    logging.getLogger().setLevel(logging.WARNING)
    os.environ.setdefault("CASTLE_BACKEND", "pytorch")
    load_avg = os.getloadavg()[0]
    began = time.perf_counter()
    results: list[Result] = []
    sets = []
    for name in args.sets.split(","):
        data = load(name)
        sets.append(data)
        print(f"{name}: {len(data.alerts)} alarms, {len(data.types)} types", file=sys.stderr)
        found = [run_ours(data)]
        if not args.no_thp:
            found += run_thp(data, args.thp_max_iter, args.stock_max_types)
        for r in found:
            print(f"  {r.method}: P {r.precision:.3f} R {r.recall:.3f} F1 {r.f1:.3f} "
                  f"in {r.seconds:.1f} s ({'; '.join(r.notes)})", file=sys.stderr)
        results += found
    families: list[tuple[Family, list[Result]]] = []
    for family in families_asked:
        found = []
        for data in family.streams():
            mine = [run_ours(data)]
            if not args.no_thp:  # the cached EM only: same graph, affordable on every stream
                mine += run_thp(data, args.thp_max_iter, 0, extrapolate=False)
            print(f"{data.name}: " + "; ".join(f"{r.method} F1 {r.f1:.3f} in {r.seconds:.1f} s"
                                              for r in mine), file=sys.stderr)
            found += mine
        families.append((family, found))
    total = time.perf_counter() - began
    print(table(results))
    if families:
        print(family_table(families))
    OUT_JSON.parent.mkdir(parents=True, exist_ok=True)
    OUT_JSON.write_text(json.dumps(
        [asdict(r) for r in results] + [asdict(r) for _, found in families for r in found],
        indent=1), encoding="utf-8")
    if args.write_docs:
        command = ".venv/bin/python -m benchmarks.causal " + shlex.join(
            sys.argv[1:] if argv is None else list(argv))
        write_docs(section(results, sets, command.strip(), total, load_avg, families))
    return 0


if __name__ == "__main__":
    sys.exit(main())
