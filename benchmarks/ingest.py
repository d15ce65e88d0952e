"""Ingestion throughput: ``aiops replay``, the HTTP API and a real Alertmanager, one run.

Why one script and one run: the three numbers are only comparable when they come
from the same alerts on the same machine at the same time. It generates N
canonical alerts (bursts of alarms around a failing device of the demo topology,
about 20% of them re-sends of a condition already firing, as NMSs do), then

  (a) replays them with the real CLI in a subprocess (``aiops topology import`` and
      ``aiops replay``, wall clock, and the replay's own timer) and in-process with
      ``aiops.replay.replay_file``, so interpreter start-up and migrations are
      separated from ingestion;
  (b) POSTs them to ``aiops serve`` (a subprocess on a fresh data dir with the same
      topology) in batches over one keep-alive session;
  (c) POSTs the same alerts, converted, to a real Prometheus Alertmanager's
      ``/api/v2/alerts`` (notifying nobody), as the reference for what the component
      in front of us can accept.

Request bodies are encoded before the clock starts: (b) and (c) time the server
and the HTTP exchange, not this script's JSON encoder. Everything listens on
127.0.0.1 only, every wait is bounded and every subprocess is stopped in a
``finally``. Progress goes to stderr; the table to stdout, benchmarks/out/ingest.json
and, with ``--write-docs``, docs/benchmarks.md.

Usage: .venv/bin/python benchmarks/ingest.py [--alerts 20000] [--seed 1] [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from aiops.demo.generate import alarm_type_names, demo_topology
from aiops.learning.embeddings import load_text_model
from aiops.replay import replay_file
from aiops.runtime import open_runtime
from aiops.store.db import create_db_engine
from aiops.store.tables import alerts as alerts_table
from aiops.store.tables import incidents as incidents_table
from aiops.store.tables import raw_events
from aiops.timeutil import to_rfc3339
from topology.model import parse_topology

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the Alertmanager helper lives with the integration tests
    sys.path.insert(0, str(ROOT))

from benchmarks.machine import cpu_model, engine_env, fresh_data_dir  # noqa: E402
from tests.integration.alertmanager_server import (  # noqa: E402
    alertmanager_binary,
    config_document,
    free_port,
    running_alertmanager,
    stop_process,
    wait_for,
)

OUT_JSON = ROOT / "benchmarks" / "out" / "ingest.json"
DOCS = ROOT / "docs" / "benchmarks.md"
START_MARK, END_MARK = "<!-- ingest:start -->", "<!-- ingest:end -->"
DOCS_HEADER = """# Benchmarks

Measured numbers, each section written by the script and command it names, on the
machine it describes. Re-run the command to refresh a section; numbers from
different machines are not comparable.

"""

RESEND_SHARE = 0.2  # of all alerts: re-sends of a condition already reported
SEVERITY_WEIGHTS = {"critical": 0.1, "major": 0.3, "minor": 0.25, "warning": 0.25, "info": 0.1}
BURST_SIZE = (1, 25)  # alarms per fault
BURST_SPREAD = 90.0  # seconds over which one fault's alarms start
MEAN_GAP = 240.0  # mean seconds between faults
INTERFACES = 48

SERVER_READY_TIMEOUT = 120.0  # seconds; includes loading the text model
CLI_TIMEOUT = 1800.0  # seconds for one CLI command; 20,000 alerts take a few seconds
REQUEST_TIMEOUT = 120.0


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- workload

@dataclass
class Workload:
    topology: dict[str, Any]
    alerts: list[dict[str, Any]]  # canonical alert objects in starts_at order
    resends: int
    span: float  # seconds from the first start to the last


def generate(count: int, seed: int, now: float) -> Workload:
    """``count`` canonical alerts ending shortly before ``now``; deterministic for a seed.

    Faults hit a random device; its alarms land on it and its neighbours (some
    two hops out) within BURST_SPREAD seconds, with random alarm names, interfaces
    and severities. Most clear after minutes, some after hours; those that would
    clear after ``now`` are still firing. Re-sends copy an earlier alert with a new
    id and a start inside its firing time, so the engine folds them as duplicates.
    """
    rng = random.Random(seed)
    topology = demo_topology()
    devices = [n["id"] for n in topology["nodes"]]
    site = {n["id"]: n["attrs"]["site"] for n in topology["nodes"]}
    neighbours: dict[str, list[str]] = {d: [] for d in devices}
    for edge in topology["edges"]:
        neighbours[edge["source"]].append(edge["target"])
        neighbours[edge["target"]].append(edge["source"])
    names = alarm_type_names(20)
    severities, weights = zip(*SEVERITY_WEIGHTS.items(), strict=True)

    resends = round(count * RESEND_SHARE)
    unique = count - resends
    raw: list[tuple[str, str, str, dict[str, str], float, float]] = []
    clock = 0.0
    while len(raw) < unique:
        epicentre = rng.choice(devices)
        near = neighbours[epicentre] or [epicentre]
        for _ in range(min(rng.randint(*BURST_SIZE), unique - len(raw))):
            roll = rng.random()
            if roll < 0.3:
                device = epicentre
            elif roll < 0.9:
                device = rng.choice(near)
            else:
                device = rng.choice(neighbours[rng.choice(near)] or near)
            start = clock + rng.uniform(0, BURST_SPREAD)
            duration = rng.uniform(30, 1800) if rng.random() < 0.9 else rng.uniform(3600, 43200)
            labels = {"interface": f"ge-0/0/{rng.randrange(INTERFACES)}", "site": site[device]}
            raw.append((rng.choice(names), device, rng.choices(severities, weights)[0], labels,
                        start, start + duration))
        clock += BURST_SPREAD + rng.expovariate(1 / MEAN_GAP)
    for _ in range(resends):
        name, device, severity, labels, start, end = raw[rng.randrange(unique)]
        again = start + rng.uniform(0, min(120.0, end - start))
        raw.append((name, device, severity, labels, again, end))

    raw.sort(key=lambda r: r[4])
    shift = now - 60.0 - raw[-1][4]  # the last alert started a minute ago
    alerts = []
    for seq, (name, device, severity, labels, start, end) in enumerate(raw):
        starts_at, ends_at = start + shift, end + shift
        alerts.append({
            "id": f"bench-{seq:06d}", "source": "nms", "name": name, "entity": device,
            "severity": severity, "summary": f"{name} on {device} {labels['interface']}",
            "starts_at": to_rfc3339(starts_at),
            "ends_at": to_rfc3339(ends_at) if ends_at <= now else None,
            "labels": labels,
        })
    return Workload(topology, alerts, resends, raw[-1][4] - raw[0][4])


def to_alertmanager(alert: dict[str, Any]) -> dict[str, Any]:
    """A canonical alert as Prometheus would post it to Alertmanager's v2 API."""
    out: dict[str, Any] = {
        "labels": {"alertname": alert["name"], "device": alert["entity"],
                   "severity": alert["severity"], **alert["labels"]},
        "annotations": {"summary": alert["summary"]},
        "startsAt": alert["starts_at"],
    }
    if alert["ends_at"] is not None:
        out["endsAt"] = alert["ends_at"]
    return out


def encode_batches(items: Sequence[dict[str, Any]], size: int) -> list[bytes]:
    return [json.dumps(list(items[i:i + size])).encode() for i in range(0, len(items), size)]


# --------------------------------------------------------------------------- results

@dataclass
class Measurement:
    path: str
    alerts: int
    seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.alerts / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "alerts": self.alerts, "seconds": round(self.seconds, 3),
                "alerts_per_second": round(self.rate, 1), "note": self.note}


@dataclass
class Outcome:
    """What the engine stored, to show that every path did the same work."""

    events: int
    alerts: int
    incidents: int
    dispositions: dict[str, int] = field(default_factory=dict)


def outcome_of(data_dir: Path) -> Outcome:
    engine = create_db_engine(fresh_data_dir(data_dir).url())
    try:
        with engine.connect() as conn:
            events = conn.execute(sa.select(sa.func.count()).select_from(raw_events)).scalar()
            alerts = conn.execute(sa.select(sa.func.count()).select_from(alerts_table)).scalar()
            incidents = conn.execute(sa.select(sa.func.count()).select_from(incidents_table)
                                     .where(incidents_table.c.status != "merged")).scalar()
            rows = conn.execute(sa.select(raw_events.c.disposition, sa.func.count())
                                .group_by(raw_events.c.disposition)).all()
    finally:
        engine.dispose()
    return Outcome(int(events or 0), int(alerts or 0), int(incidents or 0),
                   {d: int(n) for d, n in sorted(rows)})


# --------------------------------------------------------------------------- phases

def aiops_command() -> Path:
    """The ``aiops`` console script next to this interpreter (the venv's)."""
    path = Path(sys.executable).with_name("aiops")
    if not path.exists():
        raise SystemExit(f"bench: {path} not found; run `make setup` first")
    return path


def run_cli(args: Sequence[str | Path]) -> subprocess.CompletedProcess[str]:
    command = [str(aiops_command()), *map(str, args)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=CLI_TIMEOUT,
                          stdin=subprocess.DEVNULL, check=False, env=engine_env())
    if proc.returncode != 0:
        raise SystemExit(f"bench: {shlex.join(command)} failed ({proc.returncode}):\n"
                         f"{proc.stderr[-2000:]}")
    return proc


def phase_replay(work: Path, topo_path: Path, alerts_path: Path,
                 count: int) -> tuple[list[Measurement], dict[str, Outcome]]:
    """(a) ``aiops replay`` as a subprocess, then ``replay_file`` in this process."""
    log("phase a: aiops topology import + aiops replay (subprocess)")
    cli_dir = work / "replay-cli"
    run_cli(["--data-dir", cli_dir, "topology", "import", topo_path, "--source", "bench"])
    started = time.perf_counter()
    proc = run_cli(["--data-dir", cli_dir, "replay", alerts_path, "-o", work / "cli.json"])
    wall = time.perf_counter() - started
    match = re.search(r"replay took ([0-9.]+) s", proc.stderr)
    own = float(match.group(1)) if match else float("nan")
    log(f"  CLI replay: {wall:.2f} s wall clock, {own:.2f} s by its own timer")

    log("phase a: replay_file in-process")
    runtime = open_runtime(fresh_data_dir(work / "replay-inproc"))
    try:
        nodes, edges = parse_topology(json.loads(topo_path.read_text()))
        runtime.import_topology(nodes, edges, source="bench")
        started = time.perf_counter()
        replay_file(runtime, alerts_path, work / "inproc.json")
        inproc = time.perf_counter() - started
    finally:
        runtime.close()
    log(f"  in-process replay: {inproc:.2f} s")
    log("phase a: replay_file in-process, text model loaded beforehand")
    load_text_model()  # what a running `aiops serve` has done long before
    runtime = open_runtime(fresh_data_dir(work / "replay-warm"))
    try:
        nodes, edges = parse_topology(json.loads(topo_path.read_text()))
        runtime.import_topology(nodes, edges, source="bench")
        started = time.perf_counter()
        replay_file(runtime, alerts_path, work / "warm.json")
        warm = time.perf_counter() - started
        latency = runtime.engine.stats()["placement_latency"]
    finally:
        runtime.close()
    log(f"  warm in-process replay: {warm:.2f} s; placement latency {latency}")
    measurements = [
        Measurement("`aiops replay` CLI, wall clock", count, wall,
                    "subprocess: interpreter start-up, imports, migrations, replay, output"),
        Measurement("`aiops replay` CLI, its own timer", count, own,
                    "read + validate + ingest + write the incidents document"),
        Measurement("`replay_file` in-process", count, inproc,
                    "same work as the line above, no start-up (loads the text model)"),
        Measurement("`replay_file` in-process, text model loaded", count, warm,
                    f"as above, model loaded before; placement p50 {latency['p50_ms']} ms, "
                    f"p99 {latency['p99_ms']} ms, max {latency['max_ms']} ms per alert"),
    ]
    return measurements, {"replay_cli": outcome_of(cli_dir),
                          "replay_inprocess": outcome_of(work / "replay-inproc")}


@contextmanager
def aiops_server(data_dir: Path, log_path: Path) -> Iterator[str]:
    """``aiops serve`` on a free 127.0.0.1 port until the block ends; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as server_log:
        process = subprocess.Popen(
            [str(aiops_command()), "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1",
             "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=server_log, stderr=subprocess.STDOUT,
            env=engine_env())
    try:
        def healthy() -> bool:
            if process.poll() is not None:
                raise SystemExit(f"bench: aiops serve exited ({process.returncode}):\n"
                                 f"{log_path.read_text(errors='replace')[-2000:]}")
            try:
                return requests.get(f"{url}/api/v1/health", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(healthy, SERVER_READY_TIMEOUT, "aiops serve to answer /api/v1/health")
        yield url
    finally:
        stop_process(process)


def post_batches(session: requests.Session, url: str, bodies: list[bytes], label: str,
                 on_response: Callable[[requests.Response], None] | None = None) -> float:
    """POST each pre-encoded body in order; return the seconds it took; fail on non-200."""
    step = max(1, len(bodies) // 5)
    started = time.perf_counter()
    for i, body in enumerate(bodies, start=1):
        response = session.post(url, data=body, headers={"Content-Type": "application/json"},
                                timeout=REQUEST_TIMEOUT)
        if response.status_code != 200:
            raise SystemExit(f"bench: {label} batch {i} refused: HTTP {response.status_code} "
                             f"{response.text[:500]}")
        if on_response is not None:
            on_response(response)
        if i % step == 0 or i == len(bodies):
            log(f"  {label}: {i}/{len(bodies)} batches")
    return time.perf_counter() - started


def phase_http(work: Path, topo_path: Path, workload: Workload,
               batch: int) -> tuple[Measurement, Outcome]:
    """(b) the same alerts POSTed to ``/api/v1/alerts`` of ``aiops serve``."""
    log(f"phase b: aiops serve, POST /api/v1/alerts in batches of {batch}")
    data_dir = work / "http"
    run_cli(["--data-dir", data_dir, "topology", "import", topo_path, "--source", "bench"])
    bodies = encode_batches(workload.alerts, batch)
    accepted = 0

    def count(response: requests.Response) -> None:
        nonlocal accepted
        accepted += response.json()["accepted"]

    with aiops_server(data_dir, work / "serve.log") as url, requests.Session() as session:
        seconds = post_batches(session, f"{url}/api/v1/alerts", bodies, "aiops API", count)
    if accepted != len(workload.alerts):
        raise SystemExit(f"bench: the API accepted {accepted} of {len(workload.alerts)} alerts")
    log(f"  HTTP API: {seconds:.2f} s")
    return (Measurement(f"HTTP `POST /api/v1/alerts` ({batch}/request)", accepted, seconds,
                        "`aiops serve` subprocess, one keep-alive session"),
            outcome_of(data_dir))


def _metric_sum(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in ("{", " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def phase_alertmanager(work: Path, workload: Workload, batch: int) -> Measurement:
    """(c) the same alerts POSTed to a real Alertmanager's ``/api/v2/alerts``."""
    log(f"phase c: Alertmanager, POST /api/v2/alerts in batches of {batch}")
    bodies = encode_batches([to_alertmanager(a) for a in workload.alerts], batch)
    with running_alertmanager(work / "alertmanager", config_document(None)) as am, \
            requests.Session() as session:
        seconds = post_batches(session, f"{am.url}/api/v2/alerts", bodies, "Alertmanager")
        metrics = session.get(f"{am.url}/metrics", timeout=REQUEST_TIMEOUT).text
    received = _metric_sum(metrics, "alertmanager_alerts_received_total")
    invalid = _metric_sum(metrics, "alertmanager_alerts_invalid_total")
    if received != len(workload.alerts) or invalid:
        raise SystemExit(f"bench: Alertmanager received {received:.0f} alerts, "
                         f"{invalid:.0f} invalid, of {len(workload.alerts)} sent")
    log(f"  Alertmanager: {seconds:.2f} s")
    return Measurement(f"Alertmanager `POST /api/v2/alerts` ({batch}/request)",
                       len(workload.alerts), seconds,
                       "real Alertmanager, blackhole receiver, clustering off")


# --------------------------------------------------------------------------- report

def machine() -> dict[str, Any]:
    cpu = cpu_model()
    try:
        cpus = subprocess.run(["nproc"], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        cpus = "unknown"
    binary = alertmanager_binary()
    am_version = "absent"
    if binary:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10,
                             check=False)
        found = re.search(r"version (\S+)", out.stdout or out.stderr)
        am_version = f"Alertmanager {found.group(1)}" if found else "Alertmanager (version unknown)"
    return {"cpu": cpu, "nproc": cpus, "python": platform.python_version(),
            "platform": platform.platform(), "alertmanager": am_version,
            "aiops": metadata.version("aiops-engine"), "tmp": tempfile.gettempdir(),
            "load": f"{os.getloadavg()[0]:.1f}"}


def command_line(argv: Sequence[str]) -> str:
    python = Path(sys.executable)
    try:
        shown = str(python.relative_to(ROOT))
    except ValueError:
        shown = str(python)
    return shlex.join([shown, "benchmarks/ingest.py", *argv])


def table(measurements: list[Measurement]) -> str:
    lines = ["| path | alerts | seconds | alerts/s | what is timed |",
             "|---|---:|---:|---:|---|"]
    for m in measurements:
        lines.append(f"| {m.path} | {m.alerts:,} | {m.seconds:.2f} | {m.rate:,.0f} | {m.note} |")
    return "\n".join(lines)


def outcome_table(outcomes: dict[str, Outcome]) -> str:
    lines = ["| run | raw events | alerts | incidents | dispositions |", "|---|---:|---:|---:|---|"]
    for name, o in outcomes.items():
        dispositions = ", ".join(f"{k} {v:,}" for k, v in o.dispositions.items())
        lines.append(f"| {name} | {o.events:,} | {o.alerts:,} | {o.incidents:,} "
                     f"| {dispositions} |")
    return "\n".join(lines)


def docs_section(report: dict[str, Any], measurements: list[Measurement],
                 outcomes: dict[str, Outcome]) -> str:
    m, w = report["machine"], report["workload"]
    wall = next(x for x in measurements if "wall clock" in x.path)
    inproc = next(x for x in measurements if "in-process" in x.path)
    return f"""{START_MARK}
## Ingestion throughput

Measured {report['date']} on {m['cpu']} ({m['nproc']} CPUs by `nproc`), {m['platform']},
Python {m['python']}, {m['alertmanager']}, aiops {m['aiops']}; SQLite data dirs under
`{m['tmp']}`; 1-minute load average {m['load']} when it started (other work on the
machine lowers every alerts/s figure). One run: repeat the command to see the spread.

Command: `{report['command']}`

Workload (seed {w['seed']}): {w['alerts']:,} canonical alerts on the demo topology
({w['devices']} devices, {w['links']} links), bursts of 1–25 alarms on a failing device
and its neighbours over {w['span_hours']:.0f} simulated hours; {w['resends']:,}
({w['resend_share']:.0%}) are re-sends of a condition already reported. Every path gets
the same alerts in `starts_at` order; HTTP bodies are encoded before the clock starts.

{table(measurements)}

Start-up cost of the CLI (wall clock minus in-process): {wall.seconds - inproc.seconds:.2f} s.
The Alertmanager line is a reference point: it only stores and groups alerts, the engine
also deduplicates, correlates, ranks and writes every event to its database.

What each engine run stored ({"the same on every path" if report["outcomes_identical"]
else "the paths DISAGREE, which is a bug"}):

{outcome_table(outcomes)}
{END_MARK}"""


def write_docs(section: str) -> None:
    text = DOCS.read_text(encoding="utf-8") if DOCS.exists() else DOCS_HEADER
    start, end = text.find(START_MARK), text.find(END_MARK)
    if start != -1 and end > start:
        text = text[:start] + section + text[end + len(END_MARK):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(text, encoding="utf-8")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--alerts", type=int, default=20_000, help="alerts to generate")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the workload")
    parser.add_argument("--batch", type=int, default=500, help="alerts per HTTP request")
    parser.add_argument("--write-docs", action="store_true",
                        help=f"replace the ingest section of {DOCS.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    if args.alerts < 1:
        parser.error("--alerts must be at least 1")
    if not 1 <= args.batch <= 10_000:
        parser.error("--batch must be between 1 and 10000 (the API's per-request limit)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if alertmanager_binary() is None:
        raise SystemExit("bench: prometheus-alertmanager not found (make test-deps installs it)")
    now = time.time()
    log(f"generating {args.alerts:,} alerts (seed {args.seed})")
    workload = generate(args.alerts, args.seed, now)
    with tempfile.TemporaryDirectory(prefix="aiops-bench-") as tmp:
        work = Path(tmp)
        topo_path = work / "topology.json"
        alerts_path = work / "alerts.jsonl"
        topo_path.write_text(json.dumps(workload.topology), encoding="utf-8")
        with alerts_path.open("w", encoding="utf-8") as handle:
            for alert in workload.alerts:
                handle.write(json.dumps(alert) + "\n")
        measurements, outcomes = phase_replay(work, topo_path, alerts_path, args.alerts)
        http, outcomes["http_api"] = phase_http(work, topo_path, workload, args.batch)
        measurements.append(http)
        measurements.append(phase_alertmanager(work, workload, args.batch))

    same = len({json.dumps(o.__dict__, sort_keys=True) for o in outcomes.values()}) == 1
    if not same:
        log("warning: the engine runs stored different results; see the outcome table")
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(argv),
        "machine": machine(),
        "workload": {"alerts": args.alerts, "seed": args.seed, "batch": args.batch,
                     "resends": workload.resends, "resend_share": RESEND_SHARE,
                     "devices": len(workload.topology["nodes"]),
                     "links": len(workload.topology["edges"]),
                     "span_hours": workload.span / 3600,
                     "severities": dict(Counter(a["severity"] for a in workload.alerts))},
        "results": [m.to_dict() for m in measurements],
        "outcomes": {k: o.__dict__ for k, o in outcomes.items()},
        "outcomes_identical": same,
    }
    OUT_JSON.parent.mkdir(parents=True, exist_ok=True)
    OUT_JSON.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(table(measurements))
    print()
    print(outcome_table(outcomes))
    log(f"wrote {OUT_JSON.relative_to(ROOT)}")
    if args.write_docs:
        write_docs(docs_section(report, measurements, outcomes))
        log(f"wrote {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
