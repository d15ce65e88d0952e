"""The correlation benchmark: our engine and the baselines on the same scenarios.

For every scenario (topology × causal graph × seed × noise level) it generates the
data (``scenario.py``), runs our engine the way a user does (topology import,
``aiops train`` on the history period, replay of the eval period; and once more
without training) in a worker process (``engine_run.py``, ``worker.py``) so a
crash or hang is that scenario's reported failure and memory is the engine's own,
runs the baselines (``baselines.py``) on the same events, and scores everything
against the truth (``metrics.py``).

Progress goes to stderr, one line per scenario. The table (mean over the
scenarios every method finished) goes to stdout; all per-scenario numbers to
benchmarks/out/correlation.json; with ``--write-docs`` the tables, command,
date, machine and a chart go to docs/benchmarks.md (between the correlation
markers) and docs/img/correlation.svg. Exit status 1 when any run failed.

Usage: .venv/bin/python -m benchmarks.correlation.run [--seeds 1,2,3] [--engine-ref HEAD]
           [--write-docs]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.correlation import report
from benchmarks.correlation.baselines import BASELINES, Event
from benchmarks.correlation.engine_source import engine_source
from benchmarks.correlation.metrics import Prediction, evaluate
from benchmarks.correlation.scenario import (
    ScenarioConfig,
    generate,
    root_holds_most,
    summary,
    write_scenario,
)
from benchmarks.correlation.topologies import DEFAULT_NODES, TOPOLOGIES
from benchmarks.correlation.worker import EngineWorker, WorkerError
from benchmarks.machine import cpu_model
from connectors.jsonl import read_alerts

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "benchmarks" / "out" / "correlation"
OUT_JSON = ROOT / "benchmarks" / "out" / "correlation.json"
# method name in the results -> variant of engine_run.py
ENGINE_VARIANTS = {"engine": "trained", "engine-untrained": "untrained"}
METHODS = (*ENGINE_VARIANTS, *BASELINES)
NOISE_LEVELS = {"low": 1.0, "high": 5.0}  # background alarms per fault
DEFAULT_TOPOLOGIES = "huawei,tree:600,tree:2000,ba:500"
HUAWEI_FAULTS_PER_HOUR = 8.0


@dataclass
class Case:
    """One scenario of the matrix and what each method scored on it."""

    name: str
    config: ScenarioConfig
    facts: dict[str, Any] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "config": asdict(self.config), "facts": self.facts,
                "results": self.results, "errors": self.errors}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def faults_per_hour(topology: str, nodes: int | None) -> float:
    """Fault rate grows with the network, slower than its size (sqrt).

    Bigger networks have more concurrent faults, but their many edge devices fail
    less often each; sqrt keeps the huawei rate at 45 devices and gives ~29/h at 600.
    """
    if topology == "huawei":
        return HUAWEI_FAULTS_PER_HOUR
    # No size given: the size the generator builds (``tree`` alone is a 600-node tree, and
    # must fail as often as ``tree:600``, not at the 45-device rate).
    size = nodes or DEFAULT_NODES.get(topology)
    return HUAWEI_FAULTS_PER_HOUR * math.sqrt(size / 45.0) if size else HUAWEI_FAULTS_PER_HOUR


def noise_value(level: str) -> float:
    """``low``/``high`` or a number of background alarms per fault."""
    if level in NOISE_LEVELS:
        return NOISE_LEVELS[level]
    try:
        return float(level)
    except ValueError:
        raise ValueError(f"noise level {level!r}: use low, high or a number") from None


DEFAULT_HOP_WEIGHTS = ScenarioConfig().hop_weights


def parse_hop_weights(text: str | None) -> tuple[float, float, float]:
    """``--hop-weights``: where effects land (same device, 1 hop, 2 hops), as shares."""
    if text is None:
        return DEFAULT_HOP_WEIGHTS
    try:
        weights = tuple(float(part) for part in text.split(","))
    except ValueError:
        weights = ()
    if len(weights) != 3 or not all(0 <= w < math.inf for w in weights) or sum(weights) <= 0:
        raise ValueError(f"--hop-weights: {text!r} is not three shares like 0.1,0.8,0.1 "
                         "(same device, 1 hop, 2 hops; not negative, not all 0)")
    return weights  # type: ignore[return-value]


def build_cases(args: argparse.Namespace) -> list[Case]:
    """The scenario matrix: topologies × causal graphs × seeds × noise levels."""
    specs = [spec.strip() for spec in args.topologies.split(",")]
    topologies = [spec.partition(":") for spec in specs]
    for spec, (topology, _, size) in zip(specs, topologies, strict=True):
        if topology not in TOPOLOGIES or (size and not size.isdigit()):
            raise ValueError(f"--topologies: {spec!r} is not NAME or NAME:NODES with NAME "
                             f"one of {', '.join(TOPOLOGIES)}")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        raise ValueError(f"--seeds: {args.seeds!r} is not a comma-separated list of "
                         "integers") from None
    for option, value in (("--delay-scale", args.delay_scale), ("--hours", args.hours),
                          ("--history-hours", args.history_hours)):
        if not 0 < value < math.inf:  # 0 hours divided by zero deep in the generator
            raise ValueError(f"{option}: {value!r} is not a number above 0")
    if not 0.0 <= args.slow_share <= 1.0:
        raise ValueError(f"--slow-share: {args.slow_share!r} is not a share between 0 and 1")
    if not 1.0 <= args.slow_factor < math.inf:
        raise ValueError(f"--slow-factor: {args.slow_factor!r} is not a number not below 1")
    hop_weights = parse_hop_weights(args.hop_weights)
    cases = []
    for (topology, _, size), causal, seed, level in itertools.product(
            topologies, args.causal.split(","), seeds, args.noise.split(",")):
        nodes = int(size) if size else None
        config = ScenarioConfig(
            topology=topology, seed=seed, nodes=nodes, causal=causal,
            faults=faults_per_hour(topology, nodes) * args.hours, hours=args.hours,
            history_hours=args.history_hours, noise=noise_value(level),
            delay_scale=args.delay_scale, hop_weights=hop_weights,
            slow_share=args.slow_share, slow_factor=args.slow_factor)
        label = f"{topology}-{size}" if size else topology
        if args.delay_scale != 1.0:
            label += f"-delay{args.delay_scale:g}x"
        if args.slow_share > 0.0:
            label += f"-slow{args.slow_share:g}x{args.slow_factor:g}"
        if hop_weights != DEFAULT_HOP_WEIGHTS:
            label += "-hops" + "-".join(f"{w:g}" for w in hop_weights)
        cases.append(Case(f"{label}-{causal}-s{seed}-noise{level}", config,
                          {"topology": label, "noise_level": level, "causal": causal,
                           "seed": seed}))
    return cases


def engine_prediction(path: Path) -> Prediction:
    """The replay output (CONTRACTS.md §3) as groups and ranked root-cause entities."""
    incidents = json.loads(path.read_text(encoding="utf-8"))["incidents"]
    return Prediction(
        groups=[list(i["alert_ids"]) for i in incidents],
        root_causes=[[rc["entity"] for rc in i.get("root_causes") or []] for i in incidents])


def run_engine(worker: EngineWorker, paths: dict[str, Path], out: Path, timeout: float,
               case: Case) -> dict[str, tuple[Prediction, dict]]:
    """Both engine variants in the worker on fresh data dirs; failures go to ``case``."""
    runs: dict[str, tuple[Prediction, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="aiops-bench-") as work_dir:
        job = {"topology": str(paths["topology"]), "history": str(paths["history"]),
               "alerts": str(paths["eval"]), "work_dir": work_dir,
               "output_prefix": str(out / "engine"), "variants": list(ENGINE_VARIANTS.values())}
        try:
            answer = worker.run(job, timeout)
        except WorkerError as exc:
            for method in ENGINE_VARIANTS:
                case.errors[method] = str(exc)
            return runs
    case.facts["model_load_seconds"] = answer.get("model_load_seconds")
    for method, variant in ENGINE_VARIANTS.items():
        stats = answer["variants"].get(variant, {"error": "no result"})
        if "error" in stats:
            case.errors[method] = stats["error"]
            log(stats.get("traceback", ""))
            continue
        perf = {k: stats[k] for k in ("seconds", "alerts_per_second", "memory_mb",
                                      "peak_rss_mb", "train_seconds", "relations", "time_scale",
                                      "p99_ms")
                if k in stats}
        runs[method] = (engine_prediction(Path(stats["output"])), perf)
    return runs


def run_baseline(name: str, events: list[Event], graph: Any) -> tuple[Prediction, dict]:
    """Time a baseline, then run it again under tracemalloc for its peak allocation."""
    method = BASELINES[name]
    t0 = time.perf_counter()
    prediction = method(events, graph)
    seconds = time.perf_counter() - t0
    tracemalloc.start()
    try:
        method(events, graph)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return prediction, {"seconds": seconds,
                        "alerts_per_second": len(events) / seconds if seconds > 0 else 0.0,
                        "memory_mb": peak / 2**20}


def run_case(case: Case, out_dir: Path, worker: EngineWorker, timeout: float,
             keep_data: bool = False) -> None:
    """Generate, run every method, score; failures are recorded, not raised.

    The scenario's files and the engine's output are deleted afterwards (about 6 MB
    per scenario) unless ``keep_data``: keep them to look into a result.
    """
    try:
        _run_case(case, out_dir, worker, timeout)
    finally:
        if not keep_data:
            shutil.rmtree(out_dir / case.name, ignore_errors=True)


def _run_case(case: Case, out_dir: Path, worker: EngineWorker, timeout: float) -> None:
    case.facts["load_average"] = round(os.getloadavg()[0], 2)  # other work skews alerts/s
    scenario = generate(case.config)
    out = out_dir / case.name
    paths = write_scenario(scenario, out)
    truth = json.loads(paths["truth"].read_text(encoding="utf-8"))["periods"]["eval"]
    faults = sum(1 for g in truth["groups"].values() if g["kind"] == "fault")
    held, alarmed = root_holds_most(scenario.eval)
    case.facts.update(summary=summary(scenario), nodes=scenario.topology.graph.number_of_nodes(),
                      alerts=len(truth["alerts"]), faults=faults,
                      background=len(truth["groups"]) - faults, root_holds_most=held,
                      root_alarmed=alarmed)
    runs = run_engine(worker, paths, out, timeout, case)
    for method, error in case.errors.items():
        log(f"  {method} FAILED on {case.name}: {error}")
    events = [Event(a.id, a.entity, a.starts_at,
                    "\x1f".join([a.name, a.entity, *map("=".join, sorted(a.labels.items()))]),
                    a.ends_at) for a in read_alerts(paths["eval"])]
    for name in BASELINES:
        runs[name] = run_baseline(name, events, scenario.topology.graph)
    for name, (prediction, perf) in runs.items():
        scores = evaluate(prediction, truth)
        if scores["missing"] or scores["unknown"]:
            log(f"  {name} on {case.name}: {scores['missing']} alerts missing, "
                f"{scores['unknown']} unknown ids in its output")
        case.results[name] = {**scores, **perf}


def progress_line(index: int, total: int, case: Case) -> str:
    parts = [f"[{index}/{total}] {case.name}: {case.facts['alerts']:,} alerts, "
             f"{case.facts['faults']} faults"]
    for name in METHODS:
        r = case.results.get(name)
        if r is None:
            parts.append(f"{name} FAILED")
        else:
            parts.append(f"{name} F1 {r['f1']:.2f} AC@1 {r['ac1']:.2f}")
    return "; ".join(parts)


def machine() -> dict[str, str]:
    cpu = cpu_model()
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout
    return {"cpu": cpu, "nproc": nproc.strip() or "unknown",
            "python": sys.version.split()[0]}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topologies", default=DEFAULT_TOPOLOGIES,
                        help="comma list of huawei, tree[:NODES], ba[:NODES], "
                             "rings[:NODES], clos[:NODES]")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--noise", default="low,high",
                        help="comma list of low, high or background alarms per fault")
    parser.add_argument("--causal", default="neurips,wireless",
                        help="comma list of neurips, wireless")
    parser.add_argument("--hours", type=float, default=12.0, help="eval period per scenario")
    parser.add_argument("--history-hours", type=float, default=24.0)
    parser.add_argument("--delay-scale", type=float, default=1.0,
                        help="propagation and reporting delays times this (3: monitoring "
                             "that polls, slower than traps)")
    parser.add_argument("--slow-share", type=float, default=0.0,
                        help="share of the devices (chosen by seed) reporting through a slow "
                             "source: their alerts' source is poll instead of trap")
    parser.add_argument("--slow-factor", type=float, default=6.0,
                        help="the slow source's report delays times this (default 6)")
    parser.add_argument("--hop-weights", default=None,
                        help="where a fault's effects land: shares for the cause's own "
                             "device, 1 hop and 2 hops away (default 0.5,0.35,0.15; "
                             "0.1,0.8,0.1 places them as the real NeurIPS log does, "
                             "python -m benchmarks.realism --placement)")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR,
                        help="scenario files, engine outputs and the engine worker's log")
    parser.add_argument("--keep-data", action="store_true",
                        help="keep each scenario's files and engine output in --out-dir")
    parser.add_argument("--json", type=Path, default=None,
                        help="per-scenario results (default: benchmarks/out/<docs section>"
                             ".json, so the rings run does not overwrite the main one)")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds per scenario for the engine (both variants)")
    parser.add_argument("--engine-ref", default=None,
                        help="measure this commit (exported with git archive) instead of "
                             "the working tree")
    parser.add_argument("--write-docs", action="store_true",
                        help="replace the correlation section of docs/benchmarks.md")
    parser.add_argument("--docs-section", choices=sorted(report.SECTIONS),
                        default="correlation",
                        help="which section --write-docs replaces (correlation-rings, "
                             "correlation-clos: families kept apart from the main table)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    try:
        cases = build_cases(args)
    except ValueError as exc:  # a bad scenario spec, found before any work is done
        print(f"run.py: error: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    with engine_source(args.engine_ref) as source:
        log(f"{len(cases)} scenarios; engine: {source.version}; data in {args.out_dir}")
        worker = EngineWorker(source.cwd, source.module, args.out_dir / "engine-worker.log",
                              first_timeout=600.0)
        try:
            for index, case in enumerate(cases, start=1):
                run_case(case, args.out_dir, worker, args.timeout, args.keep_data)
                log(progress_line(index, len(cases), case))
        finally:
            worker.stop()
    document = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": ".venv/bin/python -m benchmarks.correlation.run"
                   + (" " + shlex.join(argv) if argv else ""),
        "machine": machine(), "elapsed_seconds": round(time.perf_counter() - started, 1),
        "engine_version": source.version,
        "methods": list(METHODS), "scenarios": [c.to_dict() for c in cases],
    }
    document["summary"] = report.summarise(document)
    if args.json is None:
        args.json = OUT_JSON.with_name(f"{args.docs_section}.json")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=1), encoding="utf-8")
    print(report.text_table(document))
    log(f"wrote {args.json}")
    if args.write_docs:
        for path in report.write_docs(document, args.docs_section):
            log(f"wrote {path}")
    failures = [(c.name, m, e) for c in cases for m, e in c.errors.items()]
    for name, method, error in failures:
        log(f"FAILED: {method} on {name}: {error}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
