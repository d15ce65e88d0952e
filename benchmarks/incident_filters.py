"""What each filter of the incident list costs on a large store (aiops/store/
incident_filter.py; docs/benchmarks.md, "Incident filters"), on SQLite and PostgreSQL.

Why: an operator filters the list during an outage, when the store is at its largest;
every filter is a condition the database evaluates (so that paging and the counts of
what matches are right), and each must be answered from an index where one can be.

A store of ``--incidents`` incidents (every 20th open) with ``--alerts-per`` alerts
each on ``--nodes`` devices (each with an alias), inserted directly rather than
correlated through the engine (the list only reads rows); every 50th open incident's
firing alerts are acknowledged, every 70th's suppressed. On SQLite, the text index has
caught up with all but the newest ``--tail`` alerts (stored after it): one text search
is timed so, then the index catches up (as ``aiops serve`` does every few seconds)
and every filter is timed. Then ``GET /api/v1/incidents``
with each filter, ``--requests`` times through Flask's test client (no HTTP server),
100 rows a page: the page and both counts (all, and what matches). It prints the median
and the slowest request per filter, and with ``--plans`` the query plans of the page
and of the count of what matches (``EXPLAIN QUERY PLAN`` / ``EXPLAIN``).

``--write-docs`` replaces the generated block of docs/benchmarks.md's "Incident
filters" section.

Usage: .venv/bin/python -m benchmarks.incident_filters [--incidents 100000]
       [--alerts-per 2] [--requests 20] [--tail 20000] [--postgres] [--plans]
       [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from flask.testing import FlaskClient

from aiops.api import create_app
from aiops.config import DataDir
from aiops.models import SEVERITIES
from aiops.runtime import Runtime, open_runtime
from aiops.store.incident_filter import IncidentFilter, at_least
from aiops.store.queries import filter_conditions
from aiops.store.tables import alerts, incidents
from aiops.store.text_catchup import index_tail
from benchmarks.machine import cpu_model, load_average
from benchmarks.remediation import module_command, publish
from topology.model import Node

START, END = "<!-- incident-filters:start -->", "<!-- incident-filters:end -->"
T0 = 1_700_000_000.0
NAMES = ["LINK_DOWN", "BGP_SESSION_DOWN", "CPU_HIGH", "FAN_FAIL", "POWER_SUPPLY_FAIL",
         "LOS", "BER_HIGH", "CLOCK_UNLOCKED", "DISK_FULL", "OSPF_NEIGHBOR_LOST"]


@dataclass(frozen=True)
class Case:
    label: str
    query: str


def cases(incident_count: int, nodes: int) -> list[Case]:
    recent = T0 + (incident_count - incident_count // 100) * 60  # the newest 1%
    return [
        Case("none", ""),
        Case("status=open", "status=open"),
        Case("severity=major", "severity=major"),
        Case("entity (an alias)", f"entity=dev-{nodes // 2:04d}.example.net"),
        Case("q, a common word (BGP)", "q=bgp"),
        Case("q, found nowhere", "q=no-such-text"),
        Case("q, one device", f"q=dev-{nodes // 2:04d}"),
        Case("q, in every alert (dev)", "q=dev"),
        Case("acknowledged=false", "acknowledged=false"),
        Case("suppressed=true", "suppressed=true"),
        Case("since (newest 1%)", f"since={recent:.0f}"),
        Case("severity + entity + acknowledged=false",
             f"severity=major&entity=dev-{nodes // 2:04d}&acknowledged=false"),
    ]


def fill(rt: Runtime, incident_count: int, per: int, nodes: int, tail: int,
         seed: int = 1) -> None:
    """The devices (each with an alias) and the incidents with their alerts, all but the
    newest ``tail`` alerts in SQLite's text index."""
    rng = random.Random(seed)
    rt.import_topology([Node(f"dev-{i:04d}", "device", f"dev-{i:04d}",
                             {"aliases": [f"dev-{i:04d}.example.net"]})
                        for i in range(nodes)], [], "bench")
    incident_rows, alert_rows = [], []
    for i in range(incident_count):
        start = T0 + i * 60
        is_open = i % 20 == 0
        severity = SEVERITIES[rng.randrange(len(SEVERITIES))]
        names = rng.sample(NAMES, per)
        where = [f"dev-{rng.randrange(nodes):04d}" for _ in range(per)]
        labels = ({"acknowledged": "true"} if is_open and i % 50 == 0 else
                  {"suppressed": "maintenance"} if is_open and i % 70 == 0 else {})
        incident_rows.append({
            "id": f"inc-{i}", "seq": i, "status": "open" if is_open else "resolved",
            "title": f"{', '.join(names)} on {', '.join(where)}", "severity": severity,
            "started_at": start, "updated_at": start + 60,
            "resolved_at": None if is_open else start + 600, "alert_count": per,
            "root_causes": []})
        for k in range(per):
            alert_rows.append({
                "id": i * per + k, "fingerprint": f"{i}-{k}", "first_event_id": f"e{i}-{k}",
                "source": "bench", "name": names[k], "entity": where[k], "node_id": where[k],
                "severity": severity, "summary": f"{names[k]} on {where[k]}",
                "labels": labels, "status": "firing" if is_open else "resolved",
                "starts_at": start + k, "ends_at": None if is_open else start + 600,
                "last_event_at": start + k, "event_count": 1, "transitions": 0,
                "flapping": False, "incident_id": f"inc-{i}"})
    # The newest ``tail`` alerts are stored after SQLite's catch-up has indexed the
    # others (aiops/store/text_catchup.py): searched by a scan of their ids' range
    # until ``index_tail`` runs again, as in `aiops serve` between two rounds.
    indexed = len(alert_rows) - min(tail, len(alert_rows))
    with rt.db.begin() as conn:
        for first in range(0, len(incident_rows), 10_000):
            conn.execute(sa.insert(incidents), incident_rows[first:first + 10_000])
        for first in range(0, indexed, 10_000):
            conn.execute(sa.insert(alerts), alert_rows[first:min(first + 10_000, indexed)])
    index_tail(rt.db)
    with rt.db.begin() as conn:
        for first in range(indexed, len(alert_rows), 10_000):
            conn.execute(sa.insert(alerts), alert_rows[first:first + 10_000])
    with rt.db.begin() as conn:
        conn.execute(sa.text("ANALYZE"))


def plans(rt: Runtime, nodes: int, incident_count: int) -> str:
    """The query plans of the page and the count of what matches, per filter."""
    dialect = rt.db.dialect.name
    prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
    node = f"dev-{nodes // 2:04d}"
    chosen = {
        "severity": IncidentFilter(severities=at_least("major")),
        "entity": IncidentFilter(entity=f"{node}.example.net", node_id=node),
        "q": IncidentFilter(text="bgp"),
        "acknowledged": IncidentFilter(acknowledged=False),
        "suppressed": IncidentFilter(suppressed=True),
        "since": IncidentFilter(since=T0 + incident_count * 59),
    }
    out = []
    with rt.db.connect() as conn:
        for label, f in chosen.items():
            page = (sa.select(incidents).where(incidents.c.status != "merged",
                                               *filter_conditions(conn, f))
                    .order_by(incidents.c.started_at.desc(), incidents.c.seq.desc())
                    .limit(100))
            count = (sa.select(incidents.c.status, sa.func.count())
                     .where(*filter_conditions(conn, f)).group_by(incidents.c.status))
            for what, query in (("page", page), ("count", count)):
                sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
                rows = conn.execute(sa.text(prefix + sql)).all()
                text = "\n".join("  " + " | ".join(str(c) for c in r) for r in rows)
                out.append(f"-- {dialect} {label} {what}\n{text}")
    return "\n".join(out)


def measure(url: str, incident_count: int, per: int, nodes: int, requests: int,
            show_plans: bool, tail: int) -> dict[str, list[float]]:
    """Milliseconds per request, per case."""
    with tempfile.TemporaryDirectory() as tmp:
        rt = open_runtime(replace(DataDir.from_env(Path(tmp) / "data"), database_url=url))
        try:
            began = time.perf_counter()
            fill(rt, incident_count, per, nodes, tail)
            print(f"{rt.db.dialect.name}: stored {incident_count:,} incidents, "
                  f"{incident_count * per:,} alerts in {time.perf_counter() - began:.0f} s",
                  file=sys.stderr, flush=True)
            client = create_app(runtime=rt).test_client()
            timings: dict[str, list[float]] = {}
            untouched = Case(f"q, one device, newest {tail:,} alerts not indexed",
                             f"q=dev-{nodes // 2:04d}")
            first = {untouched.label: run_case(client, untouched, requests)}
            began = time.perf_counter()
            index_tail(rt.db)  # what `aiops serve` does every few seconds
            print(f"  indexed the tail in {time.perf_counter() - began:.1f} s",
                  file=sys.stderr, flush=True)
            if show_plans:
                print(plans(rt, nodes, incident_count), file=sys.stderr, flush=True)
            for case in cases(incident_count, nodes):
                timings[case.label] = run_case(client, case, requests)
            return timings | first
        finally:
            rt.close()


def run_case(client: FlaskClient, case: Case, requests: int) -> list[float]:
    """Milliseconds of each of ``requests`` requests for ``case``, after one unmeasured."""
    answer = client.get(f"/api/v1/incidents?limit=100&{case.query}")
    assert answer.status_code == 200, answer.data
    values = []
    for _ in range(requests):
        began = time.perf_counter()
        client.get(f"/api/v1/incidents?limit=100&{case.query}")
        values.append((time.perf_counter() - began) * 1000)
    print(f"  {case.label}: {answer.get_json()['total']:,} match, median "
          f"{statistics.median(values):.1f} ms", file=sys.stderr, flush=True)
    return values


def report(results: dict[str, dict[str, list[float]]], args: argparse.Namespace,
           command: str, versions: dict[str, str]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    databases = list(results)
    lines = [
        f"Measured {when} on {cpu_model()}, {os.cpu_count()} CPUs (shared with other "
        f"jobs), Python {platform.python_version()}, "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + f"; 1-minute load average {load_average()} at the end.", "",
        f"Command: `{command}`", "",
        f"{args.incidents:,} incidents (every 20th open) of {args.alerts_per} alerts each "
        f"({args.incidents * args.alerts_per:,} alerts) on {args.nodes:,} devices; "
        f"`GET /api/v1/incidents?limit=100&...` through Flask's test client, "
        f"{args.requests} requests per filter: the page of 100 and the counts (all, and "
        "what matches). Median (slowest), milliseconds.", "",
        "| filter | " + " | ".join(databases) + " |",
        "|---|" + "---:|" * len(databases),
    ]
    for label in results[databases[0]]:
        cells = [f"{statistics.median(results[d][label]):.1f} ({max(results[d][label]):.1f})"
                 for d in databases]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--alerts-per", type=int, default=2)
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--tail", type=int, default=20_000,
                        help="newest alerts stored after SQLite's text index caught up")
    parser.add_argument("--postgres", action="store_true",
                        help="also on a throw-away PostgreSQL server (tests/pg_server.py)")
    parser.add_argument("--plans", action="store_true", help="print the query plans")
    parser.add_argument("--write-docs", action="store_true",
                        help="replace the generated block of docs/benchmarks.md's "
                             "incident filters section")
    args = parser.parse_args(argv)
    versions = {"SQLite": sqlite3.sqlite_version, "SQLAlchemy": sa.__version__}
    results = {"SQLite": measure("", args.incidents, args.alerts_per, args.nodes,
                                 args.requests, args.plans, args.tail)}
    if args.postgres:
        from tests.pg_server import create_database, postgres_server
        from tests.ports import free_port

        with postgres_server(free_port()) as server:
            url = create_database(server, "incident_filters")
            results["PostgreSQL"] = measure(url, args.incidents, args.alerts_per,
                                            args.nodes, args.requests, args.plans,
                                            args.tail)
            engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
            with engine.connect() as conn:
                versions["PostgreSQL"] = str(conn.execute(sa.text("SHOW server_version"))
                                             .scalar()).split()[0]
            engine.dispose()
    command = module_command("benchmarks.incident_filters", argv)
    section = report(results, args, command, versions)
    publish(section, args.write_docs, START, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
