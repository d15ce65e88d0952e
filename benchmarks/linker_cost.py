"""What linking tickets to incidents costs, one ticket at a time and in one call.

Why: ``TicketLinker.link`` scores every ticket against the incidents near it in time,
and the text evidence needs every ticket text and incident alert text embedded by the
text model. ``link`` gathers the texts of all its tickets and their candidates and
embeds them in one model call (``aiops/tickets/linker.py``), where it used to call the
model for each (ticket, incident) pair with a new text. An ITSM import or the re-linking
of a resolved incident links many tickets at once; the sink links a few.

The store is built in this process: a ring of devices, a fault every ``--gap`` seconds
on a random device (its root alarm and the effect on both neighbours, with Prometheus-
style identity labels: host, mount point, namespace and pod, user), ingested by the
engine, and one ticket per fault, opened a few minutes after it and resolved half an
hour later; about a third list the root alert's id. Titles are *plain* ("Disk almost
full") or *named* after the instance ("Disk full on /var of srv-ne-007"): a named
title reads differently against each candidate incident (the instance names of the
incident's own labels are masked in it), so it makes more texts to embed.

Each mode starts from an empty embedding cache (a fresh process's linker), with the
model loaded beforehand, and is timed ``--repeat`` times (the median is reported):
*one at a time* calls ``link`` once per ticket, *batched* once for all. The two must
link the same tickets to the same incidents in the same order, with scores equal to
float32 rounding (``MAX_DRIFT``), or it fails: a text's vector can differ in its last
bits with the other texts padded into its model call (as it did before with the
order in which the cache filled), so a score on a rounding boundary may print one
unit apart in its fourth decimal.

Usage: .venv/bin/python -m benchmarks.linker_cost [--faults 300] [--gap 300] [--seed 1]
       [--repeat 3] [--write-docs]
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiops.learning.embeddings import TemplateEmbedder, load_text_model
from aiops.models import Ticket, parse_alert
from aiops.runtime import Runtime, open_runtime
from aiops.tickets.linker import Link, TicketLinker
from aiops.tickets.store import store_tickets
from benchmarks.machine import cpu_model, fresh_data_dir, load_average
from benchmarks.remediation import module_command, write_section
from topology.model import parse_topology

START, END = "<!-- linker-cost:start -->", "<!-- linker-cost:end -->"
T0 = 1_800_000_000.0
DEVICES = 60
MOUNTS = ("/", "/var", "/data", "/var/log", "/home")
NAMESPACES = ("payments", "checkout", "search", "orders")
USERS = ("admin", "oracle", "deploy", "jdoe", "backup", "svc-ci")
# How far a score of the two modes may differ: float32 rounding of the text vectors.
MAX_DRIFT = 1e-6


def _device(i: int) -> str:
    return f"ne-{i:03d}"


def topology() -> dict[str, Any]:
    """A ring of routers: each fault's effect lands on the root's two neighbours."""
    nodes = [{"id": _device(i), "kind": "router", "attrs": {"role": "core"}}
             for i in range(DEVICES)]
    edges = [{"source": _device(i), "target": _device((i + 1) % DEVICES)}
             for i in range(DEVICES)]
    return {"nodes": nodes, "edges": edges}


# A fault kind: (root alarm type, effect type, root summary and labels of a device's
# host, plain ticket title, named ticket title); the summaries and titles name the
# same instances, as an engineer's title names what the alert named.
Kind = tuple[str, str, Callable[[random.Random, str], tuple[str, dict[str, str], str, str]]]


def _power(rng: random.Random, host: str) -> tuple[str, dict[str, str], str, str]:
    return (f"Power supply {rng.randrange(1, 3)} failed on {host}",
            {"instance": f"{host}:9100"}, "Power supply failure",
            f"Power supply failure on {host}")


def _disk(rng: random.Random, host: str) -> tuple[str, dict[str, str], str, str]:
    mount = rng.choice(MOUNTS)
    return (f"Only {rng.uniform(1, 5):.1f}% space left on {mount} of {host}",
            {"instance": f"{host}:9100", "mountpoint": mount}, "Disk almost full",
            f"Disk full on {mount} of {host}")


def _pod(rng: random.Random, host: str) -> tuple[str, dict[str, str], str, str]:
    ns = rng.choice(NAMESPACES)
    pod = f"{ns}-api-{rng.randrange(5)}"
    return (f"Pod {ns}/{pod} on {host} keeps restarting",
            {"namespace": ns, "pod": pod, "node": host}, "Service crash looping",
            f"{pod} in {ns} crash looping on {host}")


def _login(rng: random.Random, host: str) -> tuple[str, dict[str, str], str, str]:
    user = rng.choice(USERS)
    return (f"Failed password for invalid user {user} from 10.9.{rng.randrange(256)}."
            f"{rng.randrange(1, 255)} port {rng.randrange(1024, 65535)} ssh2",
            {"instance": f"{host}:22", "user": user}, "Brute-force SSH logins",
            f"SSH brute force on {host}, user {user}")


KINDS: tuple[Kind, ...] = (("POWER_FAIL", "LINK_DOWN", _power),
                           ("DISK_FULL", "SERVICE_DEGRADED", _disk),
                           ("POD_CRASHLOOP", "SERVICE_DEGRADED", _pod),
                           ("AUTH_FAILURES", "LOGIN_ALARM", _login))


def history(faults: int, gap: float, seed: int, named: bool
            ) -> tuple[list[dict[str, Any]], list[Ticket]]:
    """Alerts and tickets of ``faults`` faults ``gap`` seconds apart; deterministic."""
    rng = random.Random(seed)
    alerts: list[dict[str, Any]] = []
    tickets: list[Ticket] = []
    for n in range(faults):
        root_type, effect_type, make = KINDS[n % len(KINDS)]
        i = rng.randrange(DEVICES)
        device, at = _device(i), T0 + n * gap
        summary, labels, plain, with_names = make(rng, f"srv-{device}")
        root_id = f"f{n}-0"
        alerts.append({"id": root_id, "source": "bench", "name": root_type, "entity": device,
                       "severity": "critical", "summary": summary, "labels": labels,
                       "starts_at": at, "ends_at": at + 900})
        for k, other in enumerate((_device(i - 1), _device((i + 1) % DEVICES)), start=1):
            alerts.append({"id": f"f{n}-{k}", "source": "bench", "name": effect_type,
                           "entity": other, "severity": "major",
                           "summary": f"{effect_type.replace('_', ' ').lower()} towards "
                                      f"{device}",
                           "starts_at": at + 5 + k, "ends_at": at + 900})
        tickets.append(Ticket(
            f"INC{n:05d}", at + rng.uniform(60, 600), with_names if named else plain,
            resolved_at=at + 1800 + rng.uniform(0, 1800),
            description="Raised from the NOC dashboard." if rng.random() < 0.5 else None,
            entity=device if rng.random() < 0.6 else None,
            alert_ids=[root_id] if n % 3 == 0 else []))
    return alerts, tickets


def build(work: Path, alerts: list[dict[str, Any]], tickets: list[Ticket]) -> Runtime:
    """A data dir with the topology, the alerts ingested and the tickets stored."""
    runtime = open_runtime(fresh_data_dir(work))
    nodes, edges = parse_topology(topology())
    runtime.import_topology(nodes, edges, source="bench")
    runtime.engine.ingest([parse_alert(a) for a in alerts])
    with runtime.db.begin() as conn:
        store_tickets(conn, tickets, "bench", runtime.engine.topology.resolve)
    return runtime


def _link(runtime: Runtime, tickets: list[Ticket], batched: bool
          ) -> tuple[float, list[Link], int]:
    """Seconds to link ``tickets`` with a fresh linker and an empty embedding cache,
    the links, and the texts the model embedded."""
    embedder = TemplateEmbedder()
    linker = TicketLinker(runtime.engine.topology, embedder)
    with runtime.db.connect() as conn:
        started = time.perf_counter()
        if batched:
            links = linker.link(conn, tickets)
        else:
            links = [x for t in tickets for x in linker.link(conn, [t])]
        seconds = time.perf_counter() - started
    return seconds, links, embedder.encoded


def measure(runtime: Runtime, tickets: list[Ticket], repeat: int) -> dict[str, Any]:
    """Both modes ``repeat`` times, alternating; medians, and the links compared."""
    times: dict[str, list[float]] = {"one": [], "batched": []}
    found: dict[str, list[Link]] = {}
    encoded: dict[str, int] = {}
    for _ in range(repeat):
        for mode in times:
            seconds, links, encoded[mode] = _link(runtime, tickets, mode == "batched")
            times[mode].append(seconds)
            found[mode] = links
    one, batched = found["one"], found["batched"]
    pairs = [(x.ticket_id, x.incident_id) for x in one]
    if pairs != [(x.ticket_id, x.incident_id) for x in batched]:
        raise SystemExit("linker-cost: batched links differ from one ticket at a time")
    drift = max((abs(a.score - b.score) for a, b in zip(one, batched, strict=True)),
                default=0.0)
    if drift > MAX_DRIFT:
        raise SystemExit(f"linker-cost: batched scores differ by {drift:.1e}")
    count = len(tickets)
    return {mode: {"ms_per_ticket": statistics.median(ts) * 1000 / count,
                   "seconds": statistics.median(ts), "embedded": encoded[mode]}
            for mode, ts in times.items()} | {
        "links": len(batched), "linked_tickets": len({x.ticket_id for x in batched}),
        "text_links": sum(x.parts["text"] > 0 for x in batched), "max_score_drift": drift}


def section(report: dict[str, Any]) -> str:
    lines = [
        "## Ticket linking: one ticket at a time or all in one call", "",
        f"Measured {report['date']} on {report['cpu']}, Python {report['python']}; 1-minute "
        f"load average {report['load']} at the end. Median of {report['repeat']} runs.", "",
        f"Command: `{report['command']}`", "",
        f"{report['faults']:,} faults {report['gap']:.0f} s apart on a ring of {DEVICES} "
        "devices (root alarm and both neighbours' effect, with identity labels: host, "
        "mount point, namespace and pod, user), ingested by the engine; one ticket per "
        "fault, a third listing the root alert's id. *Plain* titles name no instance "
        "(\"Disk almost full\"), *named* ones do (\"Disk full on /var of srv-ne-007\": "
        "masked by each candidate incident's own names, so more texts). Each run links "
        "with a fresh linker and an empty embedding cache, the text model loaded "
        "beforehand. *One at a time*: `link` once per ticket; *batched*: once for all "
        "(its tickets' and candidates' texts embedded in one model call per "
        "256 tickets). *Embedded*: texts through the model. Both modes link the same "
        "tickets to the same incidents, with scores equal to float32 rounding (at most "
        f"{MAX_DRIFT:.0e} apart), or the benchmark fails.", "",
        "| titles | links (tickets linked, by text too) | one at a time ms/ticket | "
        "batched ms/ticket | speed-up | embedded | largest score difference |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for titles, r in report["results"].items():
        one, batched = r["one"], r["batched"]
        lines.append(
            f"| {titles} | {r['links']:,} ({r['linked_tickets']:,}, {r['text_links']:,}) | "
            f"{one['ms_per_ticket']:.2f} | {batched['ms_per_ticket']:.2f} | "
            f"{one['ms_per_ticket'] / batched['ms_per_ticket']:.1f}× | "
            f"{batched['embedded']:,} | {r['max_score_drift']:.1e} |")
    lines += ["", "The scores of the two modes may differ in the last bits of float32: a "
              "text's vector depends slightly on the other texts padded into its model "
              "call (as it depended before on the order in which the cache filled)."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faults", type=int, default=300, help="faults, one ticket each")
    parser.add_argument("--gap", type=float, default=300.0, help="seconds between faults")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per mode")
    parser.add_argument("--write-docs", action="store_true",
                        help="replace the linker-cost section of docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.faults < 1:
        parser.error("--faults must be at least 1")
    if args.gap <= 0:
        parser.error("--gap must be more than 0 seconds")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    load_text_model()
    results: dict[str, Any] = {}
    for titles in ("plain", "named"):
        alerts, tickets = history(args.faults, args.gap, args.seed, titles == "named")
        with tempfile.TemporaryDirectory(prefix="aiops-linker-cost-") as tmp:
            runtime = build(Path(tmp) / "data", alerts, tickets)
            try:
                results[titles] = measure(runtime, tickets, args.repeat)
            finally:
                runtime.close()
        r = results[titles]
        print(f"[linker-cost] {titles}: one at a time {r['one']['ms_per_ticket']:.2f} "
              f"ms/ticket, batched {r['batched']['ms_per_ticket']:.2f} ms/ticket, "
              f"{r['links']} links", file=sys.stderr)
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu_model(),
        "python": platform.python_version(), "load": load_average(),
        "command": module_command("benchmarks.linker_cost", argv), "faults": args.faults,
        "gap": args.gap, "repeat": args.repeat, "results": results,
    }
    text = section(report)
    print(text)
    if args.write_docs:
        write_section(text, START, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
