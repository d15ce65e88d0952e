"""Engine memory over a growing history: bounded by what is open, not by what was seen.

Why: an engine that keeps every incident, alert or template it ever saw runs out of
memory after weeks of a busy network, whatever its alerts/s. Issue 4 asks that memory
be bounded by open incidents rather than by history; this measures it. Streams of
increasing length, all at the same rate on the demo topology (the ingest benchmark's
workload generator: bursts of 1-25 alarms around a failing device, 20 % re-sends),
are fed to the engine in the replay's batches, each in a fresh interpreter. The
input is read from a file batch by batch, so the only memory that could grow with
the stream's length is the engine's. Every batch, the process's resident set size
and the engine's live state (firing alerts, incidents in memory, incidents in the
correlator's index, alerts the live pace keeps) are sampled; the table shows the
peak of each and the RSS growth from just before the first batch.

Not measured here: SQLite's files grow with history (they are the record; their page
cache is bounded by SQLite), and `aiops replay`'s output document holds every
incident of the replay by design (its contract: docs/contracts.md).

Usage: .venv/bin/python benchmarks/memory.py [--sizes 20000,50000,100000,200000]
       [--seed 1] [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.ingest import command_line, generate, machine  # noqa: E402
from benchmarks.machine import fresh_data_dir  # noqa: E402
from benchmarks.remediation import write_section  # noqa: E402

START, END = "<!-- memory:start -->", "<!-- memory:end -->"
DEFAULT_SIZES = "20000,50000,100000,200000"
NOW = 1_795_000_000.0  # fixed end of every stream, so runs are repeatable
RUN_TIMEOUT = 3600.0  # seconds for one stream's subprocess


def log(message: str) -> None:
    print(f"[memory {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_mb() -> float:
    """This process's resident set size now, in MB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def batches(path: Path, size: int) -> Iterator[list[Any]]:
    """The stream's alerts, parsed ``size`` at a time: no more input held than a batch."""
    from aiops.models import parse_alert

    chunk: list[Any] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            chunk.append(parse_alert(json.loads(line)))
            if len(chunk) == size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def measure_one(topology_path: Path, alerts_path: Path, data_dir: Path) -> dict[str, Any]:
    """Feed one stream to a fresh engine; the peaks of its live state and of RSS."""
    from aiops.learning.embeddings import load_text_model
    from aiops.learning.templates import alert_text
    from aiops.replay import BATCH_SIZE
    from aiops.runtime import open_runtime
    from topology.model import parse_topology

    load_text_model()
    runtime = open_runtime(fresh_data_dir(data_dir))
    try:
        nodes, edges = parse_topology(json.loads(topology_path.read_text()))
        runtime.import_topology(nodes, edges, source="bench")
        engine = runtime.engine
        peaks = {"live_alerts": 0, "live_incidents": 0, "indexed_incidents": 0,
                 "pace_alerts": 0, "rss_mb": 0.0}
        alerts = 0
        base = rss_mb()
        started = time.perf_counter()
        for chunk in batches(alerts_path, BATCH_SIZE):
            engine.ingest(chunk)
            alerts += len(chunk)
            stats = engine.stats()
            pace = stats["live_pace"] or {}
            now = {"live_alerts": stats["live_alerts"], "live_incidents": stats["live_incidents"],
                   "indexed_incidents": stats["indexed_incidents"],
                   "pace_alerts": pace.get("alerts_kept", 0), "rss_mb": rss_mb()}
            for key, value in now.items():
                peaks[key] = max(peaks[key], value)
        seconds = time.perf_counter() - started
        final = rss_mb()
        caches = {**runtime.embedder.sizes(), "texts": alert_text.cache_info().currsize}
    finally:
        runtime.close()
    return {"alerts": alerts, "seconds": seconds, "base_rss_mb": base, "final_rss_mb": final,
            "growth_mb": peaks["rss_mb"] - base, "caches": caches,
            **{f"peak_{k}": v for k, v in peaks.items()}}


def run_stream(size: int, seed: int, work: Path) -> dict[str, Any]:
    """Generate a stream of ``size`` alerts and measure it in a fresh interpreter."""
    workload = generate(size, seed, NOW)
    topology_path = work / "topology.json"
    topology_path.write_text(json.dumps(workload.topology))
    alerts_path = work / f"alerts-{size}.jsonl"
    with alerts_path.open("w", encoding="utf-8") as handle:
        for alert in workload.alerts:
            handle.write(json.dumps(alert) + "\n")
    span_hours = workload.span / 3600
    del workload
    out = work / f"result-{size}.json"
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--one", str(topology_path),
         str(alerts_path), str(work / f"data-{size}"), str(out)],
        capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"stream of {size} alerts failed:\n{proc.stderr[-2000:]}")
    result = json.loads(out.read_text())
    result["span_hours"] = span_hours
    return result


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| alerts | simulated hours | alerts/s | peak alerts in memory (firing, or "
             "resolved within the re-fire window) | peak incidents in memory "
             "| peak indexed incidents | peak pace alerts | RSS before, MB "
             "| RSS growth, MB | cached texts / pairs |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(
            f"| {r['alerts']:,} | {r['span_hours']:,.0f} | {r['alerts'] / r['seconds']:,.0f} "
            f"| {r['peak_live_alerts']:,} | {r['peak_live_incidents']:,} "
            f"| {r['peak_indexed_incidents']:,} | {r['peak_pace_alerts']:,} "
            f"| {r['base_rss_mb']:.0f} | {r['growth_mb']:.1f} "
            f"| {r['caches']['texts']:,} / {r['caches']['pairs']:,} |")
    return "\n".join(lines)


def docs_section(results: list[dict[str, Any]], report: dict[str, Any]) -> str:
    m = report["machine"]
    return f"""## Memory over a growing history

Measured {report['date']} on {m['cpu']} ({m['nproc']} CPUs), Python {m['python']},
1-minute load average {m['load']} at the start.

Command: `{report['command']}`

Streams of increasing length at the same rate (the ingest benchmark's workload, seed
{report['seed']}: bursts of 1–25 alarms around a failing device of the 45-device demo
topology, 20 % re-sends), each fed to a fresh engine with no trained model in the
replay's batches of 2,000, read from a file batch by batch so that only the engine's
memory can grow with the stream. Peaks are sampled after every batch; RSS growth is
the peak resident set size minus the size just before the first batch (text model
loaded and run once, as `aiops serve` does at start, so the ~30 MB its first inference
allocates is not counted as growth; topology imported). The engine sweeps what can no
longer change out of memory every 1,024 events, counted by event sequence number
wherever batches end, so a sample after a batch holds up to 1,023 events' worth of
alerts and incidents not yet swept: the live counts below are peaks at those samples,
not the engine's bound.

{table(results)}

The engine keeps firing alerts, incidents that can still change (live, or resolved
less than `refire_window` ago) and, for an engine without a model, a day of alert
onsets for its live pace (at most 50,000), and the alerts of about the last ten
minutes of event time that a settling small incident may have followed
(`AlertBuffer`, bounded by time: by the alert rate, not by history); the text model's
template cache (50,000),
pair memo (200,000) and the template normaliser's cache (65,536) are bounded by
count. So a stream ten times as long holds about as much: what it saw is in the
database, not in memory. SQLite's files do grow with history, and `aiops replay`'s
output document holds every incident of a replay (docs/contracts.md), neither of
which is measured here.
"""


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help="comma-separated stream lengths (alerts)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--write-docs", action="store_true",
                        help="replace the section in docs/benchmarks.md")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "out" / "memory.json")
    parser.add_argument("--one", nargs=4, type=Path, metavar=("TOPOLOGY", "ALERTS", "DATA", "OUT"),
                        help=argparse.SUPPRESS)  # internal: measure one stream here
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.one:
        topology_path, alerts_path, data_dir, out = args.one
        out.write_text(json.dumps(measure_one(topology_path, alerts_path, data_dir)))
        return 0
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        print(f"--sizes must be comma-separated integers, got {args.sizes!r}", file=sys.stderr)
        return 2
    if not sizes or min(sizes) <= 0:
        print(f"--sizes must name positive lengths, got {args.sizes!r}", file=sys.stderr)
        return 2
    report = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
              "command": command_line(argv).replace("benchmarks/ingest.py",
                                                    "benchmarks/memory.py"),
              "seed": args.seed}
    results = []
    with tempfile.TemporaryDirectory(prefix="aiops-memory-") as tmp:
        for size in sizes:
            log(f"stream of {size:,} alerts")
            work = Path(tmp) / str(size)
            work.mkdir()
            result = run_stream(size, args.seed, work)
            log(f"  {result['alerts'] / result['seconds']:,.0f} alerts/s, "
                f"RSS growth {result['growth_mb']:.1f} MB, peak incidents in memory "
                f"{result['peak_live_incidents']:,}")
            results.append(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({**report, "results": results}, indent=1))
    print(table(results))
    if args.write_docs:
        write_section(docs_section(results, report), START, END)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
