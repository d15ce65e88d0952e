"""What the engine's own metrics (``GET /metrics``) cost: a scrape, and ingestion.

Scrape: the time of ``GET /metrics`` through the app (Flask's test client, no network),
median of ``--scrapes``, on two stores, each on a fresh SQLite data dir with text
similarity off:

* the demo's data (its topology and alert stream, as ``aiops demo`` loads them);
* a large store: ``--alerts`` alerts of the ingest benchmark's workload
  (``benchmarks/ingest.py``'s generator) with a webhook receiver configured that
  nothing drains, so every changed incident waits in the outbox: the backlog query
  of a scrape reads the most rows it can.

Also the part of a scrape spent holding the engine's lock (counting live alerts and
incidents), which is what a scrape can delay ingestion by.

Ingestion: the same alerts (``--ingest-alerts`` of that workload) posted in process
through the app's ``POST /api/v1/alerts`` in batches of ``--batch``, with the counters
and histograms of this tree, and with the tree of ``--base`` (a git revision before
the metrics, by default the parent of the commit that added them: later commits then
count in the difference too; its files are taken with ``git archive``, the same
virtualenv runs both).
Each run is its own process on a fresh data dir; the runs alternate, each tree first
in every other round, so drift of the machine's load hits both alike; median of
``--repeat``.

Usage: .venv/bin/python -m benchmarks.metrics_scrape [--alerts 100000] [--scrapes 20]
       [--ingest-alerts 20000] [--batch 500] [--repeat 4] [--base REV] [--write-docs]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiops.api import create_app  # noqa: E402
from aiops.api.metrics_state import EngineCollector  # noqa: E402
from aiops.config import DataDir  # noqa: E402
from aiops.demo.generate import SPAN, demo_alerts  # noqa: E402
from aiops.models import parse_alert  # noqa: E402
from aiops.runtime import Runtime, open_runtime  # noqa: E402
from benchmarks.ingest import generate  # noqa: E402
from benchmarks.machine import cpu_model, load_average  # noqa: E402
from benchmarks.remediation import module_command, publish  # noqa: E402
from topology.model import parse_topology  # noqa: E402

START, END = "<!-- metrics-scrape:start -->", "<!-- metrics-scrape:end -->"
UNREACHABLE = "http://127.0.0.1:9/hook"  # the discard port: nothing answers there

# Run in a process of its own, in this tree or the base's: only what both have.
RUNNER = r"""
import json, sys, time
from pathlib import Path
from aiops.api import create_app
from aiops.config import DataDir
from aiops.runtime import open_runtime
from topology.model import parse_topology
work, payload = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())
rt = open_runtime(DataDir.from_env(work))
nodes, edges = parse_topology(payload["topology"])
rt.import_topology(nodes, edges, source="bench")
client = create_app(runtime=rt).test_client()
bodies = [json.dumps(batch) for batch in payload["batches"]]
started = time.perf_counter()
for body in bodies:
    answer = client.post("/api/v1/alerts", data=body, content_type="application/json")
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
seconds = time.perf_counter() - started
rt.close()
print(json.dumps({"seconds": seconds, "alerts": sum(len(b) for b in payload["batches"])}))
"""


def clean_env() -> None:
    """The engine's defaults whatever the shell says, text similarity off (the numbers
    are the metrics', not the text model's), no live bound on times ahead."""
    for name in [k for k in os.environ if k.startswith("AIOPS_")]:
        del os.environ[name]
    os.environ["AIOPS_TEXT_SIMILARITY"] = "off"
    os.environ["AIOPS_MAX_CLOCK_AHEAD"] = "off"


def time_scrapes(rt: Runtime, scrapes: int) -> dict[str, Any]:
    """Median scrape time, the part under the engine's lock, and what a scrape says."""
    client = create_app(runtime=rt).test_client()
    client.get("/metrics")  # warm: the first request builds Flask's routing caches
    took, locked = [], []
    body = b""
    collector = EngineCollector(rt)
    for _ in range(scrapes):
        started = time.perf_counter()
        body = client.get("/metrics").get_data()
        took.append(time.perf_counter() - started)
        started = time.perf_counter()
        list(collector._engine())  # noqa: SLF001 - the part that holds the engine's lock
        locked.append(time.perf_counter() - started)
    lines = body.decode().splitlines()
    return {"ms": statistics.median(took) * 1e3, "locked_ms": statistics.median(locked) * 1e3,
            "bytes": len(body), "series": sum(1 for x in lines if x and x[0] != "#"),
            "firing": rt.engine.stats()["live_alerts"],
            "live_incidents": rt.engine.stats()["live_incidents"]}


def demo_case(work: Path, scrapes: int) -> dict[str, Any]:
    rt = open_runtime(DataDir.from_env(work))
    try:
        data = demo_alerts(time.time() - SPAN)
        nodes, edges = parse_topology(data.topology)
        rt.import_topology(nodes, edges, source="demo")
        alerts = [parse_alert(a) for a in data.alerts]
        rt.engine.ingest(alerts)
        return {"store": f"demo ({len(alerts):,} alerts)", **time_scrapes(rt, scrapes)}
    finally:
        rt.close()


def large_case(work: Path, count: int, scrapes: int) -> dict[str, Any]:
    os.environ["AIOPS_SINK_WEBHOOK_URLS"] = UNREACHABLE
    try:
        rt = open_runtime(DataDir.from_env(work))
    finally:
        del os.environ["AIOPS_SINK_WEBHOOK_URLS"]
    try:
        workload = generate(count, 1, time.time())
        nodes, edges = parse_topology(workload.topology)
        rt.import_topology(nodes, edges, source="bench")
        alerts = [parse_alert(a) for a in workload.alerts]
        for i in range(0, len(alerts), 1000):
            rt.engine.ingest(alerts[i:i + 1000])
        with rt.db.connect() as conn:
            pending = conn.exec_driver_sql("SELECT count(*) FROM sink_deliveries "
                                           "WHERE status = 'pending'").scalar_one()
        return {"store": f"{count:,} alerts, {pending:,} incidents waiting in the outbox",
                **time_scrapes(rt, scrapes)}
    finally:
        rt.close()


def base_tree(revision: str, into: Path) -> Path:
    """The files of ``revision`` (``git archive``) in ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def ingest_run(tree: Path, work: Path, payload: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", RUNNER, str(work), str(payload)],
                          cwd=tree, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ingest run in {tree} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["alerts"] / result["seconds"]


def profiled_share(tmp: Path, payload: Path) -> tuple[float, float]:
    """Seconds inside the metrics' own code while this tree ingests the workload under
    cProfile (the request hooks, prometheus_client, the engine's counts; the placement
    histogram's ``record`` is counted whole though it was there before), and the
    profiled seconds of the whole ingestion: a share that the machine's load does not
    move, unlike the rates."""
    import cProfile
    import pstats

    data = json.loads(payload.read_text())
    rt = open_runtime(DataDir.from_env(tmp / "profiled"))
    try:
        nodes, edges = parse_topology(data["topology"])
        rt.import_topology(nodes, edges, source="bench")
        client = create_app(runtime=rt).test_client()
        bodies = [json.dumps(batch) for batch in data["batches"]]
        profile = cProfile.Profile()
        profile.enable()
        for body in bodies:
            client.post("/api/v1/alerts", data=body, content_type="application/json")
        profile.disable()
    finally:
        rt.close()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    ours = ("aiops/api/metrics.py", "aiops/engine/counts.py", "aiops/engine/latency.py",
            "prometheus_client")
    inside = sum(row[2] for (file, _, _), row in stats.items()
                 if any(part in file for part in ours))
    total = sum(row[2] for row in stats.values())
    return inside, total


def ingest_cost(tmp: Path, count: int, batch: int, repeat: int, base: str
                ) -> tuple[dict[str, list[float]], tuple[float, float]]:
    workload = generate(count, 2, time.time())
    payload = tmp / "payload.json"
    payload.write_text(json.dumps({"topology": workload.topology, "batches": [
        workload.alerts[i:i + batch] for i in range(0, count, batch)]}))
    trees = {"with metrics": ROOT, "without": base_tree(base, tmp / "base")}
    rates: dict[str, list[float]] = {name: [] for name in trees}
    for r in range(repeat):
        order = list(enumerate(trees.items()))
        for k, (name, tree) in order if r % 2 == 0 else order[::-1]:  # neither always first
            rate = ingest_run(tree, tmp / f"ingest-{r}-{k}", payload)  # a fresh data dir
            rates[name].append(rate)
            print(f"[bench] ingest run {r + 1} {name}: {rate:,.0f} alerts/s", flush=True)
    return rates, profiled_share(tmp, payload)


def report(scrapes: list[dict[str, Any]], rates: dict[str, list[float]],
           profiled: tuple[float, float], command: str, base_commit: str,
           args: argparse.Namespace) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    from importlib.metadata import version

    import prometheus_client
    lines = [
        "## Metrics (GET /metrics)", "",
        f"Measured {when} on {cpu_model()}, {os.cpu_count()} CPUs (shared with other "
        f"jobs), Python {platform.python_version()}, prometheus_client "
        f"{version(prometheus_client.__name__)}, SQLite; 1-minute load average "
        f"{load_average()} at the end.", "",
        f"Command: `{command}`", "",
        f"A scrape through the app (no network), median of {args.scrapes}; \"under the "
        "engine's lock\": the part of it that counts live alerts and incidents, which "
        "is what a scrape can hold an ingesting batch back by. The large store has a "
        "webhook receiver that nothing drains, so every changed incident waits in the "
        "outbox (the backlog query reads them all).", "",
        "| store | live alerts | live incidents | scrape | under the engine's lock | "
        "series | bytes |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in scrapes:
        lines.append(f"| {s['store']} | {s['firing']:,} | {s['live_incidents']:,} | "
                     f"{s['ms']:.1f} ms | {s['locked_ms']:.2f} ms | {s['series']} | "
                     f"{s['bytes']:,} |")
    lines += ["", f"Ingestion cost: {args.ingest_alerts:,} alerts of the ingest "
              f"benchmark's workload posted in process to POST /api/v1/alerts in batches "
              f"of {args.batch}, each run a process of its own on a fresh data dir, runs "
              f"alternating; without: the tree of {base_commit} (before the metrics), "
              "same virtualenv.", "",
              "| tree | median alerts/s | first of its pair | second of its pair | runs |",
              "|---|---:|---:|---:|---|"]
    for k, (name, values) in enumerate(rates.items()):
        # rates of round r: tree k went first when r is even for k 0, odd for k 1
        first = [v for r, v in enumerate(values) if r % 2 == k]
        second = [v for r, v in enumerate(values) if r % 2 != k]
        lines.append(f"| {name} | {statistics.median(values):,.0f} | "
                     f"{statistics.median(first):,.0f} | "
                     f"{statistics.median(second) if second else 0:,.0f} | "
                     + ", ".join(f"{v:,.0f}" for v in values) + " |")
    first, second = (statistics.median(v) for v in rates.values())
    inside, total = profiled
    lines += ["", f"Difference of the medians: {100 * (first - second) / second:+.1f} % (the "
              "runs' own spread on this shared machine is in the table). What the metrics' "
              "code itself costs, the same ingestion under cProfile: "
              f"{inside * 1e3:.1f} ms of {total:.2f} s ({100 * inside / total:.2f} %) in "
              "the request hooks, prometheus_client, the engine's counts and the placement "
              "histogram's record (there before; it now also adds to a sum).", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=100_000, help="the large store")
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--ingest-alerts", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=4, help="even: each tree first as often")
    parser.add_argument("--base", default=None, help="git revision without the metrics "
                        "(default: the parent of the commit that added aiops/api/metrics.py)")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    clean_env()
    if args.base is None:
        added = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%H",
                                "--diff-filter=A", "HEAD", "--", "aiops/api/metrics.py"],
                               capture_output=True, text=True, check=True).stdout.strip()
        args.base = f"{added}^"
    base_commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.base],
                                 capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="aiops-metrics-bench-") as name:
        tmp = Path(name)
        scrapes = [demo_case(tmp / "demo", args.scrapes)]
        print(f"[bench] demo: {scrapes[-1]}", flush=True)
        scrapes.append(large_case(tmp / "large", args.alerts, args.scrapes))
        print(f"[bench] large: {scrapes[-1]}", flush=True)
        rates, profiled = ingest_cost(tmp, args.ingest_alerts, args.batch, args.repeat,
                                      args.base)
    command = module_command("benchmarks.metrics_scrape", argv)
    section = report(scrapes, rates, profiled, command, base_commit, args)
    publish(section, args.write_docs, START, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
