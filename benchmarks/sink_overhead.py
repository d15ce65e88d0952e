"""What outbound incident delivery (docs/sinks.md) costs ingestion.

The ingest benchmark's workload (``benchmarks/ingest.py``'s generator: bursts of
1-25 alarms around a failing device of the demo topology, 20 % re-sends) is fed to
the engine in process, in batches as the HTTP API gets them, three ways, each on a
fresh data dir:

* ``none``: no sink configured (the default);
* ``outbox``: a webhook configured, so the outbox sink queues every changed
  incident after each stored batch; nothing drains it;
* ``outbox + delivery``: the same with the delivery loop of ``aiops serve`` running
  in a thread, POSTing to a real local HTTP receiver (200 to everything), competing
  with ingestion for the CPU, the GIL and the database.

Runs alternate (none, outbox, delivery, none, ...) and the best of ``--repeat`` is
reported for each, with the spread, the changes queued and the requests the
receiver got. Wall-clock rates move with whatever else the machine runs, so the
script also reports the process's CPU seconds (every thread: the delivery loop's
too) and the seconds spent inside the outbox sink's ``publish``, which is what the
sink adds to the ingestion path itself. Text similarity is off by default
(``--text on`` loads MiniLM first), so the numbers are the engine's and the
sink's, not the text model's.

Usage: .venv/bin/python benchmarks/sink_overhead.py [--alerts 20000] [--batch 500]
       [--repeat 3] [--seed 1] [--text off]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiops.config import DataDir  # noqa: E402
from aiops.models import parse_alert  # noqa: E402
from aiops.runtime import open_runtime  # noqa: E402
from aiops.sinks.outbox import OutboxSink  # noqa: E402
from aiops.sinks.setup import start_delivery  # noqa: E402
from benchmarks.ingest import generate  # noqa: E402
from topology.model import parse_topology  # noqa: E402

MODES = ("none", "outbox", "outbox + delivery")


class Counter(BaseHTTPRequestHandler):
    received = 0

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Counter.received += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def run(mode: str, work: Path, topology: dict[str, Any], batches: list[list[Any]],
        url: str) -> dict[str, Any]:
    os.environ.pop("AIOPS_SINK_WEBHOOK_URLS", None)
    if mode != "none":
        os.environ["AIOPS_SINK_WEBHOOK_URLS"] = url
    runtime = open_runtime(DataDir.from_env(work))
    try:
        nodes, edges = parse_topology(topology)
        runtime.import_topology(nodes, edges, source="bench")
        if mode == "outbox + delivery":
            start_delivery(runtime, "http://127.0.0.1:8080")
        outbox = [s for s in runtime.engine.sinks if isinstance(s, OutboxSink)]
        in_publish = 0.0
        for sink in outbox:
            publish = sink.publish

            def timed(incidents: Any, alerts: Any, publish: Any = publish) -> int:
                nonlocal in_publish
                t0 = time.perf_counter()
                try:
                    return publish(incidents, alerts)
                finally:
                    in_publish += time.perf_counter() - t0

            sink.publish = timed  # type: ignore[method-assign]
        before = Counter.received
        cpu = time.process_time()
        started = time.perf_counter()
        for batch in batches:
            runtime.engine.ingest(batch)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        queued = sum(s.queued for s in outbox)
        if runtime.delivery is not None:  # what is due now, sent outside the timing
            while runtime.delivery.run_once():
                pass
    finally:
        runtime.close()
    alerts = sum(len(b) for b in batches)
    return {"mode": mode, "seconds": seconds, "alerts_per_s": alerts / seconds,
            "cpu_seconds": cpu, "publish_seconds": in_publish,
            "queued": queued, "requests": Counter.received - before,
            "sink_failures": runtime.engine.sink_failures}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500, help="alerts per ingest call")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--text", choices=("on", "off"), default="off")
    args = parser.parse_args(argv)
    # The engine's defaults whatever the shell says (benchmarks/machine.py, engine_env):
    # a shell's AIOPS_DATABASE_URL would make every run share one database.
    for name in [k for k in os.environ if k.startswith("AIOPS_")]:
        del os.environ[name]
    os.environ["AIOPS_TEXT_SIMILARITY"] = args.text
    os.environ["AIOPS_MAX_CLOCK_AHEAD"] = "off"
    os.environ["AIOPS_SINK_MIN_INTERVAL"] = "30"
    if args.text == "on":
        from aiops.learning.embeddings import load_text_model
        load_text_model()
    workload = generate(args.alerts, args.seed, time.time())
    alerts = [parse_alert(a) for a in workload.alerts]
    batches = [alerts[i:i + args.batch] for i in range(0, len(alerts), args.batch)]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory(prefix="aiops-sink-bench-") as tmp:
        for r in range(args.repeat):
            for mode in MODES:
                result = run(mode, Path(tmp) / f"{r}-{mode.replace(' ', '')}",
                             workload.topology, batches, url)
                results[mode].append(result)
                print(f"[bench] run {r + 1} {mode}: {result['alerts_per_s']:,.0f} alerts/s, "
                      f"CPU {result['cpu_seconds']:.2f} s, publish "
                      f"{result['publish_seconds']:.3f} s, {result['queued']} changes "
                      f"queued, {result['requests']} requests",
                      file=sys.stderr, flush=True)
    server.shutdown()
    base = max(r["alerts_per_s"] for r in results["none"])
    print(f"{args.alerts} alerts in batches of {args.batch}, text similarity {args.text}, "
          f"best of {args.repeat}:")
    cpu_base = min(r["cpu_seconds"] for r in results["none"])
    print("| sink | alerts/s (best) | all runs | vs none | CPU s (least) | vs none | "
          "in publish s | changes queued | requests |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    summary = []
    for mode in MODES:
        runs = results[mode]
        best = max(runs, key=lambda r: r["alerts_per_s"])
        every = ", ".join(f"{r['alerts_per_s']:,.0f}" for r in runs)
        cpu = min(r["cpu_seconds"] for r in runs)
        publish = min(r["publish_seconds"] for r in runs)
        print(f"| {mode} | {best['alerts_per_s']:,.0f} | {every} | "
              f"{best['alerts_per_s'] / base - 1:+.1%} | {cpu:.2f} | {cpu / cpu_base - 1:+.1%} | "
              f"{publish:.3f} | {best['queued']} | {best['requests']} |")
        summary.append({"mode": mode, "best": best, "runs": runs})
    out = ROOT / "benchmarks" / "out" / "sink_overhead.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "results": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
