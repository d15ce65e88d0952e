"""Run our engine on scenarios the way a user does, in a worker process of its own.

Why a separate process: a crash or hang of the engine on one scenario must become
a reported failure of that scenario, not the end of the harness (the harness
restarts the worker for the next one), and memory is measured per process. Why
one worker for many scenarios: loading the text model (MiniLM) costs
time; it is loaded once, before any clock starts, its load time is reported on
its own (a running server pays it once), and a short untimed replay warms the
remaining first-use costs so the first variant timed is not penalised.

Variants, each on a fresh SQLite data dir, with the functions the CLI calls:

* ``trained``: ``aiops topology import``, ``aiops train --alerts history.jsonl``,
  then ``aiops replay eval.jsonl`` (what the docs tell a user to do);
* ``untrained``: import and replay only (a new installation without history).

Memory: the peak resident set growth during the replay (``VmHWM`` after, minus
the resident set before, with the peak reset through ``/proc/self/clear_refs`` so
one variant is not hidden under an earlier peak).

Protocol: one JSON job per line on stdin ({"topology", "history", "alerts",
"work_dir", "output_prefix", "variants"}), one JSON result per line on stdout.
Usage: echo '{...}' | python -m benchmarks.correlation.engine_run
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from aiops.config import DataDir
from aiops.replay import load_alerts, replay_alerts, write_json_atomically
from aiops.runtime import open_runtime
from topology.loader import read_topology

VARIANTS = ("trained", "untrained")


def _status_kb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak() -> float:
    """Reset the peak-RSS mark where Linux allows it; return the current RSS in MiB."""
    # Without it the peak includes earlier work: growth is underestimated, not inflated.
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    return (_status_kb("VmRSS") or 0.0) / 1024.0


def peak_mb() -> float:
    return (_status_kb("VmHWM") or 0.0) / 1024.0


def warm_text_model(settings: Any) -> float:
    """Load the text model now (seconds taken), so no variant's replay is timed with it."""
    if not getattr(settings, "text_similarity", False):
        return 0.0
    from aiops.learning.embeddings import TemplateEmbedder

    started = time.perf_counter()
    TemplateEmbedder().prepare(["warm-up"])
    return time.perf_counter() - started


def run_variant(variant: str, topology: Path, history: Path, alerts_path: Path,
                data_dir: Path, output: Path) -> dict[str, Any]:
    """One variant on a fresh data dir; writes the incidents document to ``output``."""
    stats: dict[str, Any] = {}
    runtime = open_runtime(DataDir(path=data_dir))
    try:
        nodes, edges = read_topology(topology)
        runtime.import_topology(nodes, edges, source="benchmark")
        if variant == "trained":
            from aiops.learning.training import train

            started = time.perf_counter()
            model, meta = train(runtime.registry, load_alerts(history), runtime.engine.topology,
                                str(history), embedder=runtime.embedder)  # as `aiops train`
            runtime.use_model(model)
            stats["train_seconds"] = time.perf_counter() - started
            stats["relations"] = meta.get("relations")
            stats["time_scale"] = (meta.get("time_scale") or {}).get("scale")
        alerts = load_alerts(alerts_path)
        before = reset_peak()  # input loaded: what follows is the engine's own
        started = time.perf_counter()
        document = replay_alerts(runtime, alerts, None)
        seconds = time.perf_counter() - started
        engine_stats = runtime.engine.stats()
        if variant != "trained":  # the scale an untrained engine read from the alerts
            stats["time_scale"] = engine_stats["time_scale"]
        # Per-alert placement time as /api/v1/health reports it (aiops/engine/latency.py)
        stats["p99_ms"] = engine_stats["placement_latency"]["p99_ms"]
    finally:
        runtime.close()
    write_json_atomically(output, document)
    stats.update(alerts=len(alerts), incidents=len(document["incidents"]), seconds=seconds,
                 alerts_per_second=len(alerts) / seconds if seconds > 0 else 0.0,
                 memory_mb=max(peak_mb() - before, 0.0), peak_rss_mb=peak_mb())
    return stats


WARM_UP_ALERTS = 300


def warm_up(job: dict[str, Any]) -> None:
    """An untimed replay of the first alerts: first-use costs must not land in a timing."""
    alerts = load_alerts(Path(job["alerts"]))[:WARM_UP_ALERTS]
    runtime = open_runtime(DataDir(path=Path(job["work_dir"]) / "warm-up"))
    try:
        nodes, edges = read_topology(Path(job["topology"]))
        runtime.import_topology(nodes, edges, source="benchmark")
        replay_alerts(runtime, alerts, None)
    finally:
        runtime.close()


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Every variant of one scenario; a failing variant is reported, the others still run."""
    result: dict[str, Any] = {"variants": {}}
    for variant in job.get("variants", VARIANTS):
        output = Path(f"{job['output_prefix']}-{variant}.json")
        try:
            if variant not in VARIANTS:
                raise ValueError(f"unknown variant {variant!r}")
            stats = run_variant(variant, Path(job["topology"]), Path(job["history"]),
                                Path(job["alerts"]), Path(job["work_dir"]) / variant, output)
            stats["output"] = str(output)
        except Exception as exc:  # noqa: BLE001 - reported to the harness, which goes on
            stats = {"error": f"{type(exc).__name__}: {exc}",
                     "traceback": traceback.format_exc(limit=6)}
        result["variants"][variant] = stats
    return result


def main() -> int:
    started = time.perf_counter()
    results = sys.stdout  # the protocol channel; anything the engine prints goes to stderr
    sys.stdout = sys.stderr
    model_seconds = warm_text_model(DataDir(path=Path(".")).settings)
    warmed = False
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        if not warmed:
            warm_up(job)
            warmed = True
        result = run_job(job)
        result["model_load_seconds"] = model_seconds
        result["worker_seconds"] = time.perf_counter() - started
        print(json.dumps(result), file=results, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
